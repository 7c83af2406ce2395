#include "server/body.h"

#include <gtest/gtest.h>

namespace warden::server {
namespace {

TEST(Body, RejectsUnknownFieldsNamingThem) {
  auto b = Body::parse(R"({"name":"a","nmae":"b"})", {"name"});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), ErrorCode::VALIDATION_UNKNOWN_FIELD);
  EXPECT_EQ(b.status().details().at("field").as_string(), "nmae");
}

TEST(Body, MalformedAndNonObjectBodies) {
  EXPECT_EQ(Body::parse("{", {}).status().code(), ErrorCode::VALIDATION_MALFORMED_JSON);
  EXPECT_EQ(Body::parse("[1]", {}).status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
}

TEST(Body, RepeatedKeysAreRefusedNotLastOneWins) {
  auto top = Body::parse(R"({"name":"a","name":"b"})", {"name"});
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.status().code(), ErrorCode::VALIDATION_DUPLICATE_KEY);
  EXPECT_EQ(top.status().details().at("pointer").as_string(), "/name");
  auto nested = Body::parse(R"({"attributes":{"to":"x","to":"y"}})", {"attributes"});
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().code(), ErrorCode::VALIDATION_DUPLICATE_KEY);
  EXPECT_EQ(nested.status().details().at("field").as_string(), "to");
  EXPECT_EQ(nested.status().details().at("pointer").as_string(), "/attributes/to");
}

TEST(Body, TypedGetters) {
  auto b = Body::parse(R"({"s":"x","i":5,"big":18446744073709551615,"t":true,"o":{},"n":null})",
                       {"s", "i", "big", "t", "o", "n"});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b->required_string("s"), "x");
  EXPECT_EQ(b->required_string("n").status().code(), ErrorCode::VALIDATION_MISSING_FIELD);
  EXPECT_EQ(b->required_string("i").status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
  EXPECT_EQ(**b->optional_int("i"), 5);
  EXPECT_EQ(b->optional_int("big").status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
  EXPECT_EQ(b->optional_int("s").status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
  EXPECT_FALSE(b->optional_int("n")->has_value());
  EXPECT_TRUE(**b->optional_bool("t"));
  EXPECT_TRUE(b->optional_object("o")->has_value());
  EXPECT_EQ(b->optional_object("s").status().code(), ErrorCode::VALIDATION_WRONG_TYPE);
}

TEST(Body, CheckPrintableAcceptsLabelsAndRefusesControlBlankAndLong) {
  EXPECT_TRUE(check_printable("org", std::nullopt, 8).ok());
  EXPECT_TRUE(check_printable("org", std::string("Acme Co."), 8).ok());
  EXPECT_TRUE(check_printable("org", std::string(" a~"), 8).ok());
  for (const std::string bad :
       {std::string(), std::string("   "), std::string("123456789"), std::string("a\tb"),
        std::string("a\x7f"), std::string("caf\xc3\xa9")}) {
    Status s = check_printable("org", bad, 8);
    EXPECT_EQ(s.code(), ErrorCode::VALIDATION_INVALID_VALUE) << bad;
    EXPECT_EQ(s.details().at("field").as_string(), "org");
  }
}

}  // namespace
}  // namespace warden::server
