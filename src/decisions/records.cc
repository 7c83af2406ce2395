// The rows a decision writes and how they read back: transaction JSON, persisted charges,
// audit events and ownership.
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "core/json.h"
#include "decisions/internal.h"

namespace warden::decisions {
namespace json = boost::json;

json::object metadata_of(const store::TransactionRow& r) {
  auto v = parse_json(r.metadata);
  return v.ok() && v->is_object() ? std::move(v->as_object()) : json::object();
}

json::array charges_json(const std::vector<engine::Charge>& charges) {
  json::array out;
  for (const auto& c : charges) {
    json::object o{{"usage", c.usage},
                   {"kind", c.kind == engine::MeterKind::kRequests ? "requests" : "amount"},
                   {"amount", c.amount.to_string()},
                   {"ts_ms", c.ts_ms}};
    if (!c.asset.empty()) o["asset"] = c.asset;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<engine::Charge> charges_from(const json::object& metadata) {
  std::vector<engine::Charge> out;
  const auto* arr = metadata.if_contains("charges");
  if (!arr || !arr->is_array()) return out;
  for (const auto& v : arr->as_array()) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    engine::Charge c;
    if (const auto* u = o.if_contains("usage"); u && u->is_string()) {
      c.usage = u->as_string();
    } else if (const auto* m = o.if_contains("meter"); m && m->is_string()) {
      // Rows written before usage keys name the window too: "<policy>/<asset>/<window>".
      const std::string_view meter = m->as_string();
      c.usage = std::string(meter.substr(0, meter.rfind('/')));
    }
    if (const auto* k = o.if_contains("kind"); k && k->is_string() && k->as_string() == "requests") {
      c.kind = engine::MeterKind::kRequests;
    }
    if (const auto* a = o.if_contains("amount"); a && a->is_string()) {
      auto parsed = Amount::parse(a->as_string());
      if (parsed.ok()) c.amount = *parsed;
    }
    if (const auto* t = o.if_contains("ts_ms"); t && t->is_int64()) c.ts_ms = t->as_int64();
    if (const auto* a = o.if_contains("asset"); a && a->is_string()) {
      c.asset = a->as_string();
    } else if (c.kind == engine::MeterKind::kAmount) {
      // Rows written before charges named their asset: the usage key says it.
      c.asset = engine::asset_of_usage(c.usage);
    }
    out.push_back(std::move(c));
  }
  return out;
}


bool owned_by(const store::TransactionRow& row, const Actor& actor) {
  return actor.master || actor.system || row.agent_id == actor.agent_id;
}

store::AuditEvent audit_for(const Actor& actor, const store::TransactionRow& row,
                            std::string event_type, std::int64_t now) {
  store::AuditEvent e;
  e.timestamp = now;
  e.event_type = std::move(event_type);
  e.actor = actor.name();
  e.agent_id = row.agent_id;
  if (!actor.session_id.empty()) e.session_id = actor.session_id;
  e.tx_id = row.id;
  if (!actor.ip_address.empty()) e.ip_address = actor.ip_address;
  if (!actor.correlation_id.empty()) e.correlation_id = actor.correlation_id;
  return e;
}

Status invalid_state(const store::TransactionRow& row, std::string_view wanted) {
  return Status(ErrorCode::TX_INVALID_STATE,
                "transaction is " + row.status + "; " + std::string(wanted),
                json::object{{"status", row.status}});
}

// Closed approvals say why: approved, rejected by the master, expired, or the transaction was
// cancelled or expired first.
std::string_view approval_status(const store::ApprovalRow& a, const store::TransactionRow* tx) {
  if (a.approved_at) return "APPROVED";
  if (!a.rejected_at) return "PENDING";
  if (tx && tx->error == std::optional<std::string>("approval expired")) return "EXPIRED";
  if (tx && tx->error == std::optional<std::string>("approval rejected")) return "REJECTED";
  return "CANCELLED";
}

Actor system_actor() {
  Actor a;
  a.system = true;
  return a;
}

std::map<std::string, Amount> final_amounts_of(const json::object& metadata) {
  std::map<std::string, Amount> out;
  const auto* finals = metadata.if_contains("final_amounts");
  if (finals == nullptr || !finals->is_object()) return out;
  for (const auto& [asset, amount] : finals->as_object()) {
    if (!amount.is_string()) continue;
    if (auto parsed = Amount::parse(amount.as_string()); parsed.ok()) {
      out[std::string(asset)] = *parsed;
    }
  }
  return out;
}

std::vector<engine::Charge> settled_charges(const store::TransactionRow& row) {
  const json::object meta = metadata_of(row);
  std::vector<engine::Charge> charges = charges_from(meta);
  // A metered settlement names each asset's final amount; the others stay as reserved.
  if (meta.contains("final_amounts")) {
    const std::map<std::string, Amount> finals = final_amounts_of(meta);
    for (auto& c : charges) {
      if (c.kind != engine::MeterKind::kAmount) continue;
      if (auto it = finals.find(c.asset); it != finals.end()) c.amount = it->second;
    }
    return charges;
  }
  if (!row.final_amount) return charges;
  const auto final_amount = Amount::parse(*row.final_amount);
  for (auto& c : charges) {
    if (c.kind == engine::MeterKind::kAmount && final_amount.ok()) c.amount = *final_amount;
  }
  return charges;
}

json::object request_json(const engine::Request& r) {
  json::object amounts;
  for (const auto& [asset, amount] : r.amounts) amounts[asset] = amount.to_string();
  return json::object{{"action", r.action}, {"attributes", r.attributes}, {"amounts", amounts}};
}

engine::Request request_from(const json::object& saved, const std::string& agent_id) {
  engine::Request r;
  r.agent_id = agent_id;
  if (const auto* a = saved.if_contains("action"); a && a->is_string()) r.action = a->as_string();
  if (const auto* a = saved.if_contains("attributes"); a && a->is_object()) {
    r.attributes = a->as_object();
  }
  if (const auto* a = saved.if_contains("amounts"); a && a->is_object()) {
    for (const auto& [asset, amount] : a->as_object()) {
      if (!amount.is_string()) continue;
      if (auto parsed = Amount::parse(amount.as_string()); parsed.ok()) {
        r.amounts[std::string(asset)] = *parsed;
      }
    }
  }
  return r;
}

Status record_usage(store::WriteTxn& tx, const std::string& agent_id,
                    const std::vector<engine::Charge>& charges) {
  for (const auto& c : charges) {
    if (c.amount.is_zero()) continue;
    // Seconds, rounded down also before 1970 (a meter's buckets are whole seconds or more).
    const std::int64_t bucket = c.ts_ms / 1000 - (c.ts_ms % 1000 < 0 ? 1 : 0);
    WARDEN_RETURN_IF_ERROR(tx.add_meter_usage({agent_id, c.usage, bucket, c.amount.to_string()}));
  }
  return Status();
}

json::object transaction_json(const store::TransactionRow& r) {
  return transaction_json(r, metadata_of(r));
}

json::object transaction_json(const store::TransactionRow& r, const json::object& meta) {
  json::object o;
  o.reserve(26);
  o["id"] = r.id;
  o["agent_id"] = r.agent_id;
  o["type"] = r.type;
  o["status"] = r.status;
  o["effect"] = r.status == "DENIED" ? "DENY" : "ALLOW";
  o["tier"] = nullable(r.tier);
  const auto* reasons = meta.if_contains("reasons");
  o["reasons"] = reasons ? *reasons : json::value(json::array());
  o["executable"] = r.status == "PENDING";
  o["amount"] = nullable(r.amount);
  o["reserved_amount"] = nullable(r.reserved_amount);
  o["final_amount"] = nullable(r.final_amount);
  if (r.type == "DECISION") {
    if (const auto* a = meta.if_contains("action")) o["action"] = *a;
    if (const auto* a = meta.if_contains("amounts")) o["amounts"] = *a;
  } else {
    o["to"] = nullable(r.to_address);
    o["token"] = nullable(r.token_mint);
    o["contract"] = nullable(r.contract_address);
    o["method"] = nullable(r.method_signature);
    o["spender"] = nullable(r.spender_address);
  }
  if (const auto* a = meta.if_contains("approval_id")) o["approval_id"] = *a;
  if (const auto* a = meta.if_contains("post_reasons")) o["post_reasons"] = *a;
  if (const auto* a = meta.if_contains("holds")) o["holds"] = *a;
  o["tx_hash"] = nullable(r.tx_hash);
  o["error"] = nullable(r.error);
  o["idempotency_key"] = nullable(r.idempotency_key);
  o["executable_at"] = nullable_time(r.executable_at);
  o["expires_at"] = nullable_time(r.expires_at);
  o["created_at"] = format_rfc3339(r.created_at);
  o["updated_at"] = format_rfc3339(r.updated_at);
  return o;
}

}  // namespace warden::decisions

namespace warden::decisions {

json::array windows_json(const std::vector<engine::WindowCharge>& windows) {
  json::array out;
  for (const auto& w : windows) {
    out.push_back(json::object{{"meter", w.meter}, {"usage", w.usage}, {"bucket_ms", w.bucket_ms}});
  }
  return out;
}

namespace {

// What the transaction counts under each usage key in the shared windows now.
std::map<std::string, Amount> counted(const store::TransactionRow& row) {
  std::map<std::string, Amount> out;
  std::vector<engine::Charge> charges;
  if (row.status == "PENDING" || row.status == "QUEUED") {
    charges = charges_from(metadata_of(row));
  } else if (row.status == "CONFIRMED") {
    charges = settled_charges(row);
  }
  for (auto& c : charges) out[c.usage] = c.amount;
  return out;
}

}  // namespace

Status adjust_windows(store::WriteTxn& tx, const store::TransactionRow& before,
                      const store::TransactionRow& after) {
  if (after.metadata.find("\"windows\"") == std::string::npos) return Status();
  const json::object meta = metadata_of(after);
  const auto* windows = meta.if_contains("windows");
  if (windows == nullptr || !windows->is_array()) return Status();
  const std::map<std::string, Amount> was = counted(before);
  const std::map<std::string, Amount> is = counted(after);
  for (const auto& v : windows->as_array()) {
    const auto* w = v.if_object();
    if (w == nullptr) continue;
    const auto* meter = w->if_contains("meter");
    const auto* usage = w->if_contains("usage");
    const auto* bucket = w->if_contains("bucket_ms");
    if (!meter || !meter->is_string() || !usage || !usage->is_string() || !bucket ||
        !bucket->is_int64()) {
      continue;
    }
    const std::string key(usage->as_string());
    const Amount from = was.contains(key) ? was.at(key) : Amount();
    const Amount to = is.contains(key) ? is.at(key) : Amount();
    if (from == to) continue;
    const bool subtract = to < from;
    const Amount delta = subtract ? *from.checked_sub(to) : *to.checked_sub(from);
    WARDEN_RETURN_IF_ERROR(tx.adjust_window(after.agent_id, meter->as_string(),
                                            bucket->as_int64(), delta.to_string(), subtract));
  }
  return Status();
}

}  // namespace warden::decisions
