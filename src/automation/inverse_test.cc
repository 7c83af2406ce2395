#include "automation/inverse.h"

#include <gtest/gtest.h>

#include "automation/spec.h"
#include "core/json.h"

namespace warden::automation {
namespace {

namespace json = boost::json;

VerbInfo verb(std::string capability, std::string name, std::string_view schema,
              std::string inverse = {}) {
  VerbInfo v;
  v.capability = std::move(capability);
  v.verb = std::move(name);
  v.params_schema = parse_json(schema)->as_object();
  v.invertible = !inverse.empty();
  v.inverse_verb = std::move(inverse);
  return v;
}

std::vector<HostInfo> hosts() {
  HostInfo files;
  files.id = "files";
  files.verbs.push_back(verb("file", "create",
                             R"({"type": "object", "required": ["path", "content"],
      "properties": {"path": {"type": "string"}, "content": {"type": "string"}}})",
                             "delete"));
  files.verbs.push_back(verb("file", "delete",
                             R"({"type": "object", "required": ["path", "backup/dir"],
      "properties": {"path": {"type": "string"}, "backup/dir": {"type": "string"}}})",
                             "create"));
  files.verbs.push_back(verb("file", "shred", R"({"type": "object"})"));
  HostInfo warden;
  warden.id = "warden";
  warden.verbs.push_back(verb("agent", "suspend",
                              R"({"type": "object", "required": ["agent_id"],
      "properties": {"agent_id": {"type": "string"}, "reason": {"type": "string"}}})",
                              "resume"));
  warden.verbs.push_back(verb("agent", "resume",
                              R"({"type": "object", "required": ["agent_id"],
      "properties": {"agent_id": {"type": "string"}}})",
                              "suspend"));
  return {files, warden};
}

json::object normalized(std::string_view actions) {
  const std::string doc = R"({"name": "tidy", "enabled": true,
      "trigger_group": {"triggers": [{"kind": "event", "event": "x.y"}]},
      "targets": [{"host": "files", "selector": "a,b"}, {"host": "warden", "selector": "{{event.subject}}"}],
      "actions": )" + std::string(actions) +
                          "}";
  const SpecCheck c = validate_spec(*parse_json(doc), nullptr);
  EXPECT_FALSE(c.has_blocker());
  return c.normalized;
}

TEST(InverseTest, InvertsEachActionInReverseOrder) {
  const json::object spec = normalized(R"([
      {"host": "warden", "capability": "agent", "verb": "suspend",
       "params": {"agent_id": "{{event.subject}}", "reason": "spike"}},
      {"host": "files", "capability": "file", "verb": "create",
       "params": {"path": "/tmp/x", "content": "hello"}}])");
  auto inv = make_inverse(spec, hosts());
  ASSERT_TRUE(inv.ok()) << inv.status().message();
  EXPECT_EQ(inv->spec.at("enabled"), false);
  EXPECT_EQ(inv->spec.at("name"), "tidy (inverse)");
  EXPECT_EQ(inv->spec.at("targets"), spec.at("targets"));
  EXPECT_EQ(canonical_json(inv->spec.at("actions")), canonical_json(*parse_json(R"([
      {"host": "files", "capability": "file", "verb": "delete", "params": {"path": "/tmp/x"}},
      {"host": "warden", "capability": "agent", "verb": "resume",
       "params": {"agent_id": "{{event.subject}}"}}])")));
  EXPECT_EQ(inv->needs_input, std::vector<std::string>{"/actions/0/params/backup~1dir"});
  // The inverse is itself a valid spec.
  const SpecCheck check = validate_spec(json::value(inv->spec), nullptr);
  EXPECT_FALSE(check.has_blocker());
}

TEST(InverseTest, AVerbWithoutInverseIsAClearError) {
  const json::object spec = normalized(R"([
      {"host": "files", "capability": "file", "verb": "create", "params": {"path": "p", "content": "c"}},
      {"host": "files", "capability": "file", "verb": "shred"}])");
  auto inv = make_inverse(spec, hosts());
  ASSERT_FALSE(inv.ok());
  EXPECT_EQ(inv.status().code(), ErrorCode::AUTOMATION_NO_INVERSE);
  EXPECT_EQ(inv.status().details().at("pointer"), "/actions/1");
  EXPECT_NE(inv.status().message().find("file.shred"), std::string::npos);
  const json::object unknown = normalized(R"([{"host": "gone", "capability": "a", "verb": "b"}])");
  auto missing = make_inverse(unknown, hosts());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::AUTOMATION_HOST_NOT_FOUND);
}

TEST(InverseTest, LongNamesStayWithinTheLimit) {
  json::object spec = normalized(R"([{"host": "warden", "capability": "agent", "verb": "resume",
      "params": {"agent_id": "a"}}])");
  // A two-byte character across the cut at 190 bytes: the cut must not split it.
  spec["name"] = std::string(189, 'n') + "\xc3\xa9" + std::string(9, 'x');
  auto inv = make_inverse(spec, hosts());
  ASSERT_TRUE(inv.ok());
  const std::string name(inv->spec.at("name").as_string());
  EXPECT_LE(name.size(), kSpecNameBytesMax);
  EXPECT_EQ(name, std::string(189, 'n') + " (inverse)");
  EXPECT_FALSE(validate_spec(json::value(inv->spec), nullptr).has_blocker());
  EXPECT_TRUE(inv->needs_input.empty());
}

}  // namespace
}  // namespace warden::automation
