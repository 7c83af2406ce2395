// What the decision service's files share: the pieces of one decision's rows, the idempotency
// table and the one-shot long-poll callback. Not part of the module's API (decisions.h is).
#pragma once

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/recent_keys.h"
#include "decisions/decisions.h"

namespace warden::decisions {

// Calls each for every transaction the filter matches after `after_id` (none: from the first), a
// page at a time; stops at the first failure (a read's or each's).
template <class Each>
Status scan_transactions(store::Reader& reader, const store::TransactionFilter& filter, Each&& each,
                         std::optional<std::string> after_id = std::nullopt) {
  constexpr std::size_t kPageRows = 1000;
  store::Page page;
  page.limit = kPageRows;
  page.after_id = std::move(after_id);
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, reader.list_transactions(filter, page));
    for (const auto& row : rows) WARDEN_RETURN_IF_ERROR(each(row));
    if (rows.size() < page.limit) return Status();
    page.after_id = rows.back().id;
  }
}

// Calls a long poll's callback exactly once, whichever of change or deadline comes first.
struct Once {
  std::atomic<bool> fired{false};
  DecisionService::Changed done;
  void operator()(Result<boost::json::object> r) {
    if (!fired.exchange(true)) done(std::move(r));
  }
};

// What one decision writes: the transaction, its approval (APPROVAL tier) and its audit row.
struct PendingWrite {
  store::TransactionRow row;
  std::optional<store::ApprovalRow> approval;
  store::AuditEvent audit;
  std::optional<store::OutboxRow> event;  // NOTIFY/APPROVAL with a notifier
  bool holds = false;  // the decision took BUDGET holds (written with it)
  std::vector<std::string> reserved_assets;  // the assets its window charges and holds reserved
  std::shared_ptr<const engine::Decision> decision;  // kept only for a DecisionObserver
  // Cluster mode: the windows the store checks against every replica's usage at commit, the
  // BUDGET policy of the holds, and why the store refused the decision (then stored as DENIED).
  std::vector<engine::WindowCharge> windows;
  std::string budget_policy_id;
  std::optional<engine::Reason> refused;
};

// Cluster mode: the windows' entries kept in a decision's metadata ("windows"), so that its
// release and settlement adjust the shared counts.
boost::json::array windows_json(const std::vector<engine::WindowCharge>& windows);
// What the decision counts in each shared window now: its charges as reserved while PENDING or
// QUEUED, as settled once CONFIRMED, nothing otherwise.
Status adjust_windows(store::WriteTxn& tx, const store::TransactionRow& before,
                      const store::TransactionRow& after);

boost::json::object metadata_of(const store::TransactionRow& row);
boost::json::array charges_json(const std::vector<engine::Charge>& charges);
std::vector<engine::Charge> charges_from(const boost::json::object& metadata);
// What a confirmed transaction spent: its charges with amounts lowered to its final amount, or
// set to the final amount of their asset (a metered settlement's "final_amounts").
std::vector<engine::Charge> settled_charges(const store::TransactionRow& row);
// The metadata's "final_amounts" {asset: decimal} (empty without).
std::map<std::string, Amount> final_amounts_of(const boost::json::object& metadata);
// The request as CUSTOM `post` reads it at settlement: action, attributes and amounts, kept in
// the metadata of decisions that have a `post` to run.
boost::json::object request_json(const engine::Request& request);
engine::Request request_from(const boost::json::object& saved, const std::string& agent_id);
// Adds settled charges to the agent's usage buckets (in the settlement's transaction).
Status record_usage(store::WriteTxn& tx, const std::string& agent_id,
                    const std::vector<engine::Charge>& charges);
bool owned_by(const store::TransactionRow& row, const Actor& actor);
store::AuditEvent audit_for(const Actor& actor, const store::TransactionRow& row,
                            std::string event_type, std::int64_t now);
Status invalid_state(const store::TransactionRow& row, std::string_view wanted);
// Closed approvals say why: APPROVED, REJECTED, EXPIRED or CANCELLED (the transaction went
// first); PENDING while open.
std::string_view approval_status(const store::ApprovalRow& a, const store::TransactionRow* tx);
Actor system_actor();

// Idempotency keys per agent ("agent_id\nkey"): the first request with a key claims it (with the
// id its transaction will have), identical requests that arrive while it commits wait for its
// answer, and later ones replay it; a different request under the same key is a conflict. It
// holds the recent keys only (core/recent_keys.h); a repeat it forgot is answered from the store
// (DecisionService::answer_for_held_key). Thread-safe.
class IdempotencyTable {
 public:
  using Done = DecisionService::Done;
  using Keys = RecentKeys<std::string, Done>;  // payload: the transaction's id
  using Outcome = Keys::Outcome;
  struct Claim {
    Outcome outcome;
    std::string tx_id;  // all but kClaimed: the transaction that holds the key
  };

  explicit IdempotencyTable(std::size_t keys_max = 100'000) : keys_(keys_max) {}

  // kWaiting takes `done` (it runs with the first request's answer); the others leave it.
  Claim claim(const std::string& key, const std::string& request_hash, const std::string& tx_id,
              std::int64_t now_s, Done& done) {
    Claim c;
    c.outcome = keys_.claim(key, request_hash, now_s, tx_id, done, &c.tx_id);
    return c;
  }
  // The claim's decision committed (`ok`) or failed (the key is free again): returns the
  // identical requests that waited for it.
  std::vector<Done> finish(const std::string& key, bool ok) {
    return ok ? keys_.commit(key) : keys_.release(key);
  }
  // Forgets committed keys first seen before oldest_s.
  void forget_before(std::int64_t oldest_s) { keys_.forget_before(oldest_s); }
  std::size_t size() { return keys_.size(); }

 private:
  Keys keys_;
};

}  // namespace warden::decisions
