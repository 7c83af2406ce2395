// The one mapping of request bodies: canonical names, required fields per wallet type, BATCH
// children, and the generic shape that cannot re-spell an asset or a wallet action.
#include "engine/request_mapping.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "core/json.h"

namespace warden::engine {
namespace {

namespace json = boost::json;

const AgentContext kAgent{"ethereum", "testnet"};
const std::string kTo = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01";
const std::string kToCanonical = "0xabcdef0123456789abcdef0123456789abcdef01";
const std::string kUsdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
const std::string kUsdcCanonical = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";

json::object body(std::string_view text) {
  auto v = parse_json(text);
  EXPECT_TRUE(v.ok() && v->is_object()) << text;
  return v.ok() && v->is_object() ? v->as_object() : json::object();
}

Result<MappedRequest> wallet(std::string_view text) {
  return map_wallet_request(body(text), kAgent);
}
Result<MappedRequest> generic(std::string_view text) {
  return map_generic_request(body(text), kAgent);
}

// "CODE field" of a refused mapping, "ok" otherwise.
std::string refusal(const Result<MappedRequest>& r) {
  if (r.ok()) return "ok";
  const json::value* f = r.status().details().if_contains("field");
  return std::string(error_code_name(r.status().code())) + " " +
         (f && f->is_string() ? std::string(f->as_string()) : "-");
}

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

std::string amounts_of(const Request& r) {
  std::string out;
  for (const auto& [asset, amount] : r.amounts) out += asset + "=" + amount.to_string() + " ";
  return out;
}

TEST(WalletMapping, TransferIsCanonicalAndUsesTheAgent) {
  auto m = wallet(R"({"type":"TRANSFER","to":")" + kTo + R"(","amount":"0250"})");
  EXPECT_EQ(refusal(m), "VALIDATION_INVALID_AMOUNT amount");
  m = wallet(R"({"type":"TRANSFER","to":")" + kTo + R"(","amount":"250"})");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->type, "TRANSFER");
  EXPECT_EQ(m->request.action, "TRANSFER");
  EXPECT_EQ(str(m->request.attributes.at("to")), kToCanonical);
  EXPECT_EQ(str(m->request.attributes.at("network")), "testnet");
  EXPECT_EQ(str(m->request.attributes.at("chain")), "ethereum");
  EXPECT_EQ(amounts_of(m->request), "native=250 ");
  EXPECT_EQ(m->to, kToCanonical);
  EXPECT_EQ(m->chain, "ethereum");
  EXPECT_EQ(m->amount, "250");
  EXPECT_EQ(m->reserved_amount, "250");
  EXPECT_EQ(m->approved_amount, std::nullopt);
  EXPECT_EQ(json::serialize(m->metadata), R"({"network":"testnet"})");
  m = wallet(R"({"type":"TRANSFER","to":")" + kTo + R"(","amount":"1","network":"mainnet"})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(str(m->request.attributes.at("network")), "mainnet");
}

TEST(WalletMapping, EachTypeHasItsFields) {
  const std::string to = R"("to":")" + kTo + R"(")";
  const std::string c = R"("contract":")" + kTo + R"(")";
  const std::string sp = R"("spender":")" + kTo + R"(")";
  const std::string tok = R"("token":")" + kUsdc + R"(")";
  struct Case {
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {R"({"type":"TRANSFER",)" + to + "}", "VALIDATION_MISSING_FIELD amount"},
      {R"({"type":"TRANSFER","amount":"1"})", "VALIDATION_MISSING_FIELD to"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":"1",)" + tok + "}",
       "VALIDATION_UNKNOWN_FIELD token"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","chain":"solana"})",
       "VALIDATION_UNKNOWN_FIELD chain"},
      {R"({"type":"TRANSFER","to":"bob","amount":"1"})", "VALIDATION_INVALID_VALUE to"},
      {R"({"type":"TRANSFER","to":"0xabc","amount":"1"})", "VALIDATION_INVALID_VALUE to"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":1})", "VALIDATION_WRONG_TYPE amount"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","network":"moon"})",
       "VALIDATION_INVALID_VALUE network"},
      {R"({"type":"transfer",)" + to + R"(,"amount":"1"})", "VALIDATION_INVALID_VALUE type"},
      {R"({"type":"DECISION",)" + to + R"(,"amount":"1"})", "VALIDATION_INVALID_VALUE type"},
      {R"({)" + to + R"(,"amount":"1"})", "VALIDATION_MISSING_FIELD type"},
      {R"({"type":"TOKEN_TRANSFER",)" + to + R"(,"amount":"1"})", "VALIDATION_MISSING_FIELD token"},
      {R"({"type":"TOKEN_TRANSFER",)" + to + R"(,"amount":"1","token":"native"})",
       "VALIDATION_INVALID_ASSET token"},
      {R"({"type":"TOKEN_TRANSFER",)" + to + R"(,"amount":"1","token":"USDC"})",
       "VALIDATION_INVALID_ASSET token"},
      // A contract call's value is an amount like any other: "0" when it sends none.
      {R"({"type":"CONTRACT_CALL",)" + c + "}", "VALIDATION_MISSING_FIELD amount"},
      {R"({"type":"CONTRACT_CALL","amount":"0"})", "VALIDATION_MISSING_FIELD contract"},
      {R"({"type":"APPROVE",)" + sp + "}", "VALIDATION_MISSING_FIELD amount"},
      {R"({"type":"APPROVE",)" + sp + R"(,"amount":"lots"})", "VALIDATION_INVALID_AMOUNT amount"},
      {R"({"type":"APPROVE",)" + sp + R"(,"amount":""})", "VALIDATION_INVALID_AMOUNT amount"},
      {R"({"type":"APPROVE","amount":"1"})", "VALIDATION_MISSING_FIELD spender"},
      {R"({"type":"APPROVE",)" + sp + R"(,"amount":"1",)" + to + "}",
       "VALIDATION_UNKNOWN_FIELD to"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","children":[]})",
       "VALIDATION_UNKNOWN_FIELD children"},
      {R"({"type":"TRANSFER",)" + to + R"(,"amount":"1","idempotency_key":""})",
       "VALIDATION_INVALID_VALUE idempotency_key"},
      {R"({"type":"TRANSFER","to":")" + std::string(300, 'a') + R"(","amount":"1"})",
       "VALIDATION_INVALID_VALUE to"},
  };
  for (const Case& c : cases) EXPECT_EQ(refusal(wallet(c.body)), c.want) << c.body;

  auto call = wallet(R"({"type":"CONTRACT_CALL",)" + c + R"(,"method":"0x38ed1739","amount":"0"})");
  ASSERT_TRUE(call.ok()) << call.status().to_string();
  EXPECT_EQ(amounts_of(call->request), "native=0 ");
  EXPECT_EQ(call->reserved_amount, "0");
  auto token = wallet(R"({"type":"TOKEN_TRANSFER",)" + to + R"(,)" + tok + R"(,"amount":"7"})");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(amounts_of(token->request), kUsdcCanonical + "=7 ");
  EXPECT_EQ(token->token, kUsdcCanonical);
  auto approve = wallet(R"({"type":"APPROVE",)" + sp + R"(,)" + tok + R"(,"amount":"1000"})");
  ASSERT_TRUE(approve.ok());
  EXPECT_TRUE(approve->request.amounts.empty());  // an allowance is not a spend
  EXPECT_EQ(str(approve->request.attributes.at("amount")), "1000");
  EXPECT_EQ(approve->approved_amount, "1000");
  EXPECT_EQ(approve->reserved_amount, std::nullopt);
}

TEST(WalletMapping, BatchCarriesItsChildrenAndTheirSum) {
  auto m = wallet(R"({"type":"BATCH","network":"mainnet","children":[
      {"type":"TRANSFER","to":")" +
                  kTo + R"(","amount":"400"},
      {"type":"CONTRACT_CALL","contract":")" +
                  kTo + R"(","amount":"100"},
      {"type":"TOKEN_TRANSFER","to":")" +
                  kTo + R"(","token":")" + kUsdc + R"(","amount":"9"},
      {"type":"APPROVE","spender":")" +
                  kTo + R"(","amount":"5000"}]})");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->type, "BATCH");
  EXPECT_EQ(m->request.action, "BATCH");
  EXPECT_EQ(amounts_of(m->request), kUsdcCanonical + "=9 native=500 ");
  ASSERT_EQ(m->request.children.size(), 4u);
  EXPECT_EQ(str(m->request.children[0].attributes.at("to")), kToCanonical);
  EXPECT_EQ(str(m->request.children[0].attributes.at("network")), "mainnet");
  EXPECT_EQ(amounts_of(m->request.children[2]), kUsdcCanonical + "=9 ");
  EXPECT_EQ(str(m->request.children[3].attributes.at("amount")), "5000");
  EXPECT_EQ(m->amount, std::nullopt);  // two assets: no single amount
  EXPECT_EQ(m->metadata.at("children").as_array().size(), 4u);
  EXPECT_EQ(
      m->metadata.at("children").as_array()[0],
      json::value(json::object{{"type", "TRANSFER"}, {"to", kToCanonical}, {"amount", "400"}}));

