// Wallet policy types: normalised form and hash (golden), and every blocker with its pointer.
#include <gtest/gtest.h>

#include "policy/test_util.h"

namespace warden::policy {
namespace {

using testing::canonical_of;
using testing::check;
using testing::has_issue;
using testing::summary;

constexpr Severity kBlocker = Severity::kBlocker;
constexpr Severity kWarn = Severity::kWarn;

struct Golden {
  const char* doc;
  const char* canonical;
  const char* hash;
};

void expect_golden(const Golden& g) {
  const Validation v = check(g.doc);
  EXPECT_TRUE(v.issues.empty()) << summary(v);
  EXPECT_EQ(canonical_of(g.doc), g.canonical);
  EXPECT_EQ(v.hash, g.hash);
}

// The SPENDING_LIMIT example of docs/policies.md, for an agent given in upper case.
TEST(SpendingLimit, Golden) {
  expect_golden(
      {R"({"agent_id":"0193A4F0-7C1E-7B3A-9D2E-5F1C0A9B8E7D","type":"SPENDING_LIMIT","priority":5,
          "rules":{"instant_max":"1000","notify_max":"5000","delay_max":"20000","delay_seconds":300,
                   "approval_timeout_seconds":3600,"windows":[{"duration":"24h","max":"50000"}],
                   "asset":"native"}})",
       R"({"agent_id":"0193a4f0-7c1e-7b3a-9d2e-5f1c0a9b8e7d","priority":5,"rules":{)"
       R"("approval_timeout_seconds":3600,"asset":"native","delay_max":"20000",)"
       R"("delay_seconds":300,"instant_max":"1000","notify_max":"5000",)"
       R"("windows":[{"duration":"1d","max":"50000"}]},)"
       R"("type":"SPENDING_LIMIT"})",
       "61462e196e2edb79bebc0410d7113565c9c2f7ecddb3a884448acc027f292a13"});
}

TEST(SpendingLimit, FillsDefaultsAndSortsWindows) {
  EXPECT_EQ(
      canonical_of(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1000","notify_max":"5000",
          "delay_max":"20000","windows":[{"duration":"24h","max":"50000"},
          {"duration":"month","max":"900000"},{"duration":"60m","max":"10000"}]}})"),
      R"({"agent_id":null,"priority":0,"rules":{"approval_timeout_seconds":3600,"asset":"native",)"
      R"("delay_max":"20000","delay_seconds":300,"instant_max":"1000","notify_max":"5000",)"
      R"("windows":[{"duration":"1h","max":"10000"},{"duration":"1d","max":"50000"},)"
      R"({"duration":"month","max":"900000"}]},"type":"SPENDING_LIMIT"})");
}

TEST(SpendingLimit, OneTierIsEnough) {
  const Validation v = check(R"({"type":"SPENDING_LIMIT","rules":{"delay_max":"7"}})");
  EXPECT_TRUE(v.issues.empty()) << summary(v);
}

TEST(SpendingLimit, AtLeastOneTier) {
  const Validation v = check(R"({"type":"SPENDING_LIMIT","rules":{"asset":"native"}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "TIER_MISSING", "/rules"));
}

TEST(SpendingLimit, BadAmounts) {
  for (const char* bad :
       {R"("01")", R"("-1")", R"("1.5")", R"("")", R"("1e3")", R"(" 1")",
        R"("115792089237316195423570985008687907853269984665640564039457584007913129639936")"}) {
    const Validation v =
        check(std::string(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":)") + bad + "}}");
    EXPECT_TRUE(has_issue(v, kBlocker, "AMOUNT_INVALID", "/rules/instant_max")) << bad << "\n"
                                                                                << summary(v);
  }
  const Validation number = check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":1000}})");
  EXPECT_TRUE(has_issue(number, kBlocker, "RULES_WRONG_TYPE", "/rules/instant_max"))
      << summary(number);
}

TEST(SpendingLimit, LargestAmountIsFine) {
  const Validation v = check(
      R"({"type":"SPENDING_LIMIT","rules":{"instant_max":)"
      R"("115792089237316195423570985008687907853269984665640564039457584007913129639935"}})");
  EXPECT_TRUE(v.issues.empty()) << summary(v);
}

