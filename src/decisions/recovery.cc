// Recovery at start-up: rebuilds meters, open reservations, timers and cooldowns from the
// store.

#include <boost/json/serialize.hpp>
#include <optional>
#include <string>

#include "core/ids.h"
#include "core/json.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

namespace {

// Set once the usage buckets hold every confirmed transaction written before they existed.
constexpr std::string_view kUsageBackfilledKey = "meter_usage_backfilled";
// How much earlier than its created_at a transaction's id may say it was made (the id is drawn
// before the decision reads the clock for created_at); a scan of a recent period starts this
// much before it and drops the extra rows.
constexpr std::int64_t kIdBeforeCreatedMaxSeconds = 60;

}  // namespace

// A database from before the usage buckets: every confirmed transaction goes into them once.
Status DecisionService::backfill_usage() {
  WARDEN_ASSIGN_OR_RETURN(auto done, store_.get_kv(kUsageBackfilledKey));
  if (done) return Status();
  const std::int64_t now = clock_.now_seconds();
  return writer_.run([now](store::WriteTxn& tx) -> Status {
    WARDEN_RETURN_IF_ERROR(scan_transactions(tx, {.statuses = {"CONFIRMED"}},
                                             [&](const store::TransactionRow& row) {
      return record_usage(tx, row.agent_id, settled_charges(row));
    }));
    return tx.put_kv(kUsageBackfilledKey, "1", now);
  });
}

// Rebuilds what the policy load does not: open reservations with their timers, and running
// cooldowns. (The first policy load already rebuilt every window from the settled usage buckets
// inside it, without reading old transactions.)
Status DecisionService::recover() {
  WARDEN_RETURN_IF_ERROR(scan_transactions(store_, {.statuses = {"PENDING", "QUEUED"}},
                                           [&](const store::TransactionRow& row) {
    engine_.restore(row.agent_id, row.id, charges_from(metadata_of(row)), true);
    WARDEN_ASSIGN_OR_RETURN(const auto approval_expiry, approval_expiry_of(row));
    schedule(row, approval_expiry);
    return Status();
  }));
  // Idempotency keys are not read back: a key the replay table does not know is still unique in
  // the store, whose index refuses the repeat, and the refusal is answered from the row that
  // holds the key (answer_for_held_key). So start-up reads nothing of the day's decisions.
  return restore_cooldowns();
}

// A `post` cooldown that matched before the restart still applies until its end. It matched
// at a settlement, at most a reservation TTL after the decision (a late confirm of an expired
// reservation can come later; its cooldown is not rebuilt), so the transactions created within
// the longest cooldown plus the TTL hold every one still running.
Status DecisionService::restore_cooldowns() {
  const std::int64_t longest_ms = engine_.max_post_cooldown_ms();
  if (longest_ms <= 0) return Status();
  const std::int64_t now_ms = clock_.now_ms();
  const std::int64_t since_s = (now_ms - longest_ms) / 1000 - options_.reservation_ttl_seconds - 1;
  // Ids are UUID v7 (time first), so the period is a range of the primary key that each page
  // seeks and reads on (a created_at filter had every page search the created_at index for the
  // whole period and sort it again). The status is checked here, since a status filter could
  // have SQLite read every CONFIRMED row through the status index and sort.
  return scan_transactions(
      store_, {},
      [&](const store::TransactionRow& row) {
        if (row.status != "CONFIRMED" || row.created_at < since_s ||
            row.metadata.find("cooldown_until_ms") == std::string::npos) {
          return Status();
        }
        const json::object meta = metadata_of(row);
        const auto* reasons = meta.if_contains("post_reasons");
        if (reasons == nullptr || !reasons->is_array()) return Status();
        for (const auto& r : reasons->as_array()) {
          if (!r.is_object()) continue;
          const auto* policy_id = r.as_object().if_contains("policy_id");
          const auto* until = r.as_object().if_contains("cooldown_until_ms");
          if (policy_id == nullptr || !policy_id->is_string() || until == nullptr ||
              !until->is_int64() || until->as_int64() <= now_ms) {
            continue;
          }
          engine_.post_matched(row.agent_id, std::string(policy_id->as_string()),
                               until->as_int64());
        }
        return Status();
      },
      uuid_v7_floor((since_s - kIdBeforeCreatedMaxSeconds) * 1000));
}

}  // namespace warden::decisions
