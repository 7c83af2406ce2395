// Backend-independent pieces of the store: the audit hash chain's canonical input, and which
// org ids a tenant context accepts.
#include "store/store.h"

#include <fmt/format.h>

#include "core/json.h"
#include "core/sha256.h"

namespace warden::store {

namespace {

void put(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  append_json_string(out, value);
}

void put_nullable(std::string& out, std::string_view key, const std::optional<std::string>& value) {
  out += key;
  if (value) {
    append_json_string(out, *value);
  } else {
    out += "null";
  }
}

}  // namespace

// canonical_json() of the row as an object, written directly: the keys in sorted order, strings
// escaped by the same function. Runs once per audited event on the writer thread, so it skips
// building and sorting a JSON object; the AuditHashInput test pins the two to the same bytes.
std::string audit_hash_input(std::int64_t id, const AuditEvent& e, std::string_view prev_hash) {
  std::string out;
  out.reserve(256 + e.details.size());
  put(out, "{\"actor\":", e.actor);
  put_nullable(out, ",\"agent_id\":", e.agent_id);
  put_nullable(out, ",\"correlation_id\":", e.correlation_id);
  put(out, ",\"details\":", e.details);  // the stored text, byte for byte
  put(out, ",\"event_type\":", e.event_type);
  out += ",\"id\":";
  out += std::to_string(id);
  put_nullable(out, ",\"ip_address\":", e.ip_address);
  put(out, ",\"prev_hash\":", prev_hash);
  put_nullable(out, ",\"session_id\":", e.session_id);
  put(out, ",\"severity\":", e.severity);
  out += ",\"timestamp\":";
  out += std::to_string(e.timestamp);
  put_nullable(out, ",\"tx_id\":", e.tx_id);
  out += '}';
  return out;
}

std::string audit_row_hash(std::int64_t id, const AuditEvent& e, std::string_view prev_hash) {
  return sha256_hex(audit_hash_input(id, e, prev_hash));
}

bool actor_is_own_agent(const AuditEvent& e) {
  return e.agent_id && e.actor.size() == kAgentActorPrefix.size() + e.agent_id->size() &&
         e.actor.starts_with(kAgentActorPrefix) && e.actor.ends_with(*e.agent_id);
}

std::string audit_chain_problem(const AuditRow& row, std::int64_t prev_id,
                                std::string_view prev_hash) {
  if (row.id != prev_id + 1) {
    return fmt::format("id {} does not follow {} (rows missing or reordered)", row.id, prev_id);
  }
  if (row.prev_hash != prev_hash) {
    return fmt::format("prev_hash {} does not match the previous row's hash {}", row.prev_hash,
                       prev_hash);
  }
  std::string expected = audit_row_hash(row.id, row.event, row.prev_hash);
  if (row.hash != expected) {
    return fmt::format("stored hash {} does not match its content (expected {})", row.hash,
                       expected);
  }
  return {};
}

}  // namespace warden::store

namespace warden::store {

bool is_tenant_org_id(std::string_view org_id) {
  if (org_id.empty() || org_id.size() > kTenantOrgIdBytesMax) return false;
  for (const char ch : org_id) {
    const bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace warden::store
