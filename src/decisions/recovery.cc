// Recovery at start-up: rebuilds meters, open reservations, timers and idempotency keys from
// the store.
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {
constexpr std::size_t kRecoveryPageSize = 1000;
// Calendar months are at most 31 days; settled spend older than this counts in no window.
constexpr std::int64_t kSettledLookbackSeconds = 32 * 86'400;
}  // namespace

// Rebuilds meters (open reservations and recent settled spend), idempotency keys and timers.
Status DecisionService::recover() {
  const std::int64_t now = clock_.now_seconds();
  auto scan = [&](store::TransactionFilter filter, auto&& each) -> Status {
    store::Page page;
    page.limit = kRecoveryPageSize;
    for (;;) {
      WARDEN_ASSIGN_OR_RETURN(auto rows, store_.list_transactions(filter, page));
      for (const auto& row : rows) WARDEN_RETURN_IF_ERROR(each(row));
      if (rows.size() < page.limit) return Status();
      page.after_id = rows.back().id;
    }
  };
  WARDEN_RETURN_IF_ERROR(scan({{"PENDING", "QUEUED"}, {}, {}}, [&](const store::TransactionRow& row) {
    engine_.restore(row.agent_id, row.id, charges_from(metadata_of(row)), true);
    std::optional<std::int64_t> approval_expiry;
    if (row.tier == std::optional<std::string>("APPROVAL") && row.status == "QUEUED") {
      WARDEN_ASSIGN_OR_RETURN(auto approval, store_.find_approval_by_tx(row.id));
      if (approval) approval_expiry = approval->expires_at;
    }
    schedule(row, approval_expiry);
    return Status();
  }));
  WARDEN_RETURN_IF_ERROR(scan({{"CONFIRMED"}, {}, now - kSettledLookbackSeconds},
                              [&](const store::TransactionRow& row) {
    auto charges = charges_from(metadata_of(row));
    if (row.final_amount) {
      const auto final_amount = Amount::parse(*row.final_amount);
      for (auto& c : charges) {
        if (c.kind == engine::MeterKind::kAmount && final_amount.ok()) c.amount = *final_amount;
      }
    }
    engine_.restore(row.agent_id, row.id, charges, false);
    return Status();
  }));
  return scan({{}, {}, now - options_.idempotency_retention_seconds},
              [&](const store::TransactionRow& row) {
    if (row.idempotency_key) {
      idempotency_->restore(row.agent_id + "\n" + *row.idempotency_key,
                           row.request_hash.value_or(""), row.id, row.created_at);
    }
    return Status();
  });
}

}  // namespace warden::decisions
