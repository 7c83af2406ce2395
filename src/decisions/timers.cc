// Timers: DELAY release, approval expiry and reservation TTL, fired by the sweeper thread, which
// also forgets old idempotency keys and answers long polls past their deadline.
#include <algorithm>
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {

// Outcomes that mean the timer has nothing left to do: the transaction moved on without it.
bool settled_elsewhere(const Status& s) {
  return s.code() == ErrorCode::TX_INVALID_STATE || s.code() == ErrorCode::TX_NOT_FOUND;
}

}  // namespace

void DecisionService::add_timer(std::int64_t due_seconds, const std::string& tx_id, TimerKind kind) {
  Timer t{due_seconds, tx_id, kind};
  std::lock_guard lock(timers_mu_);
  if (timers_.insert(t).second) timers_by_tx_[tx_id].push_back(std::move(t));
}

void DecisionService::cancel_timers(const std::string& tx_id) {
  std::lock_guard lock(timers_mu_);
  auto it = timers_by_tx_.find(tx_id);
  if (it == timers_by_tx_.end()) return;
  for (const Timer& t : it->second) timers_.erase(t);
  timers_by_tx_.erase(it);
}

std::size_t DecisionService::timers_pending() const {
  std::lock_guard lock(timers_mu_);
  return timers_.size();
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
// a no-op. A write that fails for any other reason (a full disk) is tried again later: a DELAY
// must not stay QUEUED, nor a reservation held, because of one failed write.
void DecisionService::fire(const Timer& t) {
  const std::int64_t now = clock_.now_seconds();
  const Actor actor = system_actor();
  Changed retry = [this, t](Result<json::object> r) {
    if (r.ok()) return;
    if (settled_elsewhere(r.status())) {
      // Settled by a request on another replica (cluster mode) or before the timer: what this
      // replica still holds of it in memory goes.
      if (options_.shared_store) forget_if_settled(t.tx_id);
      return;
    }
    add_timer(clock_.now_seconds() + kTimerRetrySeconds, t.tx_id, t.kind);
  };
  switch (t.kind) {
    case TimerKind::kExecutable:
      return transition(
          t.tx_id, actor,
          [now](store::WriteTxn&, store::TransactionRow& row, store::AuditEvent& e) -> Status {
            if (row.status != "QUEUED" || !row.executable_at || *row.executable_at > now ||
                row.tier != std::optional<std::string>("DELAY")) {
              return invalid_state(row, "not a due DELAY");
            }
            row.status = "PENDING";
            e.event_type = "TX_EXECUTABLE";
            return Status();
          },
          nullptr, retry);
    case TimerKind::kApprovalExpiry:
      return transition(
          t.tx_id, actor,
          [now](store::WriteTxn& tx, store::TransactionRow& row, store::AuditEvent& e) -> Status {
            WARDEN_ASSIGN_OR_RETURN(auto a, tx.find_approval_by_tx(row.id));
            if (row.status != "QUEUED" || !a || a->approved_at || a->rejected_at ||
                a->expires_at > now) {
              return invalid_state(row, "approval not due");
            }
            row.status = "CANCELLED";
            row.error = "approval expired";
            e.event_type = "APPROVAL_EXPIRED";
            e.details = json::serialize(json::object{{"approval_id", a->id}});
            return Status();
          },
          [this](const store::TransactionRow& row) {
            engine_.release(row.agent_id, row.id);
            if (DecisionObserver* observer = observer_.load()) observer->on_approval_expired(row);
          },
          retry);
    case TimerKind::kTtl:
      return transition(
          t.tx_id, actor,
          [now](store::WriteTxn&, store::TransactionRow& row, store::AuditEvent& e) -> Status {
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
          retry);
  }
}

Result<std::optional<std::int64_t>> DecisionService::approval_expiry_of(
    const store::TransactionRow& row) {
  if (row.tier != std::optional<std::string>("APPROVAL") || row.status != "QUEUED") {
    return std::optional<std::int64_t>();
  }
  WARDEN_ASSIGN_OR_RETURN(auto approval, store_.find_approval_by_tx(row.id));
  return approval ? std::optional(approval->expires_at) : std::nullopt;
}

bool DecisionService::forget_if_settled(const std::string& tx_id) {
  auto row = store_.get_transaction(tx_id);
  if (!row.ok() || !*row) return false;
  if ((*row)->status == "PENDING" || (*row)->status == "QUEUED") return false;
  cancel_timers(tx_id);
  engine_.release((*row)->agent_id, tx_id);
  return true;
}

void DecisionService::cluster_timers(std::int64_t now_ms, bool leading) {
  const bool started_leading = leading && !was_leading_;
  was_leading_ = leading;
  if (!started_leading && now_ms < cluster_scan_due_ms_) return;
  cluster_scan_due_ms_ = now_ms + kClusterTimerScanMs;
  if (leading) {
    // Every open transaction whose timer falls before the scan after next gets it here,
    // whichever replica decided it (a timer already queued is not added twice). Only those: the
    // rest are read by a later scan, in time, so a scan costs what is about to fall due rather
    // than every open reservation of the cluster.
    store::TransactionFilter due;
    due.statuses = {"PENDING", "QUEUED"};
    due.due_before = (now_ms + 2 * kClusterTimerScanMs) / 1000;
    // A failed read ends this scan; the next one, 5 s later, reads it again.
    (void)scan_transactions(store_, due, [this](const store::TransactionRow& row) {
      auto approval_expiry = approval_expiry_of(row);
      schedule(row, approval_expiry.ok() ? *approval_expiry : std::nullopt);
      return Status();
    });
    return;
  }
  // A follower: its due timers belong to the leader, but those another replica settled free
  // what this one holds of them in memory.
  std::vector<std::string> due;
  {
    std::lock_guard lock(timers_mu_);
    for (const Timer& t : timers_) {
      if (t.due_seconds > now_ms / 1000) break;
      if (due.empty() || due.back() != t.tx_id) due.push_back(t.tx_id);
    }
  }
  for (const std::string& tx_id : due) forget_if_settled(tx_id);
}

void DecisionService::sweep() {
  std::lock_guard sweep_lock(sweep_mu_);
  const std::int64_t now_ms = clock_.now_ms();
  idempotency_->forget_before(now_ms / 1000 - std::min(options_.idempotency_memory_seconds,
                                                       options_.idempotency_retention_seconds));
  if (options_.shared_store) cluster_timers(now_ms, store::sweeps(options_.leadership));
  std::vector<Timer> due;
  if (store::sweeps(options_.leadership)) {
    std::lock_guard lock(timers_mu_);
    const std::int64_t now = now_ms / 1000;
    while (!timers_.empty() && timers_.begin()->due_seconds <= now) {
      due.push_back(std::move(timers_.extract(timers_.begin()).value()));
      auto by_tx = timers_by_tx_.find(due.back().tx_id);
      if (by_tx == timers_by_tx_.end()) continue;
      std::erase(by_tx->second, due.back());
      if (by_tx->second.empty()) timers_by_tx_.erase(by_tx);
    }
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
