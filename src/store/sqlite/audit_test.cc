// The audit chain's hash input (the behaviour of the log itself is in store/suite/audit_test.cc,
// run on every backend).
#include <gtest/gtest.h>

#include <boost/json/object.hpp>

#include "core/json.h"
#include "store/suite/helpers.h"

namespace warden::store {
namespace {

using testing::sample_event;

// The chain's hash input is written field by field for speed; it must stay byte-identical to
// the canonical JSON of the row as an object, or chains written earlier stop verifying.
TEST(AuditHashInput, EqualsCanonicalJsonOfTheRowObject) {
  auto opt = [](const std::optional<std::string>& v) {
    return v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  const std::vector<std::string> texts = {"",
                                          "plain",
                                          "quote\" back\\slash",
                                          "ctl\x01\x1f\n\t",
                                          "utf8 \xED\x95\x9C\xEA\xB8\x80 ok",
                                          R"({"effect":"ALLOW","reasons":[]})"};
  int n = 0;
  for (const auto& text : texts) {
    for (bool present : {true, false}) {
      AuditEvent e =
          sample_event("TX_DECIDED", present ? std::optional<std::string>(text) : std::nullopt);
      e.actor = text;
      e.details = text;
      e.session_id = e.tx_id = e.ip_address = e.correlation_id = e.agent_id;
      e.timestamp = present ? -5 : 1'790'000'000 + n;
      const std::int64_t id = ++n * 1'000'003;
      const std::string prev(64, present ? 'a' : '0');
      boost::json::object o{{"id", id},
                            {"timestamp", e.timestamp},
                            {"event_type", e.event_type},
                            {"actor", e.actor},
                            {"agent_id", opt(e.agent_id)},
                            {"session_id", opt(e.session_id)},
                            {"tx_id", opt(e.tx_id)},
                            {"details", e.details},
                            {"severity", e.severity},
                            {"ip_address", opt(e.ip_address)},
                            {"correlation_id", opt(e.correlation_id)},
                            {"prev_hash", prev}};
      EXPECT_EQ(audit_hash_input(id, e, prev), canonical_json(o)) << text;
    }
  }
}

}  // namespace
}  // namespace warden::store