TEST(SpendingLimit, TierOrderNamesThePair) {
  const Validation v = check(
      R"({"type":"SPENDING_LIMIT",
          "rules":{"instant_max":"500","notify_max":"100","delay_max":"300"}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "TIER_ORDER", "/rules/notify_max"));
  EXPECT_NE(v.issues[0].message.find("instant_max"), std::string::npos);
  EXPECT_NE(v.issues[0].message.find("notify_max"), std::string::npos);

  // Absent tiers are skipped: instant is compared with delay directly.
  const Validation skip =
      check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"500","delay_max":"499"}})");
  EXPECT_TRUE(has_issue(skip, kBlocker, "TIER_ORDER", "/rules/delay_max")) << summary(skip);
  const Validation equal = check(
      R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"5","notify_max":"5","delay_max":"5"}})");
  EXPECT_TRUE(equal.issues.empty()) << summary(equal);
}

TEST(SpendingLimit, EveryProblemIsListed) {
  const Validation v = check(R"({"type":"SPENDING_LIMIT","rules":{
      "instant_max":"01","notify_max":"5","delay_max":"3","delay_seconds":-1,
      "approval_timeout_seconds":0,"asset":"",
      "windows":[{"duration":"1d","max":"x"},{"duration":"24h","max":"1"},{"duration":"24x"},
                 {"duration":"week","max":"9","extra":true},"nope"],"bogus":1}})");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"AMOUNT_INVALID", "/rules/instant_max"},
      {"TIER_ORDER", "/rules/delay_max"},
      {"VALUE_OUT_OF_RANGE", "/rules/delay_seconds"},
      {"VALUE_OUT_OF_RANGE", "/rules/approval_timeout_seconds"},
      {"VALUE_EMPTY", "/rules/asset"},
      {"AMOUNT_INVALID", "/rules/windows/0/max"},
      {"WINDOW_DUPLICATE", "/rules/windows/1/duration"},
      {"WINDOW_INVALID", "/rules/windows/2/duration"},
      {"RULES_MISSING_FIELD", "/rules/windows/2/max"},
      {"RULES_UNKNOWN_FIELD", "/rules/windows/3/extra"},
      {"RULES_WRONG_TYPE", "/rules/windows/4"},
      {"RULES_UNKNOWN_FIELD", "/rules/bogus"}};
  ASSERT_EQ(v.issues.size(), expected.size()) << summary(v);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(v.issues[i].code, expected[i].first) << i << "\n" << summary(v);
    EXPECT_EQ(v.issues[i].pointer, expected[i].second) << i << "\n" << summary(v);
    EXPECT_EQ(v.issues[i].severity, kBlocker) << i;
  }
}

TEST(SpendingLimit, WindowBelowInstantWarns) {
  const Validation v = check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"100",
      "windows":[{"duration":"1h","max":"99"},{"duration":"day","max":"100"}]}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kWarn, "WINDOW_BELOW_INSTANT", "/rules/windows/0/max"));
  EXPECT_FALSE(v.has_error());
  EXPECT_EQ(v.hash.size(), 64u);
}

TEST(SpendingLimit, CalendarDayAndRollingDayAreDifferentWindows) {
  const Validation v = check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1",
      "windows":[{"duration":"day","max":"9"},{"duration":"24h","max":"9"}]}})");
  EXPECT_TRUE(v.issues.empty()) << summary(v);
}

// The asset is stored in the one spelling request amounts are keyed by, so a policy written
// with an upper-case token address and a request naming it in lower case meet in one window.
TEST(SpendingLimit, AssetIsCanonical) {
  EXPECT_EQ(canonical_of(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1",
      "asset":"0xDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF"}})"),
            R"({"agent_id":null,"priority":0,"rules":{"approval_timeout_seconds":3600,)"
            R"("asset":"0xdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef","delay_seconds":300,)"
            R"("instant_max":"1","windows":[]},"type":"SPENDING_LIMIT"})");
  const Validation sol = check(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1",
      "asset":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}})");
  EXPECT_TRUE(sol.issues.empty()) << summary(sol);
  EXPECT_EQ(sol.normalized_rules.at("asset"), "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
}

