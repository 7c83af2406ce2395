// Test helpers for every store backend: sample rows, and a way to hold the group-commit writer
// inside an operation. Backend-specific helpers live beside their backend
// (store/sqlite/test_util.h).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <utility>

#include "store/batch_writer.h"
#include "store/store.h"

namespace warden::store::testing {

// Holds the writer thread inside an operation (a batch of its own) until release(), so
// submissions pile up as the next batch. Stop the writer or wait for outcome() before it goes.
class BlockedWriter {
 public:
  explicit BlockedWriter(BatchWriter& writer) {
    Status s = writer.submit(
        [this](WriteTxn& t) {
          entered_.set_value();
          released_.wait();
          return t.put_kv("blocker", "1", 1);
        },
        [this](const Status& s) { done_.set_value(s); });
    if (!s.ok()) std::abort();     // the writer refused: nothing to hold
    entered_.get_future().wait();  // taken off the queue: the queue is empty again
  }
  ~BlockedWriter() { release(); }
  void release() {
    if (!std::exchange(released_once_, true)) release_.set_value();
  }
  Status outcome() { return done_.get_future().get(); }

 private:
  std::promise<void> entered_;
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  std::promise<Status> done_;
  bool released_once_ = false;
};

AgentRow sample_agent(std::string id, std::optional<std::string> public_key);
SessionRow sample_session(std::string id, std::string agent_id, std::string token_hash);
PolicyRow sample_policy(std::string id, std::optional<std::string> agent_id, std::string type,
                        std::string hash);
AuditEvent sample_event(std::string event_type, std::optional<std::string> agent_id = {});
OrgRow sample_org(std::string id, std::string name);

// The gateway's rows: an OpenAI deployment, and an agent's key with the given hash.
ModelRow sample_model(std::string id, std::string name);
ApiKeyRow sample_key(std::string id, std::string agent_id, std::string hash);

// An enabled automation, and its execution number `n` (ids sort by n, as UUID v7 by time).
AutomationRow sample_automation(std::string id, std::string hash);
AutomationExecutionRow sample_execution(const std::string& automation_id, int n);

// The ledger's rows, all created at kLedgerNow: a granted lot, an operation (its request hash
// "hash-<id>"), an entry of a lot, a pending USD hold expiring a minute later, a Stripe payment
// of 5000 USD by a1.
inline constexpr std::int64_t kLedgerNow = 1'767'225'600;
LotRow lot(std::string id, std::string owner, std::string amount, std::string currency = "USD");
LedgerOpRow op(std::string id, std::string kind, std::optional<std::string> key = {},
               std::int64_t created_at = kLedgerNow);
LotEntryRow entry(const LotRow& l, std::string type, std::string amount, std::string op_id,
                  std::optional<std::string> hold_id = {});
HoldRow hold(std::string id, std::string owner, std::string amount);
PaymentRow payment(std::string id, std::string status);

}  // namespace warden::store::testing
