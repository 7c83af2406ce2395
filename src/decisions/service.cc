// The decision service's life: construction, start (policies, recovery, sweeper), stop, policy
// reloads, reads, and the announcement of committed NOTIFY/APPROVAL transactions.
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "core/thread_name.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {
constexpr std::size_t kPageSize = 1000;
}  // namespace

DecisionService::DecisionService(store::Store& store, store::BatchWriter& writer,
                                 const Clock& clock, IdGenerator& ids, DecisionOptions options,
                                 Notifier* notifier)
    : store_(store), writer_(writer), clock_(clock), ids_(ids), options_(options),
      notifier_(notifier), idempotency_(std::make_unique<IdempotencyTable>()) {}

DecisionService::~DecisionService() { stop(); }

Status DecisionService::start() {
  WARDEN_RETURN_IF_ERROR(reload_policies());
  WARDEN_RETURN_IF_ERROR(recover());
  if (options_.start_sweeper) sweeper_ = std::thread([this] {
      name_this_thread("warden-sweeper");
      sweeper_loop();
    });
  return Status();
}

void DecisionService::stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

Status DecisionService::reload_policies() {
  std::lock_guard lock(reload_mu_);
  std::vector<engine::PolicyInput> inputs;
  store::Page page;
  page.limit = kPageSize;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_policies({}, page));
    for (const auto& row : rows) {
      auto rules = parse_json(row.rules);
      if (!rules.ok() || !rules->is_object()) {
        return Status(ErrorCode::INTERNAL_STORE_ERROR, "policy " + row.id + " has corrupt rules");
      }
      inputs.push_back({row.id, row.agent_id, row.type, std::move(rules->as_object()),
                        row.priority, row.enabled});
    }
    if (rows.size() < page.limit) break;
    page.after_id = rows.back().id;
  }
  return engine_.load_policies(inputs);
}


Result<json::object> DecisionService::get(const std::string& tx_id, const Actor& actor) {
  WARDEN_ASSIGN_OR_RETURN(auto row, store_.get_transaction(tx_id));
  if (!row || !owned_by(*row, actor)) return Status(ErrorCode::TX_NOT_FOUND);
  return transaction_json(*row);
}

Result<std::vector<json::object>> DecisionService::list_approvals(bool pending_only,
                                                                  const store::Page& page) {
  WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_approvals(pending_only, page));
  std::vector<json::object> out;
  for (const auto& a : rows) {
    WARDEN_ASSIGN_OR_RETURN(auto tx, store_.get_transaction(a.tx_id));
    json::object o{{"id", a.id},
                   {"tx_id", a.tx_id},
                   {"status", approval_status(a, tx ? &*tx : nullptr)},
                   {"expires_at", format_rfc3339(a.expires_at)},
                   {"approved_at", nullable_time(a.approved_at)},
                   {"rejected_at", nullable_time(a.rejected_at)},
                   {"created_at", format_rfc3339(a.created_at)}};
    if (tx) o["transaction"] = transaction_json(*tx);
    out.push_back(std::move(o));
  }
  return out;
}

void DecisionService::committed(const store::TransactionRow& row, bool decided,
                                const json::object* built) {
  if (notifier_ == nullptr) return;
  const bool notify_tier = row.tier == std::optional<std::string>("NOTIFY") ||
                           row.tier == std::optional<std::string>("APPROVAL");
  if (!notify_tier) return;  // INSTANT and DELAY transactions are not announced
  json::object event;
  event["event"] = decided ? "transaction.decided" : "transaction.updated";
  event["transaction"] = built != nullptr ? *built : transaction_json(row);
  notifier_->notify(std::move(event));
}

}  // namespace warden::decisions