// Each of these once named an asset of its own and escaped the limits on "native".
TEST(SpendingLimit, AssetOtherThanNativeOrAnAddressIsABlocker) {
  for (const char* asset :
       {"NATIVE", " native", "native ", "Native", "usd", "0xdeadbeef",
        "0XDEADBEEFDEADBEEFDEADBEEFDEADBEEFDEADBEEF", "nat\\u0131ve", "native\\u0000"}) {
    SCOPED_TRACE(asset);
    const Validation v =
        check(std::string(R"({"type":"SPENDING_LIMIT","rules":{"instant_max":"1",)") +
              R"("asset":")" + asset + R"("}})");
    EXPECT_TRUE(has_issue(v, kBlocker, "ASSET_INVALID", "/rules/asset")) << summary(v);
  }
}

TEST(CanonicalNames, Assets) {
  EXPECT_EQ(canonical_asset("native"), "native");
  EXPECT_EQ(canonical_asset("0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"),
            "0xabcdef0123456789abcdef0123456789abcdef01");
  EXPECT_EQ(canonical_asset("So11111111111111111111111111111111111111112"),
            "So11111111111111111111111111111111111111112");
  EXPECT_EQ(canonical_asset("USD"), "USD");
  EXPECT_EQ(canonical_asset("CREDITS_V2"), "CREDITS_V2");
  for (std::string_view bad : {"", "NATIVE", " native", "natıve", "0x123", "usd", "U", "Usd",
                               "1USD", "USD-1", "ABCDEFGHIJKLMNOPQ",
                               "So1111111111111111111111111111111111111111O"}) {
    EXPECT_EQ(canonical_asset(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(canonical_asset(std::string_view("native\0", 7)), std::nullopt);
}

TEST(CanonicalNames, AddressesPerChain) {
  const std::string evm = "0x7A250D5630B4CF539739DF2C5DACB4C659F2488D";
  const std::string sol = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
  EXPECT_EQ(canonical_address(evm), "0x7a250d5630b4cf539739df2c5dacb4c659f2488d");
  EXPECT_EQ(canonical_address(evm, "ethereum"), "0x7a250d5630b4cf539739df2c5dacb4c659f2488d");
  EXPECT_EQ(canonical_address(evm, "solana"), std::nullopt);
  EXPECT_EQ(canonical_address(sol), sol);
  EXPECT_EQ(canonical_address(sol, "ethereum"), std::nullopt);
  EXPECT_EQ(canonical_address("native"), std::nullopt);
}

TEST(CanonicalNames, ActionsAreUpperCaseFromAStrictCharset) {
  EXPECT_EQ(canonical_action("transfer"), "TRANSFER");
  EXPECT_EQ(canonical_action("Transfer"), "TRANSFER");
  EXPECT_EQ(canonical_action("llm.call"), "LLM.CALL");
  EXPECT_EQ(canonical_action("a-b_c:d.9"), "A-B_C:D.9");
  EXPECT_EQ(canonical_action(std::string(kActionBytesMax, 'a')), std::string(kActionBytesMax, 'A'));
  for (std::string_view bad :
       {"", " transfer", "transfer ", "trans fer", "tranſfer", "transfer/x", "ｔransfer"}) {
    EXPECT_EQ(canonical_action(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(canonical_action(std::string(kActionBytesMax + 1, 'a')), std::nullopt);
  EXPECT_EQ(canonical_action(std::string_view("transfer\0", 9)), std::nullopt);
}

TEST(Whitelist, Golden) {
  expect_golden({R"({"type":"WHITELIST","rules":{"chain":"ethereum","allowed_addresses":[
                      "0xBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
                      "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}})",
                 R"({"agent_id":null,"priority":0,"rules":{"allowed_addresses":[)"
                 R"("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
                 R"("0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"],"chain":"ethereum"},)"
                 R"("type":"WHITELIST"})",
                 "8696912a81e89d6e9e42c8a5c733a4c32a4c0ec5899cd2fc6e328956bde2e282"});
}

TEST(Whitelist, WithoutChainEitherFormAndCaseInsensitiveDuplicates) {
  const char* doc = R"({"type":"WHITELIST","rules":{"allowed_addresses":[
      "0xABCDEFabcdef0123456789012345678901234567","So11111111111111111111111111111111111111112",
      "0xabcdefabcdef0123456789012345678901234567","bad"]}})";
  const Validation v = check(doc);
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/allowed_addresses/2"));
  EXPECT_TRUE(has_issue(v, kBlocker, "ADDRESS_INVALID", "/rules/allowed_addresses/3"));
  EXPECT_EQ(boost::json::serialize(v.normalized_rules),
            R"({"allowed_addresses":["0xabcdefabcdef0123456789012345678901234567",)"
            R"("So11111111111111111111111111111111111111112"]})");
}

TEST(Whitelist, SolanaIsCaseExact) {
  const Validation v = check(R"({"type":"WHITELIST","rules":{"chain":"solana","allowed_addresses":[
      "So11111111111111111111111111111111111111112",
      "so11111111111111111111111111111111111111112"]}})");
  EXPECT_TRUE(v.issues.empty()) << summary(v);
  EXPECT_EQ(v.normalized_rules.at("allowed_addresses").as_array().size(), 2u);
}

