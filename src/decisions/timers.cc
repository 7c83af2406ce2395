// Timers: DELAY release, approval expiry and reservation TTL, fired by the sweeper thread, which
// also forgets old idempotency keys and answers long polls past their deadline.
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

void DecisionService::add_timer(std::int64_t due_seconds, const std::string& tx_id, TimerKind kind) {
  std::lock_guard lock(timers_mu_);
  timers_.emplace(due_seconds, Timer{tx_id, kind});
}

void DecisionService::schedule(const store::TransactionRow& row,
                               std::optional<std::int64_t> approval_expiry) {
  if (row.status != "PENDING" && row.status != "QUEUED") return;
  if (row.status == "QUEUED" && row.executable_at) {
    add_timer(*row.executable_at, row.id, TimerKind::kExecutable);
  }
  if (row.status == "QUEUED" && approval_expiry) {
    add_timer(*approval_expiry, row.id, TimerKind::kApprovalExpiry);
  }
  if (row.expires_at) add_timer(*row.expires_at, row.id, TimerKind::kTtl);
}

// A due timer re-checks the row inside the write: a transition that already happened makes it
// a no-op (TX_INVALID_STATE is expected and ignored).
void DecisionService::fire(const Timer& t) {
  const std::int64_t now = clock_.now_seconds();
  const Actor actor = system_actor();
  switch (t.kind) {
    case TimerKind::kExecutable:
      return transition(
          t.tx_id, actor,
          [now](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if (row.status != "QUEUED" || !row.executable_at || *row.executable_at > now ||
                row.tier != std::optional<std::string>("DELAY")) {
              return invalid_state(row, "not a due DELAY");
            }
            row.status = "PENDING";
            e.event_type = "TX_EXECUTABLE";
            return Status();
          },
          nullptr, nullptr);
    case TimerKind::kApprovalExpiry: {
      auto approval = store_.find_approval_by_tx(t.tx_id);
      if (!approval.ok() || !*approval) return;
      const store::ApprovalRow a = **approval;
      return transition(
          t.tx_id, actor,
          [now, a](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if (row.status != "QUEUED" || a.approved_at || a.rejected_at || a.expires_at > now) {
              return invalid_state(row, "approval not due");
            }
            row.status = "CANCELLED";
            row.error = "approval expired";
            e.event_type = "APPROVAL_EXPIRED";
            e.details = json::serialize(json::object{{"approval_id", a.id}});
            return Status();
          },
          [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
          nullptr);
    }
    case TimerKind::kTtl:
      return transition(
          t.tx_id, actor,
          [now](store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if ((row.status != "PENDING" && row.status != "QUEUED") || !row.expires_at ||
                *row.expires_at > now) {
              return invalid_state(row, "not due");
            }
            row.status = "EXPIRED";
            e.event_type = "TX_EXPIRED";
            e.severity = "warning";
            return Status();
          },
          [this](const store::TransactionRow& row) { engine_.release(row.agent_id, row.id); },
          nullptr);
  }
}

void DecisionService::sweep() {
  std::lock_guard sweep_lock(sweep_mu_);
  const std::int64_t now_ms = clock_.now_ms();
  idempotency_->forget_before(now_ms / 1000 - options_.idempotency_retention_seconds);
  std::vector<Timer> due;
  {
    std::lock_guard lock(timers_mu_);
    auto end = timers_.upper_bound(now_ms / 1000);
    for (auto it = timers_.begin(); it != end; ++it) due.push_back(std::move(it->second));
    timers_.erase(timers_.begin(), end);
  }
  for (const auto& t : due) fire(t);

  std::vector<std::pair<std::string, std::shared_ptr<Once>>> expired;
  {
    std::lock_guard lock(waiters_mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline_ms <= now_ms) {
        expired.emplace_back(it->first, it->second.once);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [tx_id, once] : expired) {
    auto row = store_.get_transaction(tx_id);
    if (!row.ok()) {
      (*once)(row.take_status());
    } else if (!*row) {
      (*once)(Status(ErrorCode::TX_NOT_FOUND));
    } else {
      (*once)(transaction_json(**row));
    }
  }
}

void DecisionService::sweeper_loop() {
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms));
    if (stopping_) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

}  // namespace warden::decisions
