#include "automation/selector.h"

#include <gtest/gtest.h>

namespace warden::automation {
namespace {

using Ids = std::vector<std::string>;

Selector parse_ok(std::string_view text) {
  auto s = parse_selector(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status().message();
  return s.ok() ? *s : Selector{};
}

std::vector<InventoryItem> items() {
  return {
      {"db-1", "db-primary", "vm", {{"env", "prod"}, {"team", "core"}}},
      {"db-2", "db-replica", "vm", {{"env", "staging"}}},
      {"trader-01", "trader one", "agent", {{"env", "prod"}}},
      {"trader-02", "trader two", "agent", {}},
      {"trader-21", "trader late", "agent", {}},
      {"web-1", "frontend", "vm", {{"env", "prod"}}},
  };
}

TEST(SelectorTest, ListIsSortedAndUnique) {
  const Selector s = parse_ok(" web-1, db-2 ,web-1");
  EXPECT_EQ(s.kind, Selector::Kind::kList);
  EXPECT_EQ(s.ids, (Ids{"db-2", "web-1"}));
  EXPECT_EQ(s.text, "db-2,web-1");
  // Only ids present in the inventory are picked.
  EXPECT_EQ(resolve(parse_ok("web-1,ghost,db-2"), items(), nullptr), (Ids{"db-2", "web-1"}));
}

TEST(SelectorTest, RangesExpandWithOrWithoutPadding) {
  const Selector padded = parse_ok("trader-[01-20]");
  EXPECT_EQ(padded.kind, Selector::Kind::kRange);
  ASSERT_EQ(padded.ids.size(), 20u);
  EXPECT_EQ(padded.ids.front(), "trader-01");
  EXPECT_EQ(padded.ids.back(), "trader-20");
  EXPECT_EQ(resolve(padded, items(), nullptr), (Ids{"trader-01", "trader-02"}));
  const Selector plain = parse_ok("n[8-10].x,a");
  EXPECT_EQ(plain.ids, (Ids{"a", "n10.x", "n8.x", "n9.x"}));
  EXPECT_EQ(plain.text, "a,n[8-10].x");
}

TEST(SelectorTest, QueryTermsAllHoldAndHaveCanonicalText) {
  const Selector s = parse_ok("name:db* label:env=prod");
  EXPECT_EQ(s.kind, Selector::Kind::kQuery);
  ASSERT_EQ(s.terms.size(), 2u);
  EXPECT_EQ(s.text, "label:env=prod name:db*");
  EXPECT_EQ(resolve(s, items(), nullptr), (Ids{"db-1"}));
  EXPECT_EQ(resolve(parse_ok("label:env=prod"), items(), nullptr),
            (Ids{"db-1", "trader-01", "web-1"}));
  EXPECT_EQ(resolve(parse_ok("kind:agent id:*-2*"), items(), nullptr), (Ids{"trader-21"}));
  EXPECT_EQ(resolve(parse_ok("label:env=*"), items(), nullptr),
            (Ids{"db-1", "db-2", "trader-01", "web-1"}));
  EXPECT_EQ(resolve(parse_ok("label:owner=x"), items(), nullptr), Ids{});
}

TEST(SelectorTest, EventSubject) {
  const Selector s = parse_ok("{{ event.subject }}");
  EXPECT_EQ(s.kind, Selector::Kind::kEventSubject);
  EXPECT_EQ(s.text, "{{event.subject}}");
  Event e;
  e.subject = "trader-02";
  EXPECT_EQ(resolve(s, items(), &e), (Ids{"trader-02"}));
  e.subject = "ghost";
  EXPECT_EQ(resolve(s, items(), &e), Ids{});
  EXPECT_EQ(resolve(s, items(), nullptr), Ids{});
}

TEST(SelectorTest, RejectsBadSelectors) {
  for (std::string_view bad :
       {"", "  ", "a,,b", "a,", "x-[5-1]", "x-[1-2", "x-1]", "x-[a-b]", "x-[1-2]-[3-4]",
        "x-[0-99999]", "label:env", "label:=x", "name:x foo:bar", "name:", "{{event.kind}}",
        "{{event.subject}} x", "a b", "a*b", "name:a,b"}) {
    EXPECT_FALSE(parse_selector(bad).ok()) << bad;
  }
  const auto star = parse_selector("db*");
  ASSERT_FALSE(star.ok());
  EXPECT_NE(star.status().message().find("id:db*"), std::string::npos);
  // A colon alone does not make a query: ids may hold one ("arn:x:1").
  EXPECT_EQ(parse_ok("arn:x:1").ids, Ids{"arn:x:1"});
  EXPECT_FALSE(parse_selector(std::string(kSelectorBytesMax + 1, 'a')).ok());
}

TEST(SelectorTest, WildcardMatch) {
  EXPECT_TRUE(wildcard_match("db*", "db-1"));
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("a*b*c", "aXXbYYc"));
  EXPECT_TRUE(wildcard_match("a*c", "abcbc"));
  EXPECT_FALSE(wildcard_match("a*c", "abcb"));
  EXPECT_FALSE(wildcard_match("db", "db-1"));
  EXPECT_FALSE(wildcard_match("*x", "abc"));
}

}  // namespace
}  // namespace warden::automation