TEST(Whitelist, ChainRestrictsTheForm) {
  const Validation eth = check(R"({"type":"WHITELIST","rules":{"chain":"ethereum",
      "allowed_addresses":["So11111111111111111111111111111111111111112"]}})");
  EXPECT_TRUE(has_issue(eth, kBlocker, "ADDRESS_INVALID", "/rules/allowed_addresses/0"))
      << summary(eth);
  const Validation sol = check(R"({"type":"WHITELIST","rules":{"chain":"solana",
      "allowed_addresses":["0xabcdefabcdef0123456789012345678901234567"]}})");
  EXPECT_TRUE(has_issue(sol, kBlocker, "ADDRESS_INVALID", "/rules/allowed_addresses/0"))
      << summary(sol);
  const Validation bad = check(R"({"type":"WHITELIST","rules":{"chain":"bitcoin",
      "allowed_addresses":[]}})");
  EXPECT_TRUE(has_issue(bad, kBlocker, "VALUE_NOT_ALLOWED", "/rules/chain")) << summary(bad);
}

TEST(Whitelist, AddressForms) {
  const char* bad[] = {"0xabcdefabcdef012345678901234567890123456",      // 39 hex
                       "0xabcdefabcdef01234567890123456789012345678",    // 41 hex
                       "0Xabcdefabcdef0123456789012345678901234567",     // upper-case prefix
                       "0xabcdefabcdef012345678901234567890123456g",     // not hex
                       "1111111111111111111111111111111",                // 31 base58
                       "111111111111111111111111111111111111111111111",  // 45 base58
                       "O1111111111111111111111111111111",               // 'O' is not base58
                       "l1111111111111111111111111111111",               // nor is 'l'
                       ""};
  for (const char* address : bad) {
    const Validation v =
        check(std::string(R"({"type":"WHITELIST","rules":{"allowed_addresses":[")") + address +
              R"("]}})");
    EXPECT_TRUE(has_issue(v, kBlocker, "ADDRESS_INVALID", "/rules/allowed_addresses/0"))
        << address << "\n"
        << summary(v);
  }
  const Validation good = check(R"({"type":"WHITELIST","rules":{"allowed_addresses":[
      "11111111111111111111111111111111","11111111111111111111111111111111111111111111"]}})");
  EXPECT_TRUE(good.issues.empty()) << summary(good);
}

