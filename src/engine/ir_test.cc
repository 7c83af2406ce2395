// Golden IR and content hash for every policy type: compilation must stay deterministic, and a
// change to either is a deliberate, reviewed edit of this file.
#include <gtest/gtest.h>

#include "core/json.h"
#include "engine/ir.h"
#include "policy/policy.h"

namespace warden::engine {
namespace {

struct Golden {
  const char* document;
  const char* hash;
  const char* ir;
};

const Golden kGoldens[] = {
    {R"J({"type":"SPENDING_LIMIT","rules":{"instant_max":"1000","notify_max":"5000","delay_max":"20000","windows":[{"duration":"24h","max":"50000"},{"duration":"month","max":"900000"}]}})J",
     "c9ef42ad7b2289e211f842c6e5250d979493232532abbd4dfe1674146cc46074",
     R"J({"policy_id":"p","priority":0,"steps":[{"approval_timeout_seconds":3600,"asset":"native","delay_max":"20000","delay_seconds":300,"instant_max":"1000","kind":"tiers","notify_max":"5000","step":"limit"},{"asset":"native","calendar":false,"code":"LIMIT_WINDOW_EXCEEDED","kind":"window","max":"50000","meter":"p/native/1d","step":"limit","unit":"amount","window":"1d"},{"asset":"native","calendar":true,"code":"LIMIT_WINDOW_EXCEEDED","kind":"window","max":"900000","meter":"p/native/month","step":"limit","unit":"amount","window":"month"}],"type":"SPENDING_LIMIT"})J"},
    {R"J({"type":"WHITELIST","rules":{"allowed_addresses":["0xABCDEFabcdefabcdefabcdefabcdefabcdefABCD","7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"]}})J",
     "536c3910119f7827b8ff5ade113065c18c978e4cfa7790fe4440bf0ecf96ae57",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":["TRANSFER","TOKEN_TRANSFER"],"allowed":["0xabcdefabcdefabcdefabcdefabcdefabcdefabcd","7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"],"attribute":"to","code":"ADDRESS_NOT_WHITELISTED","kind":"set","prefix_globs":false,"required":true,"step":"match"}],"type":"WHITELIST"})J"},
    {R"J({"type":"ALLOWED_TOKENS","rules":{"tokens":["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"]}})J",
     "71a7ac46f2745812a0db8ae8a1afb2a3c6ee951d054bcb2ca0ebd00fed73f6b8",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":["TOKEN_TRANSFER","APPROVE"],"allowed":["EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"],"attribute":"token","code":"TOKEN_NOT_ALLOWED","kind":"set","prefix_globs":false,"required":true,"step":"match"}],"type":"ALLOWED_TOKENS"})J"},
    {R"J({"type":"CONTRACT_WHITELIST","rules":{"contracts":["0x1111111111111111111111111111111111111111"]}})J",
     "9d7345be29e7d6a9697b4d296b3814972d05e43d75997398c58b9e1d328d3289",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":["CONTRACT_CALL"],"allowed":["0x1111111111111111111111111111111111111111"],"attribute":"contract","code":"CONTRACT_NOT_WHITELISTED","kind":"set","prefix_globs":false,"required":true,"step":"match"}],"type":"CONTRACT_WHITELIST"})J"},
    {R"J({"type":"METHOD_WHITELIST","rules":{"methods":[{"contract":"0x1111111111111111111111111111111111111111","selectors":["0xA9059CBB"]}]}})J",
     "190de55b34ff8a737f8561ccedf7c89051e2c97b4f557839bbb13ff404a35018",
     R"J({"policy_id":"p","priority":0,"steps":[{"allowed":["0x1111111111111111111111111111111111111111:0xa9059cbb"],"code":"METHOD_NOT_WHITELISTED","kind":"method","step":"match"}],"type":"METHOD_WHITELIST"})J"},
    {R"J({"type":"APPROVED_SPENDERS","rules":{"spenders":["0x2222222222222222222222222222222222222222"]}})J",
     "0bb140891f4128b98b0ca420b7ea4320950cfe37df43084b7062e10421e83dc9",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":["APPROVE"],"allowed":["0x2222222222222222222222222222222222222222"],"attribute":"spender","code":"SPENDER_NOT_APPROVED","kind":"set","prefix_globs":false,"required":true,"step":"match"}],"type":"APPROVED_SPENDERS"})J"},
    {R"J({"type":"APPROVE_AMOUNT_LIMIT","rules":{"max_amount":"1000000","block_unlimited":true}})J",
     "1d53489de1d86affe69604801ffa8b1ecad276832228289e471a779ea72de0df",
     R"J({"policy_id":"p","priority":0,"steps":[{"block_unlimited":true,"kind":"approve_amount","max_amount":"1000000","step":"match"}],"type":"APPROVE_AMOUNT_LIMIT"})J"},
    {R"J({"type":"ALLOWED_NETWORKS","rules":{"networks":["mainnet","devnet"]}})J",
     "fda41e4585f45af9c4651238c46dee57f9bb8934917be7b91c05395fd70f85ae",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":[],"allowed":["devnet","mainnet"],"attribute":"network","code":"NETWORK_NOT_ALLOWED","kind":"set","prefix_globs":false,"required":true,"step":"match"}],"type":"ALLOWED_NETWORKS"})J"},
    {R"J({"type":"TIME_RESTRICTION","rules":{"time_zone":"Asia/Seoul","allowed":[{"days":["mon","tue","wed","thu","fri"],"start_hour":9,"end_hour":18}]}})J",
     "c827a16cea2dfb33b2a5930113e0053b6a398f3babd45e456a26380eb15009c0",
     R"J({"policy_id":"p","priority":0,"steps":[{"allowed_hours_by_weekday":[0,261632,261632,261632,261632,261632,0],"kind":"time","outside":"DENY","step":"match","time_zone":"Asia/Seoul"}],"type":"TIME_RESTRICTION"})J"},
    {R"J({"type":"RATE_LIMIT","rules":{"max_requests":60,"window":"1m"}})J",
     "e20bd340b37812551da679fd90c0a40b6a4ac180dd167adb57e0aa43dfd0438f",
     R"J({"policy_id":"p","priority":0,"steps":[{"calendar":false,"code":"RATE_LIMIT_EXCEEDED","kind":"window","max":"60","meter":"p/requests/1m","step":"limit","unit":"requests","window":"1m"}],"type":"RATE_LIMIT"})J"},
    {R"J({"type":"CUSTOM","rules":{"pre":"amount > 1000","effect":"APPROVAL","message":"big"}})J",
     "b8bcecf510b2376fd0e75c453a463142908dcf555d82984cfce0c4296a2cfdb9",
     R"J({"policy_id":"p","priority":0,"steps":[{"effect":"APPROVAL","expression":"amount > 1000","kind":"cel","message":"big","step":"match"}],"type":"CUSTOM"})J"},
    {R"J({"type":"MODEL_ALLOWLIST","rules":{"models":["gpt-4o*","claude-3-5-sonnet"]}})J",
     "41a44ee47e7b947584eb6bcf8a7d9daae48d704f79f95d49ff09eb8544061bfa",
     R"J({"policy_id":"p","priority":0,"steps":[{"actions":[],"allowed":["claude-3-5-sonnet","gpt-4o*"],"attribute":"model","code":"MODEL_NOT_ALLOWED","kind":"set","prefix_globs":true,"required":false,"step":"match"}],"type":"MODEL_ALLOWLIST"})J"},
    {R"J({"type":"TOKEN_LIMIT","rules":{"max_tokens":50000,"window":"day","scope":"model"}})J",
     "1078bca1db615e0f12797c4ea5b2869b6019208de21b3dc98c3648ac97be8673",
     R"J({"policy_id":"p","priority":0,"steps":[{"asset":"llm_tokens","calendar":true,"code":"TOKEN_LIMIT_EXCEEDED","kind":"window","max":"50000","meter":"p/llm_tokens/day","per":"model","step":"limit","unit":"amount","window":"day"}],"type":"TOKEN_LIMIT"})J"},
};

class IrGolden : public ::testing::TestWithParam<Golden> {};

TEST_P(IrGolden, CompilesToTheRecordedIrAndHash) {
  const Golden& g = GetParam();
  auto doc = parse_json(g.document);
  ASSERT_TRUE(doc.ok());
  auto spec = policy::parse_spec(*doc);
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  const policy::Validation v = policy::validate(*spec, custom_validate_options());
  ASSERT_FALSE(v.has_blocker());
  EXPECT_EQ(v.hash, g.hash);
  auto compiled = compile({"p", spec->agent_id, spec->type, v.normalized_rules, spec->priority, true});
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string();
  EXPECT_EQ(canonical_json(ir_to_json(*compiled)), g.ir);
  // Twice gives the same bytes: no dependence on hash-set iteration order.
  auto again = compile({"p", spec->agent_id, spec->type, v.normalized_rules, spec->priority, true});
  EXPECT_EQ(canonical_json(ir_to_json(*again)), g.ir);
}

std::string type_name(const ::testing::TestParamInfo<Golden>& info) {
  auto doc = parse_json(info.param.document);
  return std::string(doc->as_object().at("type").as_string());
}

INSTANTIATE_TEST_SUITE_P(EveryType, IrGolden, ::testing::ValuesIn(kGoldens), type_name);

}  // namespace
}  // namespace warden::engine