  auto one_asset =
      wallet(R"({"type":"BATCH","children":[{"type":"TRANSFER","to":")" + kTo +
             R"(","amount":"1"},{"type":"TRANSFER","to":")" + kTo + R"(","amount":"2"}]})");
  ASSERT_TRUE(one_asset.ok());
  EXPECT_EQ(one_asset->amount, "3");
  EXPECT_EQ(one_asset->reserved_amount, "3");
  EXPECT_EQ(str(one_asset->request.attributes.at("network")), "testnet");

  const std::string child = R"({"type":"TRANSFER","to":")" + kTo + R"(","amount":"1"})";
  std::string many = R"({"type":"BATCH","children":[)" + child;
  for (std::size_t i = 1; i <= kBatchChildrenMax; ++i) many += "," + child;
  many += "]}";
  const std::string max =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  struct Case {
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {R"({"type":"BATCH"})", "VALIDATION_MISSING_FIELD children"},
      {R"({"type":"BATCH","children":[]})", "VALIDATION_INVALID_VALUE children"},
      {many, "VALIDATION_INVALID_VALUE children"},
      {R"({"type":"BATCH","children":{}})", "VALIDATION_WRONG_TYPE children"},
      {R"({"type":"BATCH","children":[1]})", "VALIDATION_WRONG_TYPE children[0]"},
      {R"({"type":"BATCH","to":")" + kTo + R"(","children":[)" + child + "]}",
       "VALIDATION_UNKNOWN_FIELD to"},
      {R"({"type":"BATCH","amount":"5","children":[)" + child + "]}",
       "VALIDATION_UNKNOWN_FIELD amount"},
      {R"({"type":"BATCH","children":[{"type":"BATCH","children":[]}]})",
       "VALIDATION_INVALID_VALUE children[0].type"},
      {R"({"type":"BATCH","children":[)" + child + R"(,{"type":"TRANSFER","amount":"1"}]})",
       "VALIDATION_MISSING_FIELD children[1].to"},
      {R"({"type":"BATCH","children":[{"type":"TRANSFER","to":")" + kTo +
           R"(","amount":"1","network":"mainnet"}]})",
       "VALIDATION_UNKNOWN_FIELD children[0].network"},
      {R"({"type":"BATCH","children":[{"type":"APPROVE","spender":")" + kTo + R"("}]})",
       "VALIDATION_MISSING_FIELD children[0].amount"},
      {R"({"type":"BATCH","children":[{"type":"TRANSFER","to":")" + kTo + R"(","amount":")" + max +
           R"("},)" + child + "]}",
       "VALIDATION_INVALID_AMOUNT children"},
  };
  for (const Case& c : cases) EXPECT_EQ(refusal(wallet(c.body)), c.want) << c.body;
}

