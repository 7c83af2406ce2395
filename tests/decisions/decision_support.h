// Helpers for the decision-engine process tests: agent + session set-up, transaction requests,
// a read-only view of the daemon's SQLite rows, and replays of the window total.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/api.h"
#include "support/http_client.h"

namespace warden::testing {

// An EVM address the tests send to ("0x" + 40 hex digits).
inline constexpr const char* kDestination = "0x00000000000000000000000000000000000000aa";

struct AgentLogin {
  std::string id;
  std::string token;
  std::string settlement_token;  // a "settlement" session: may confirm below the reserved amount
};

// Creates an agent, a session for it and a settlement session (master); empty fields after a
// failure, with `why` set.
AgentLogin login_new_agent(HttpClient& c, const std::string& name, std::string* why);

// SPENDING_LIMIT rules: every amount up to instant_max is INSTANT; one 24h window of
// window_max on the native asset.
boost::json::object window_rules(std::uint64_t instant_max, std::uint64_t window_max);
// {"type":..., "rules":..., "agent_id":...} posted by master; the policy id or "" (`why` set).
std::string add_policy(HttpClient& c, const std::string& type, const boost::json::object& rules,
                       const std::optional<std::string>& agent_id, std::string* why);

// {"type":"TRANSFER","to":kDestination,"amount":"<amount>"[,"idempotency_key":key]}.
std::string transfer_body(const std::string& amount, const std::string& idempotency_key = "");
Response post_transfer(HttpClient& c, const std::string& token, const std::string& amount);
Response agent_request(HttpClient& c, const std::string& token, const std::string& method,
                       const std::string& target, const std::string& body = {});

// Decimal string to integer; nullopt when not a plain decimal that fits 64 bits.
std::optional<std::uint64_t> to_u64(const std::string& text);

// One transactions row as the daemon stored it.
struct TxRow {
  std::string id;
  std::string status;
  std::optional<std::uint64_t> reserved;
  std::optional<std::uint64_t> final_amount;
};

// One audit_log row.
struct AuditRow {
  std::int64_t id = 0;
  std::string event_type;
  std::string agent_id;
  std::string tx_id;
  boost::json::object details;
};

// Read-only access to the daemon's database (sqlite3 C API, SQLITE_OPEN_READONLY).
struct DbSnapshot {
  std::vector<TxRow> transactions;  // of one agent, id order
  std::vector<AuditRow> audit;      // every row, id order
  std::string error;                // empty on success
};
DbSnapshot read_database(const std::string& db_path, const std::string& agent_id);

// Window total recomputed from rows: reserved of PENDING/QUEUED + final of CONFIRMED.
std::uint64_t window_total_from_rows(const std::vector<TxRow>& rows);

// Replays the audit log in commit order (TX_DECIDED adds the reserved amount of an ALLOW,
// TX_CONFIRMED swaps it for the final amount, TX_FAILED / TX_CANCELLED / TX_EXPIRED /
// APPROVAL_REJECTED / APPROVAL_EXPIRED drop it) for one agent and returns the largest running
// total seen, or an error text when an event refers to an unknown or already-closed transaction.
struct ReplayResult {
  std::uint64_t peak = 0;
  std::uint64_t final_total = 0;
  std::string error;
};
ReplayResult replay_audit(const std::vector<AuditRow>& audit, const std::string& agent_id);

// TX_DECIDED rows per transaction id.
std::map<std::string, int> decided_counts(const std::vector<AuditRow>& audit);

}  // namespace warden::testing
