#include "core/errors.h"

#include <gtest/gtest.h>

#include "core/status.h"

namespace warden {
namespace {

TEST(Errors, CatalogueHasStatusAndBothLanguages) {
  EXPECT_EQ(error_code_name(ErrorCode::POLICY_NOT_FOUND), "POLICY_NOT_FOUND");
  EXPECT_EQ(error_http_status(ErrorCode::POLICY_NOT_FOUND), 404);
  EXPECT_EQ(error_http_status(ErrorCode::POLICY_DUPLICATE), 409);
  EXPECT_EQ(error_http_status(ErrorCode::VALIDATION_BODY_TOO_LARGE), 413);
  EXPECT_EQ(error_http_status(ErrorCode::AUTH_TOO_MANY_ATTEMPTS), 429);
  EXPECT_EQ(error_message(ErrorCode::POLICY_NOT_FOUND, Language::kEnglish), "Policy not found");
  EXPECT_EQ(error_message(ErrorCode::POLICY_NOT_FOUND, Language::kKorean),
            "정책을 찾을 수 없습니다");
  EXPECT_EQ(error_code_from_name("AUTH_MASTER_INVALID"), ErrorCode::AUTH_MASTER_INVALID);
  EXPECT_FALSE(error_code_from_name("NOPE").has_value());
}

TEST(Errors, AcceptLanguage) {
  EXPECT_EQ(language_from_accept("ko-KR,ko;q=0.9,en;q=0.8"), Language::kKorean);
  EXPECT_EQ(language_from_accept("ko"), Language::kKorean);
  EXPECT_EQ(language_from_accept("en-US"), Language::kEnglish);
  EXPECT_EQ(language_from_accept("kok"), Language::kEnglish);
  EXPECT_EQ(language_from_accept(""), Language::kEnglish);
}

Status fails() { return Status(ErrorCode::AGENT_NOT_FOUND, "agent x"); }
Result<int> gives(bool ok) {
  if (!ok) return Status(ErrorCode::AGENT_NOT_FOUND);
  return 7;
}
Status uses_macros(bool ok, int* out) {
  WARDEN_ASSIGN_OR_RETURN(*out, gives(ok));
  WARDEN_RETURN_IF_ERROR(fails());
  return Status();
}

TEST(Status, MacrosPropagate) {
  int v = 0;
  Status s = uses_macros(true, &v);
  EXPECT_EQ(v, 7);
  EXPECT_EQ(s.code(), ErrorCode::AGENT_NOT_FOUND);
  EXPECT_EQ(s.message(), "agent x");
  s = uses_macros(false, &v);
  EXPECT_EQ(s.message(), "Agent not found");
  EXPECT_TRUE(Status().ok());
}

}  // namespace
}  // namespace warden