// Each spelling once named an asset of its own and skipped the window on "native".
TEST(GenericMapping, AssetsAreCanonicalOrRefused) {
  auto upper = generic(
      R"({"action":"pay","amounts":{"0xDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF":"5000"}})");
  ASSERT_TRUE(upper.ok()) << upper.status().to_string();
  EXPECT_EQ(amounts_of(upper->request), "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef=5000 ");
  EXPECT_EQ(upper->reserved_amount, "5000");
  EXPECT_EQ(json::serialize(upper->metadata.at("amounts")),
            R"({"0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef":"5000"})");
  for (const char* key :
       {"NATIVE", " native", "native\\u0000", "nat\\u0131ve", "Native", "usd", "0xdeadbeef", ""}) {
    const std::string text = std::string(R"({"action":"pay","amounts":{")") + key + R"(":"5000"}})";
    auto m = generic(text);
    EXPECT_EQ(m.ok() ? "ok" : std::string(error_code_name(m.status().code())),
              "VALIDATION_INVALID_ASSET")
        << text;
  }
  EXPECT_EQ(refusal(generic(R"({"action":"pay","amounts":{"NATIVE":"1"}})")),
            "VALIDATION_INVALID_ASSET amounts.NATIVE");
  EXPECT_EQ(refusal(generic(
                R"({"action":"pay","amounts":{"0xDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF":"1",
                                 "0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef":"2"}})")),
            "VALIDATION_DUPLICATE_KEY amounts.0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","amounts":{"native":5}})")),
            "VALIDATION_WRONG_TYPE amounts.native");
}

