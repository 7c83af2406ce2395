// Error responses built from a Status: HTTP status, error body and the headers some codes carry.
#include "server/api.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace warden::server {
namespace {

std::vector<std::string> header_values(const HttpResponse& r, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.headers) {
    if (k == name) out.push_back(v);
  }
  return out;
}

// A store's own words (SQL, constraint and table names) never reach the client.
TEST(ErrorResponse, StoreAndInternalErrorsAnswerWithTheCatalogueMessageOnly) {
  for (const Status& s : {Status(ErrorCode::STORE_CONSTRAINT,
                                 "UNIQUE constraint failed: transactions.tx_hash"),
                          Status(ErrorCode::INTERNAL_STORE_ERROR, "exec 'COMMIT': disk I/O error"),
                          Status(ErrorCode::INTERNAL_ERROR, "std::bad_alloc in routes_agents")}) {
    for (Language lang : {Language::kEnglish, Language::kKorean}) {
      HttpResponse r = error_response(s, "cid", lang);
      EXPECT_EQ(r.body.find("UNIQUE"), std::string::npos) << r.body;
      EXPECT_EQ(r.body.find("COMMIT"), std::string::npos) << r.body;
      EXPECT_EQ(r.body.find("bad_alloc"), std::string::npos) << r.body;
      const auto body = boost::json::parse(r.body);
      EXPECT_EQ(body.at("error").at("message").as_string(), error_message(s.code(), lang));
      EXPECT_EQ(body.at("error").at("code").as_string(), error_code_name(s.code()));
    }
  }
}

// A full write queue is a temporary condition: 503 with the code and a Retry-After of one second.
TEST(ErrorResponse, OverloadedIs503WithRetryAfter) {
  HttpResponse r = error_response(Status(ErrorCode::SERVER_OVERLOADED, "the write queue is full"),
                                  "cid-1", Language::kEnglish);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(header_values(r, "Retry-After"), std::vector<std::string>{"1"});
  const auto body = boost::json::parse(r.body);
  EXPECT_EQ(body.at("error").at("code").as_string(), "SERVER_OVERLOADED");
  EXPECT_EQ(body.at("error").at("message").as_string(), "the write queue is full");
  EXPECT_EQ(body.at("error").at("correlation_id").as_string(), "cid-1");
}

// Shutting down is not worth retrying against this process.
TEST(ErrorResponse, ShuttingDownHasNoRetryAfter) {
  HttpResponse r =
      error_response(Status(ErrorCode::INTERNAL_SHUTTING_DOWN), "cid-2", Language::kEnglish);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(header_values(r, "Retry-After").empty());
}

}  // namespace
}  // namespace warden::server
