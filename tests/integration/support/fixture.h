// GoogleTest fixture: one fresh `warden` daemon (own data dir, own port) and one kept-alive
// client per test, with the daemon log attached to any failure.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "support/api.h"
#include "support/http_client.h"
#include "support/warden_process.h"

namespace warden::testing {

class WardenTest : public ::testing::Test {
 protected:
  // Extra `warden serve` flags for this fixture; override to change limits.
  virtual std::vector<std::string> serve_flags() const { return {}; }

  void SetUp() override {
    warden_ = std::make_unique<WardenProcess>(WardenOptions{serve_flags(), ""});
    ASSERT_TRUE(warden_->started()) << warden_->error();
    client_ = std::make_unique<HttpClient>(warden_->port());
  }

  void TearDown() override {
    if (HasFailure() && warden_) {
      constexpr std::size_t kLogCharsMax = 8000;
      std::string log = warden_->log();
      if (log.size() > kLogCharsMax) log = "..." + log.substr(log.size() - kLogCharsMax);
      std::cerr << "--- warden log (" << warden_->data_dir() << ") ---\n" << log << "\n";
    }
    client_.reset();
    warden_.reset();
  }

  Response master(const std::string& method, const std::string& target,
                  const std::string& body = {}, Headers extra = {}) {
    return client_->request(method, target, body, master_headers(std::move(extra)));
  }

  // Creates an agent and returns its id ("" after recording a failure).
  std::string new_agent(const std::string& name) {
    Response r = create_agent(*client_, name);
    EXPECT_EQ(r.status, 201) << r.describe();
    return str_at(r.json(), "id");
  }

  // Creates a session for agent_id; returns the whole 201 body (null after a failure).
  boost::json::value new_session(const std::string& agent_id, const std::string& extra = "") {
    Response r = create_session(*client_, agent_id, extra);
    EXPECT_EQ(r.status, 201) << r.describe();
    return r.status == 201 ? r.json() : boost::json::value();
  }

  std::size_t audit_count() {
    auto rows = audit_all(*client_);
    EXPECT_TRUE(rows.has_value()) << "GET /v1/audit failed";
    return rows ? rows->size() : 0;
  }

  std::unique_ptr<WardenProcess> warden_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace warden::testing
