// The decision service's life: construction, start (policies, recovery, sweeper), stop, policy
// reloads, reads, and the announcement of committed NOTIFY/APPROVAL transactions.
#include <boost/json/serialize.hpp>
#include <future>

#include "core/json.h"
#include "core/thread_name.h"
#include "decisions/internal.h"
#include "ledger/service.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {
constexpr std::size_t kPageSize = 1000;
}  // namespace

DecisionService::DecisionService(store::Store& store, store::BatchWriter& writer,
                                 const Clock& clock, IdGenerator& ids, DecisionOptions options,
                                 Notifier* notifier)
    : store_(store), writer_(writer), clock_(clock), ids_(ids), options_(options),
      notifier_(notifier),
      idempotency_(std::make_unique<IdempotencyTable>(options.idempotency_memory_keys_max)) {
  engine_.set_shared_windows(options_.shared_store);
}

DecisionService::~DecisionService() { stop(); }

void DecisionService::set_ledger(ledger::LedgerService* ledger) {
  ledger_ = ledger;
  engine_.set_budgets(ledger);
}

Status DecisionService::start() {
  WARDEN_RETURN_IF_ERROR(backfill_usage());
  // Builds every window from the usage recorded inside it (the first load's windows are all new).
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
  std::promise<Status> reloaded;
  reload_policies([&reloaded](const Status& s) { reloaded.set_value(s); });
  return reloaded.get_future().get();
}

void DecisionService::reload_policies(std::function<void(const Status&)> done) {
  // Alone in its batch: every earlier settlement has committed and reached the engine, and
  // none lands while the history of a changed window is read.
  auto op = [this](store::WriteTxn& tx) { return load_policies(tx); };
  if (Status s = writer_.submit_alone(std::move(op), done); !s.ok()) done(s);
}

Status DecisionService::load_policies(store::Reader& reader) {
  std::lock_guard lock(reload_mu_);
  std::vector<engine::PolicyInput> inputs;
  store::Page page;
  page.limit = kPageSize;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(auto rows, reader.list_policies({}, page));
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
  auto history = [&reader](const std::string& usage, std::int64_t since_ms,
                           const engine::UsageSink& sink) {
    store::MeterUsageFilter filter;
    filter.bucket_min = since_ms / 1000 - 1;
    // "<pid>/llm_tokens@": every per-model key of the usage.
    if (!usage.empty() && usage.back() == engine::kModelSeparator) {
      filter.meter_prefix = usage;
    } else {
      filter.meter = usage;
    }
    return reader.scan_meter_usage(filter, [&](const store::MeterUsageRow& r) {
      WARDEN_ASSIGN_OR_RETURN(Amount amount, Amount::parse(r.amount));
      // Usage is stored by the second: it counts as of the second's last millisecond, so it
      // leaves a window at most a second late, never early.
      sink(r.agent_id, r.bucket * 1000 + 999, amount, r.meter);
      return Status();
    });
  };
  return engine_.load_policies(inputs, history, clock_.now_ms());
}


Result<json::object> DecisionService::get(const std::string& tx_id, const Actor& actor) {
  WARDEN_ASSIGN_OR_RETURN(auto row, store_.get_transaction(tx_id));
  if (!row || !owned_by(*row, actor)) return Status(ErrorCode::TX_NOT_FOUND);
  return transaction_json(*row);
}

Result<std::vector<json::object>> DecisionService::list_approvals(bool pending_only,
                                                                  const store::Page& page,
                                                                  store::Reader* reader) {
  store::Reader& from = reader != nullptr ? *reader : store_;
  WARDEN_ASSIGN_OR_RETURN(auto rows, from.list_approvals(pending_only, page));
  std::vector<json::object> out;
  for (const auto& a : rows) {
    WARDEN_ASSIGN_OR_RETURN(auto tx, from.get_transaction(a.tx_id));
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

namespace {
// INSTANT and DELAY transactions are not announced.
bool announced_tier(const store::TransactionRow& row) {
  return row.tier == std::optional<std::string>("NOTIFY") ||
         row.tier == std::optional<std::string>("APPROVAL");
}
}  // namespace

std::optional<store::OutboxRow> DecisionService::outbox_event(const store::TransactionRow& row,
                                                              bool decided,
                                                              const json::object* built) {
  if (notifier_ == nullptr || !announced_tier(row)) return std::nullopt;
  store::OutboxRow out;
  out.id = ids_.next();
  json::object event;
  event["event"] = decided ? "transaction.decided" : "transaction.updated";
  event["event_id"] = out.id;
  event["transaction"] = built != nullptr ? *built : transaction_json(row);
  out.event = json::serialize(event);
  out.created_at = out.next_attempt_at = clock_.now_seconds();
  return out;
}

Status DecisionService::enqueue_event(store::WriteTxn& tx, const store::TransactionRow& row,
                                      bool decided) {
  auto event = outbox_event(row, decided);
  return event ? tx.insert_outbox(*event) : Status();
}

void DecisionService::announced(const store::TransactionRow& row) {
  if (notifier_ != nullptr && announced_tier(row)) notifier_->wake();
}

}  // namespace warden::decisions