TEST(GenericMapping, ActionsAreUpperCaseAndStrict) {
  auto m =
      generic(R"({"action":"llm.call","attributes":{"model":"gpt-4o","to":")" + kTo + R"("}})");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(m->type, "DECISION");
  EXPECT_EQ(m->request.action, "LLM.CALL");
  EXPECT_EQ(str(m->metadata.at("action")), "LLM.CALL");
  EXPECT_EQ(str(m->request.attributes.at("to")), kToCanonical);
  EXPECT_EQ(str(m->request.attributes.at("network")), "testnet");
  EXPECT_EQ(str(m->request.attributes.at("chain")), "ethereum");
  for (const char* bad : {R"("")", R"("trans fer")", R"("pay/out")", R"("ｐay")", R"(5)"}) {
    const std::string text = std::string(R"({"action":)") + bad + "}";
    const std::string got = refusal(generic(text));
    EXPECT_TRUE(got == "VALIDATION_INVALID_VALUE action" || got == "VALIDATION_WRONG_TYPE action")
        << text << " -> " << got;
  }
  EXPECT_EQ(refusal(generic(R"({"action":")" + std::string(65, 'a') + R"("})")),
            "VALIDATION_INVALID_VALUE action");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","attributes":{"chain":"solana"}})")),
            "VALIDATION_INVALID_VALUE attributes.chain");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","attributes":{"network":"moon"}})")),
            "VALIDATION_INVALID_VALUE attributes.network");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","attributes":{"model":7}})")),
            "VALIDATION_WRONG_TYPE attributes.model");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","attributes":{"token":"NATIVE"}})")),
            "VALIDATION_INVALID_ASSET attributes.token");
  EXPECT_EQ(refusal(generic(R"({"action":"pay","attributes":[]})")),
            "VALIDATION_WRONG_TYPE attributes");
}

