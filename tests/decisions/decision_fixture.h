// GoogleTest fixture for the decision tests: one daemon, one agent with a session and a
// SPENDING_LIMIT window, and the checks every load test ends with (rows, audit, counters).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "decision_support.h"
#include "load_support.h"
#include "support/fixture.h"

namespace warden::testing {

class DecisionTest : public WardenTest {
 protected:
  // Creates the load agent, its session and its window policy (instant up to window_max).
  void set_up_window(std::uint64_t window_max) {
    window_max_ = window_max;
    std::string why;
    agent_ = login_new_agent(*client_, "load-agent", &why);
    ASSERT_FALSE(agent_.token.empty()) << why;
    policy_id_ = add_policy(*client_, "SPENDING_LIMIT", window_rules(window_max, window_max),
                            agent_.id, &why);
    ASSERT_FALSE(policy_id_.empty()) << why;
  }

  static void expect_clean(const LoadReport& report) {
    for (const auto& f : report.failures) ADD_FAILURE() << f;
    EXPECT_FALSE(report.deadline_hit) << "the load did not finish within its deadline";
  }

  // In transaction-id (creation) order, the running sum of allowed amounts never passes max.
  void expect_id_order_replay_within_max(const LoadReport& report) {
    std::vector<const TxAck*> allowed;
    for (const auto& a : report.acks) {
      if (a.allowed) allowed.push_back(&a);
    }
    std::sort(allowed.begin(), allowed.end(),
              [](const TxAck* x, const TxAck* y) { return x->id < y->id; });
    std::uint64_t running = 0;
    for (const TxAck* a : allowed) {
      running += a->amount;
      ASSERT_LE(running, window_max_) << "passed the window max at " << a->id;
    }
  }

  // Row, audit and chain checks; returns the window total recomputed from rows. `acks` must
  // all be present with their acknowledged (or, when unacked_status is set, that) status.
  std::uint64_t check_database(const std::vector<TxAck>& acks) {
    DbSnapshot db = read_database(warden_->database_path(), agent_.id);
    EXPECT_EQ(db.error, "");
    std::map<std::string, const TxRow*> rows;
    for (const auto& r : db.transactions) rows[r.id] = &r;
    int missing = 0, mismatched = 0;
    for (const auto& a : acks) {
      auto it = rows.find(a.id);
      if (it == rows.end()) {
        if (++missing <= 5) ADD_FAILURE() << "acknowledged " << a.id << " has no row";
        continue;
      }
      const std::string& s = it->second->status;
      if (s != a.status && (a.unacked_status.empty() || s != a.unacked_status)) {
        if (++mismatched <= 5) {
          ADD_FAILURE() << a.id << " row status " << s << ", acknowledged " << a.status;
        }
      }
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(mismatched, 0);

    const std::uint64_t total = window_total_from_rows(db.transactions);
    EXPECT_LE(total, window_max_) << "confirmed + reserved rows exceed the window max";

    // Exactly one TX_DECIDED audit row per transaction, and none for a missing row.
    std::map<std::string, int> decided = decided_counts(db.audit);
    int bad_counts = 0;
    for (const auto& r : db.transactions) {
      const int n = decided.count(r.id) ? decided[r.id] : 0;
      if (n != 1 && ++bad_counts <= 5) ADD_FAILURE() << r.id << " has " << n << " TX_DECIDED";
    }
    std::size_t agent_decided = 0;
    for (const auto& a : db.audit) {
      if (a.event_type == "TX_DECIDED" && a.agent_id == agent_.id) ++agent_decided;
    }
    EXPECT_EQ(bad_counts, 0);
    EXPECT_EQ(agent_decided, db.transactions.size());

    // Replayed in commit order, confirmed + reserved never passed the max.
    ReplayResult replay = replay_audit(db.audit, agent_.id);
    EXPECT_EQ(replay.error, "");
    EXPECT_LE(replay.peak, window_max_) << "audit replay passed the window max";
    EXPECT_EQ(replay.final_total, total) << "audit replay disagrees with the rows";

    CliResult verify = warden_->cli({"audit", "verify"});
    EXPECT_EQ(verify.exit_code, 0) << verify.output();
    return total;
  }

  // The engine's window total equals `total`: (max - total) is allowed, then 1 more is denied.
  void expect_engine_total(HttpClient& c, std::uint64_t total) {
    ASSERT_LE(total, window_max_);
    const std::uint64_t remainder = window_max_ - total;
    if (remainder > 0) {
      Response exact = post_transfer(c, agent_.token, std::to_string(remainder));
      ASSERT_EQ(exact.status, 201) << exact.describe();
      EXPECT_EQ(str_at(exact.json(), "effect"), "ALLOW")
          << "remainder " << remainder << " of " << window_max_ << " refused: " << exact.body;
    }
    Response over = post_transfer(c, agent_.token, "1");
    ASSERT_EQ(over.status, 201) << over.describe();
    EXPECT_EQ(str_at(over.json(), "effect"), "DENY")
        << "1 more than the remainder allowed (total " << total << "): " << over.body;
  }

  std::uint64_t window_max_ = 0;
  AgentLogin agent_;
  std::string policy_id_;
};

}  // namespace warden::testing
