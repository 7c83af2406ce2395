// Event validation: every field of a posted event, its defaults, its bounds, and the field each
// refusal names.
#include "automation/events.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "core/json.h"

namespace warden::automation {
namespace {

class EventParseTest : public ::testing::Test {
 protected:
  Result<Event> parse(std::string_view text, EventDefaults defaults = {}) {
    return parse_event_text(text, defaults, clock_, ids_);
  }
  // The field a refusal names.
  std::string refused_field(std::string_view text) {
    Result<Event> e = parse(text);
    EXPECT_FALSE(e.ok()) << text;
    if (e.ok()) return "";
    EXPECT_EQ(e.status().code(), ErrorCode::EVENT_INVALID) << text;
    const auto* f = e.status().details().if_contains("field");
    return f != nullptr && f->is_string() ? std::string(f->get_string()) : "<none>";
  }

  FakeClock clock_{1'767'225'600'000};
  IdGenerator ids_{clock_};
};

TEST_F(EventParseTest, EveryFieldIsRead) {
  Result<Event> e = parse(R"({"id":"0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d","kind":"spend.spike",
    "source":"billing","subject":"agent-7","occurred_at":"2026-03-29T01:30:00.250+02:00",
    "attributes":{"amount":42,"tags":["a"]}})");
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->id, "0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d");
  EXPECT_EQ(e->kind, "spend.spike");
  EXPECT_EQ(e->source, "billing");
  EXPECT_EQ(e->subject, "agent-7");
  // 2026-03-28T23:30:00.250Z
  EXPECT_EQ(e->occurred_at_ms, 1'774'740'600'250);
  EXPECT_EQ(e->attributes.at("amount").as_int64(), 42);
  EXPECT_EQ(e->attributes.at("tags").as_array().size(), 1u);
}

TEST_F(EventParseTest, DefaultsFillWhatIsLeftOut) {
  Result<Event> e = parse(R"({"kind":"deploy.finished"})",
                          EventDefaults{.source = "agent", .subject = "agent-1"});
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->source, "agent");
  EXPECT_EQ(e->subject, "agent-1");
  EXPECT_EQ(e->occurred_at_ms, 1'767'225'600'000);
  EXPECT_TRUE(e->attributes.empty());
  EXPECT_TRUE(is_uuid(e->id));
  EXPECT_EQ(uuid_v7_ms(e->id), 1'767'225'600'000);
}

TEST_F(EventParseTest, MillisecondTimesAreTakenAsTheyAre) {
  Result<Event> e = parse(R"({"kind":"a","occurred_at":1767225600123})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->occurred_at_ms, 1'767'225'600'123);
}

TEST_F(EventParseTest, EachRefusalNamesItsField) {
  EXPECT_EQ(refused_field(R"({"kind":"a","extra":1})"), "extra");
  EXPECT_EQ(refused_field(R"({"source":"x"})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":"Decision.Denied"})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":"decision..denied"})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":"decision."})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":"9lives"})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":")" + std::string(65, 'a') + R"("})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":7})"), "kind");
  EXPECT_EQ(refused_field(R"({"kind":"a","source":""})"), "source");
  EXPECT_EQ(refused_field(R"({"kind":"a","source":")" + std::string(129, 's') + R"("})"), "source");
  EXPECT_EQ(refused_field(R"({"kind":"a","subject":")" + std::string(257, 's') + R"("})"),
            "subject");
  EXPECT_EQ(refused_field(R"({"kind":"a","subject":"line\nbreak"})"), "subject");
  EXPECT_EQ(refused_field(R"({"kind":"a","occurred_at":"yesterday"})"), "occurred_at");
  EXPECT_EQ(refused_field(R"({"kind":"a","occurred_at":"2026-02-29T00:00:00Z"})"), "occurred_at");
  EXPECT_EQ(refused_field(R"({"kind":"a","occurred_at":"2026-01-01T00:00:00"})"), "occurred_at");
  EXPECT_EQ(refused_field(R"({"kind":"a","occurred_at":-5})"), "occurred_at");
  EXPECT_EQ(refused_field(R"({"kind":"a","attributes":[1]})"), "attributes");
  EXPECT_EQ(refused_field(R"({"kind":"a","id":"not-a-uuid"})"), "id");
  EXPECT_EQ(refused_field(R"([1,2])"), "body");
  EXPECT_EQ(refused_field(R"({"kind":"a",)"), "body");
}

TEST_F(EventParseTest, SizesAreBounded) {
  std::string many = R"({"kind":"a","attributes":{)";
  for (int i = 0; i <= static_cast<int>(kEventAttributesMax); ++i) {
    many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
  }
  many += "}}";
  EXPECT_EQ(refused_field(many), "attributes");

  auto nested = [](std::size_t depth) {
    std::string s = R"({"kind":"a","attributes":)";
    for (std::size_t i = 0; i < depth; ++i) s += R"({"x":)";
    s += "1";
    for (std::size_t i = 0; i < depth; ++i) s += "}";
    return s + "}";
  };
  EXPECT_TRUE(parse(nested(kEventAttributeDepthMax)).ok());
  EXPECT_EQ(refused_field(nested(kEventAttributeDepthMax + 1)), "attributes");

  const std::string big =
      R"({"kind":"a","attributes":{"blob":")" + std::string(kEventBytesMax, 'x') + R"("}})";
  EXPECT_EQ(refused_field(big), "body");
}

TEST(Rfc3339Test, ParsesOffsetsFractionsAndRefusesNonsense) {
  EXPECT_EQ(*parse_rfc3339_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_rfc3339_ms("2026-01-01T00:00:00Z"), 1'767'225'600'000);
  EXPECT_EQ(*parse_rfc3339_ms("2026-01-01T01:00:00+01:00"), 1'767'225'600'000);
  EXPECT_EQ(*parse_rfc3339_ms("2025-12-31T19:00:00.5-05:00"), 1'767'225'600'500);
  EXPECT_EQ(*parse_rfc3339_ms("2024-02-29T00:00:00Z"), 1'709'164'800'000);
  EXPECT_FALSE(parse_rfc3339_ms("2026-13-01T00:00:00Z").ok());
  EXPECT_FALSE(parse_rfc3339_ms("2026-01-01T24:00:00Z").ok());
  EXPECT_FALSE(parse_rfc3339_ms("2026-01-01T00:00:00Zjunk").ok());
  EXPECT_FALSE(parse_rfc3339_ms("2026-01-01T00:00:00.Z").ok());
}

TEST(WardenEventTest, OwnEventsAreStampedAndValid) {
  FakeClock clock(1'767'225'600'000);
  IdGenerator ids(clock);
  const Event e = make_warden_event(event_kind::kDecisionDenied, "agent-1",
                                    boost::json::object{{"reason", "RATE_LIMIT"}}, clock, ids);
  EXPECT_EQ(e.source, "warden");
  EXPECT_EQ(e.kind, "decision.denied");
  EXPECT_EQ(e.subject, "agent-1");
  EXPECT_EQ(e.occurred_at_ms, 1'767'225'600'000);
  EXPECT_TRUE(validate_event(e).ok());
}

}  // namespace
}  // namespace warden::automation
