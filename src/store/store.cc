// Backend-independent pieces of the store: the audit hash chain's canonical input.
#include "store/store.h"

#include <boost/json/object.hpp>

#include "core/json.h"
#include "core/sha256.h"

namespace warden::store {
namespace json = boost::json;

namespace {
json::value opt(const std::optional<std::string>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}
}  // namespace

std::string audit_hash_input(std::int64_t id, const AuditEvent& e, std::string_view prev_hash) {
  json::object o;
  o["id"] = id;
  o["timestamp"] = e.timestamp;
  o["event_type"] = e.event_type;
  o["actor"] = e.actor;
  o["agent_id"] = opt(e.agent_id);
  o["session_id"] = opt(e.session_id);
  o["tx_id"] = opt(e.tx_id);
  o["details"] = e.details;  // the stored text, byte for byte
  o["severity"] = e.severity;
  o["ip_address"] = opt(e.ip_address);
  o["correlation_id"] = opt(e.correlation_id);
  o["prev_hash"] = json::string_view(prev_hash.data(), prev_hash.size());
  return canonical_json(o);
}

std::string audit_row_hash(std::int64_t id, const AuditEvent& e, std::string_view prev_hash) {
  return sha256_hex(audit_hash_input(id, e, prev_hash));
}

}  // namespace warden::store