TEST(Whitelist, EmptyListWarns) {
  const Validation v = check(R"({"type":"WHITELIST","rules":{"allowed_addresses":[]}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kWarn, "LIST_EMPTY", "/rules/allowed_addresses"));
}

TEST(Whitelist, StructuralProblems) {
  const Validation missing = check(R"({"type":"WHITELIST","rules":{}})");
  EXPECT_TRUE(has_issue(missing, kBlocker, "RULES_MISSING_FIELD", "/rules/allowed_addresses"))
      << summary(missing);
  const Validation wrong = check(R"({"type":"WHITELIST","rules":{"allowed_addresses":"0x1"}})");
  EXPECT_TRUE(has_issue(wrong, kBlocker, "RULES_WRONG_TYPE", "/rules/allowed_addresses"))
      << summary(wrong);
  const Validation element = check(R"({"type":"WHITELIST","rules":{"allowed_addresses":[7]}})");
  EXPECT_TRUE(has_issue(element, kBlocker, "RULES_WRONG_TYPE", "/rules/allowed_addresses/0"))
      << summary(element);
}

TEST(AllowedTokens, Golden) {
  expect_golden({R"({"type":"ALLOWED_TOKENS","rules":{"tokens":[
                      "So11111111111111111111111111111111111111112",
                      "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"],"chain":"solana"}})",
                 R"({"agent_id":null,"priority":0,"rules":{"chain":"solana","tokens":[)"
                 R"("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",)"
                 R"("So11111111111111111111111111111111111111112"]},"type":"ALLOWED_TOKENS"})",
                 "78df25060bc3f2d0dbb55a64fb4e7d6b26b4f40a4ebddebbba4d9bf6d03e53ad"});
}

TEST(AllowedTokens, Blockers) {
  const Validation v = check(R"({"type":"ALLOWED_TOKENS","rules":{"tokens":["x",
      "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48","0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"],
      "allowed_addresses":[]}})");
  ASSERT_EQ(v.issues.size(), 3u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "ADDRESS_INVALID", "/rules/tokens/0"));
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/tokens/2"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_UNKNOWN_FIELD", "/rules/allowed_addresses"));
}

TEST(ContractWhitelist, Golden) {
  expect_golden({R"({"type":"CONTRACT_WHITELIST","rules":{"contracts":[
                      "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"]}})",
                 R"({"agent_id":null,"priority":0,"rules":{"contracts":[)"
                 R"("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"]},"type":"CONTRACT_WHITELIST"})",
                 "55a11d515d4d25a6d9137dcde31abca19649cd3a41f5ed6743d8b38b16a6630b"});
}

TEST(ContractWhitelist, Blockers) {
  const Validation v = check(R"({"type":"CONTRACT_WHITELIST","rules":{"contracts":["0x12"]}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "ADDRESS_INVALID", "/rules/contracts/0"));
  const Validation empty = check(R"({"type":"CONTRACT_WHITELIST","rules":{"contracts":[]}})");
  EXPECT_TRUE(has_issue(empty, kWarn, "LIST_EMPTY", "/rules/contracts")) << summary(empty);
}

TEST(ApprovedSpenders, Golden) {
  expect_golden({R"({"type":"APPROVED_SPENDERS","rules":{"spenders":[
                      "0x000000000022D473030F116dDEE9F6B43aC78BA3"]}})",
                 R"({"agent_id":null,"priority":0,"rules":{"spenders":[)"
                 R"("0x000000000022d473030f116ddee9f6b43ac78ba3"]},"type":"APPROVED_SPENDERS"})",
                 "14dfc946a5e9d9d710ebcc3b903a828c894ccc9953c48f94604ec0d1acd4dfa6"});
}

TEST(ApprovedSpenders, Blockers) {
  const Validation v = check(R"({"type":"APPROVED_SPENDERS","rules":{"spenders":{}}})");
  ASSERT_EQ(v.issues.size(), 1u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/spenders"));
}

TEST(MethodWhitelist, Golden) {
  expect_golden({R"({"type":"METHOD_WHITELIST","rules":{"methods":[{
                      "contract":"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
                      "selectors":["0xA9059CBB","0x095ea7b3"]}]}})",
                 R"({"agent_id":null,"priority":0,"rules":{"methods":[{"contract":)"
                 R"("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","selectors":["0x095ea7b3",)"
                 R"("0xa9059cbb"]}]},"type":"METHOD_WHITELIST"})",
                 "6f7d6a2e0e4b1a52c7dfd011c0ad9d00eec5b63b91e5e26fee30f383c7cfc69b"});
}

