#include "automation/template.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace warden::automation {
namespace {

namespace json = boost::json;

TEST(TemplateTest, FindsReferences) {
  auto refs = template_refs("agent {{ event.subject }} on {{target.labels.env}}");
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].scope, "event");
  EXPECT_EQ((*refs)[0].path, "subject");
  EXPECT_EQ((*refs)[1].scope, "target");
  EXPECT_EQ((*refs)[1].path, "labels.env");
  EXPECT_TRUE(template_refs("plain text")->empty());
  for (std::string_view bad :
       {"{{event.subject", "x}}", "{{}}", "{{event}}", "{{event.secret}}", "{{event.attributes.}}",
        "{{event.attributes.a..b}}", "{{request.amount}}", "}} {{event.id}}"}) {
    EXPECT_FALSE(template_refs(bad).ok()) << bad;
  }
}

TEST(TemplateTest, ExpandsWithTypesKept) {
  Event e;
  e.id = "e1";
  e.kind = "decision.denied";
  e.subject = "agent-7";
  e.attributes = parse_json(R"j({"amount": 1200, "nested": {"code": "X"}})j")->as_object();
  InventoryItem t{"agent-7", "Seven", "agent", {{"env", "prod"}}};
  const json::object params = parse_json(R"j({"agent_id": "{{event.subject}}",
      "amount": "{{event.attributes.amount}}", "note": "{{event.kind}}: {{event.attributes.amount}} by {{target.name}}",
      "list": ["{{event.attributes.nested.code}}", 3], "env": "{{target.labels.env}}", "n": 1})j")
                                  ->as_object();
  auto out = expand_templates(params, &e, &t);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(canonical_json(json::value(*out)),
            canonical_json(*parse_json(R"j({"agent_id": "agent-7", "amount": 1200,
      "note": "decision.denied: 1200 by Seven", "list": ["X", 3], "env": "prod", "n": 1})j")));
  // Something absent is an error naming it, not an empty string.
  auto missing = expand_templates(json::object{{"x", "{{event.attributes.nope}}"}}, &e, &t);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("event.attributes.nope"), std::string::npos);
  EXPECT_FALSE(expand_templates(json::object{{"x", "{{event.subject}}"}}, nullptr, &t).ok());
  EXPECT_FALSE(expand_templates(json::object{{"x", "{{target.id}}"}}, &e, nullptr).ok());
}

}  // namespace
}  // namespace warden::automation