// A wallet action on the generic route, in any case, is the wallet action: same engine request.
TEST(GenericMapping, WalletActionsMeanWhatTheWalletShapeMeans) {
  auto w = wallet(R"({"type":"TRANSFER","to":")" + kTo + R"(","amount":"5000"})");
  ASSERT_TRUE(w.ok());
  for (const char* spelling : {"TRANSFER", "transfer", "Transfer"}) {
    auto g = generic(std::string(R"({"action":")") + spelling + R"(","attributes":{"to":")" + kTo +
                     R"("},"amounts":{"native":"5000"}})");
    ASSERT_TRUE(g.ok()) << spelling << " " << g.status().to_string();
    EXPECT_EQ(g->type, "DECISION");
    EXPECT_EQ(g->request.action, "TRANSFER");
    EXPECT_EQ(json::serialize(g->request.attributes), json::serialize(w->request.attributes));
    EXPECT_EQ(amounts_of(g->request), amounts_of(w->request));
    EXPECT_EQ(g->reserved_amount, "5000");
  }
  const std::string to = R"("attributes":{"to":")" + kTo + R"("})";
  struct Case {
    std::string body;
    std::string want;
  };
  const Case cases[] = {
      {R"({"action":"transfer",)" + to + "}", "VALIDATION_MISSING_FIELD amounts"},
      {R"({"action":"transfer","amounts":{"native":"1"}})",
       "VALIDATION_MISSING_FIELD attributes.to"},
      {R"({"action":"transfer",)" + to + R"(,"amounts":{"NATIVE":"1"}})",
       "VALIDATION_INVALID_ASSET amounts.NATIVE"},
      {R"({"action":"transfer",)" + to + R"(,"amounts":{")" + kUsdc + R"(":"1"}})",
       "VALIDATION_INVALID_ASSET amounts." + kUsdc},
      {R"({"action":"transfer",)" + to + R"(,"amounts":{"native":"1",")" + kUsdc + R"(":"1"}})",
       "VALIDATION_INVALID_VALUE amounts"},
      {R"({"action":"transfer",)" + to + R"(,"amounts":{"native":"x"}})",
       "VALIDATION_INVALID_AMOUNT amounts.native"},
      {R"({"action":"transfer","attributes":{"to":"bob"},"amounts":{"native":"1"}})",
       "VALIDATION_INVALID_VALUE attributes.to"},
      {R"({"action":"transfer","attributes":{"to":")" + kTo +
           R"(","memo":"x"},"amounts":{"native":"1"}})",
       "VALIDATION_UNKNOWN_FIELD attributes.memo"},
      {R"({"action":"transfer","attributes":{"to":")" + kTo +
           R"(","amount":"1"},"amounts":{"native":"1"}})",
       "VALIDATION_UNKNOWN_FIELD attributes.amount"},
      {R"({"action":"approve","attributes":{"spender":")" + kTo + R"("}})",
       "VALIDATION_MISSING_FIELD attributes.amount"},
      {R"({"action":"approve","attributes":{"spender":")" + kTo + R"(","amount":"lots"}})",
       "VALIDATION_INVALID_AMOUNT attributes.amount"},
      {R"({"action":"approve","attributes":{"spender":")" + kTo +
           R"(","amount":"1"},"amounts":{"native":"1"}})",
       "VALIDATION_INVALID_VALUE amounts"},
      {R"({"action":"batch","amounts":{"native":"1"}})", "VALIDATION_INVALID_VALUE action"},
      {R"({"action":"token_transfer","attributes":{"to":")" + kTo + R"(","token":")" + kUsdc +
           R"("},"amounts":{"native":"1"}})",
       "VALIDATION_INVALID_ASSET amounts.native"},
  };
  for (const Case& c : cases) EXPECT_EQ(refusal(generic(c.body)), c.want) << c.body;

  auto token =
      generic(R"({"action":"token_transfer","attributes":{"to":")" + kTo + R"(","token":")" +
              kUsdc + R"("},"amounts":{")" + kUsdcCanonical + R"(":"3"}})");
  ASSERT_TRUE(token.ok()) << token.status().to_string();
  EXPECT_EQ(amounts_of(token->request), kUsdcCanonical + "=3 ");
  auto approve =
      generic(R"({"action":"Approve","attributes":{"spender":")" + kTo + R"(","amount":"77"}})");
  ASSERT_TRUE(approve.ok()) << approve.status().to_string();
  EXPECT_EQ(str(approve->request.attributes.at("amount")), "77");
  EXPECT_EQ(approve->approved_amount, "77");
  EXPECT_TRUE(approve->request.amounts.empty());
}

}  // namespace
}  // namespace warden::engine

namespace warden::engine {
namespace {

TEST(GenericMapping, GatewayAttributesAreWholeNonNegativeNumbersAndStrings) {
  auto ok = map_generic_request(
      parse_json(R"({"action":"llm_chat","attributes":{"model":"gpt-4o","request_size_bytes":512,"estimated_tokens":0,"org_id":"acme"}})")
          .value()
          .as_object(),
      AgentContext{"ethereum", "testnet"});
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->request.attributes.at("request_size_bytes").as_int64(), 512);
  struct Case {
    const char* attributes;
    ErrorCode code;
    const char* field;
  };
  for (const Case& c : {Case{R"({"request_size_bytes":-1})", ErrorCode::VALIDATION_INVALID_VALUE,
                             "attributes.request_size_bytes"},
                        Case{R"({"request_size_bytes":1.5})", ErrorCode::VALIDATION_WRONG_TYPE,
                             "attributes.request_size_bytes"},
                        Case{R"({"estimated_tokens":"12"})", ErrorCode::VALIDATION_WRONG_TYPE,
                             "attributes.estimated_tokens"},
                        Case{R"({"estimated_tokens":18446744073709551615})",
                             ErrorCode::VALIDATION_INVALID_VALUE, "attributes.estimated_tokens"},
                        Case{R"({"org_id":7})", ErrorCode::VALIDATION_WRONG_TYPE,
                             "attributes.org_id"}}) {
    auto r = map_generic_request(
        parse_json(std::string(R"({"action":"llm_chat","attributes":)") + c.attributes + "}")
            .value()
            .as_object(),
        AgentContext{"ethereum", "testnet"});
    ASSERT_FALSE(r.ok()) << c.attributes;
    EXPECT_EQ(r.status().code(), c.code) << c.attributes;
    EXPECT_EQ(r.status().details().at("field").as_string(), c.field) << c.attributes;
  }
}

}  // namespace
}  // namespace warden::engine