TEST(MethodWhitelist, RepeatedContractsMerge) {
  const Validation v = check(R"({"type":"METHOD_WHITELIST","rules":{"methods":[
      {"contract":"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","selectors":["0xa9059cbb"]},
      {"contract":"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","selectors":["0x00000001"]},
      {"contract":"0xBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB","selectors":["0x095ea7b3",
                                                                         "0xA9059cbb"]}]}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/methods/2/contract"));
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/methods/2/selectors/1"));
  EXPECT_EQ(
      boost::json::serialize(v.normalized_rules),
      R"({"methods":[{"contract":"0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
      R"("selectors":["0x00000001"]},{"contract":"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",)"
      R"("selectors":["0x095ea7b3","0xa9059cbb"]}]})");
}

TEST(MethodWhitelist, EveryProblemIsListed) {
  const Validation v = check(R"({"type":"METHOD_WHITELIST","rules":{"methods":[
      {"contract":"0x12","selectors":["0xa9059cb","a9059cbb","0xa9059cbg"]},
      {"selectors":[]}, 5]}})");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"ADDRESS_INVALID", "/rules/methods/0/contract"},
      {"SELECTOR_INVALID", "/rules/methods/0/selectors/0"},
      {"SELECTOR_INVALID", "/rules/methods/0/selectors/1"},
      {"SELECTOR_INVALID", "/rules/methods/0/selectors/2"},
      {"LIST_EMPTY", "/rules/methods/1/selectors"},
      {"RULES_MISSING_FIELD", "/rules/methods/1/contract"},
      {"RULES_WRONG_TYPE", "/rules/methods/2"}};
  ASSERT_EQ(v.issues.size(), expected.size()) << summary(v);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(v.issues[i].code, expected[i].first) << i << "\n" << summary(v);
    EXPECT_EQ(v.issues[i].pointer, expected[i].second) << i << "\n" << summary(v);
  }
}

TEST(ApproveAmountLimit, Golden) {
  expect_golden({R"({"type":"APPROVE_AMOUNT_LIMIT","rules":{"max_amount":"1000000"}})",
                 R"({"agent_id":null,"priority":0,"rules":{"block_unlimited":true,)"
                 R"("max_amount":"1000000"},"type":"APPROVE_AMOUNT_LIMIT"})",
                 "1d53489de1d86affe69604801ffa8b1ecad276832228289e471a779ea72de0df"});
}

TEST(ApproveAmountLimit, Problems) {
  const Validation v = check(
      R"({"type":"APPROVE_AMOUNT_LIMIT","rules":{"max_amount":"-5","block_unlimited":"no"}})");
  ASSERT_EQ(v.issues.size(), 2u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "AMOUNT_INVALID", "/rules/max_amount"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/block_unlimited"));
  const Validation nothing =
      check(R"({"type":"APPROVE_AMOUNT_LIMIT","rules":{"block_unlimited":false}})");
  ASSERT_EQ(nothing.issues.size(), 1u) << summary(nothing);
  EXPECT_TRUE(has_issue(nothing, kWarn, "POLICY_NO_EFFECT", "/rules"));
}

TEST(AllowedNetworks, Golden) {
  expect_golden({R"({"type":"ALLOWED_NETWORKS","rules":{"networks":["testnet","devnet"]}})",
                 R"({"agent_id":null,"priority":0,"rules":{"networks":["devnet","testnet"]},)"
                 R"("type":"ALLOWED_NETWORKS"})",
                 "8cf11d8eb8ad3e4422ed75f1bc76d717839431a3cc2b5e1fc67053f7d649da36"});
}

TEST(AllowedNetworks, Problems) {
  const Validation v = check(
      R"({"type":"ALLOWED_NETWORKS","rules":{"networks":["mainnet","moonnet","mainnet",1]}})");
  ASSERT_EQ(v.issues.size(), 3u) << summary(v);
  EXPECT_TRUE(has_issue(v, kBlocker, "VALUE_NOT_ALLOWED", "/rules/networks/1"));
  EXPECT_TRUE(has_issue(v, kWarn, "DUPLICATE_ENTRY", "/rules/networks/2"));
  EXPECT_TRUE(has_issue(v, kBlocker, "RULES_WRONG_TYPE", "/rules/networks/3"));
}

}  // namespace
}  // namespace warden::policy
