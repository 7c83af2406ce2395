// Helpers for the decision-engine process tests (see decision_support.h).
#include "decision_support.h"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <charconv>
#include <set>

#include "store/sqlite/compact.h"

namespace warden::testing {

namespace json = boost::json;

AgentLogin login_new_agent(HttpClient& c, const std::string& name, std::string* why) {
  Response agent = create_agent(c, name);
  if (agent.status != 201) {
    *why = "create agent: " + agent.describe();
    return {};
  }
  const std::string id = str_at(agent.json(), "id");
  Response session = create_session(c, id);
  if (session.status != 201) {
    *why = "create session: " + session.describe();
    return {};
  }
  Response settlement = create_session(c, id, R"("role":"settlement")");
  if (settlement.status != 201) {
    *why = "create settlement session: " + settlement.describe();
    return {};
  }
  return {id, str_at(session.json(), "token"), str_at(settlement.json(), "token")};
}

json::object window_rules(std::uint64_t instant_max, std::uint64_t window_max) {
  return json::object{
      {"instant_max", std::to_string(instant_max)},
      {"notify_max", std::to_string(instant_max + 1)},
      {"delay_max", std::to_string(instant_max + 2)},
      {"windows",
       json::array{json::object{{"duration", "24h"}, {"max", std::to_string(window_max)}}}},
      {"asset", "native"},
  };
}

std::string add_policy(HttpClient& c, const std::string& type, const json::object& rules,
                       const std::optional<std::string>& agent_id, std::string* why) {
  json::object body{{"type", type}, {"rules", rules}};
  if (agent_id) body["agent_id"] = *agent_id;
  Response r = c.request("POST", "/v1/policies", json::serialize(body), master_headers());
  if (r.status != 201) {
    *why = "create policy: " + r.describe();
    return "";
  }
  return str_at(r.json(), "id");
}

std::string transfer_body(const std::string& amount, const std::string& idempotency_key) {
  json::object body{{"type", "TRANSFER"}, {"to", kDestination}, {"amount", amount}};
  if (!idempotency_key.empty()) body["idempotency_key"] = idempotency_key;
  return json::serialize(body);
}

Response post_transfer(HttpClient& c, const std::string& token, const std::string& amount) {
  return c.request("POST", "/v1/transactions", transfer_body(amount), bearer_headers(token));
}

Response agent_request(HttpClient& c, const std::string& token, const std::string& method,
                       const std::string& target, const std::string& body) {
  return c.request(method, target, body, bearer_headers(token));
}

std::optional<std::uint64_t> to_u64(const std::string& text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

namespace {

// The store keeps some columns as compacted BLOBs (store/sqlite/compact.h); read as their text.
// (A reserved amount equal to the amount is a zero-length BLOB: the query reads the amount.)
std::string column_text(sqlite3_stmt* stmt, int column) {
  if (sqlite3_column_type(stmt, column) == SQLITE_BLOB) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, column));
    auto text = store::sqlite::expand_text(
        std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column))));
    return text.ok() ? *text : "<" + text.status().message() + ">";
  }
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// An enum column the store keeps as an INTEGER code (compact.h, Coded): read as its text.
std::string column_coded(sqlite3_stmt* stmt, int column, store::sqlite::Coded coded) {
  if (sqlite3_column_type(stmt, column) != SQLITE_INTEGER) return column_text(stmt, column);
  auto text = store::sqlite::value_of(coded, sqlite3_column_int64(stmt, column));
  return text.ok() ? *text : "<" + text.status().message() + ">";
}

std::optional<std::uint64_t> column_amount(sqlite3_stmt* stmt, int column) {
  if (sqlite3_column_type(stmt, column) == SQLITE_NULL) return std::nullopt;
  return to_u64(column_text(stmt, column));
}

// Runs `sql` (with an optional single text binding) and calls row(stmt) per result row.
template <typename RowFn>
std::string query(sqlite3* db, const char* sql, const std::string* bind, RowFn row) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return std::string("prepare: ") + sqlite3_errmsg(db);
  }
  if (bind) sqlite3_bind_text(stmt, 1, bind->c_str(), -1, SQLITE_TRANSIENT);
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) row(stmt);
  std::string error = rc == SQLITE_DONE ? "" : std::string("step: ") + sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  return error;
}

}  // namespace

DbSnapshot read_database(const std::string& db_path, const std::string& agent_id) {
  DbSnapshot out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out.error = "open " + db_path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return out;
  }
  constexpr int kBusyTimeoutMs = 5000;
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // One read transaction so both tables come from the same snapshot.
  out.error = query(db, "BEGIN", nullptr, [](sqlite3_stmt*) {});
  if (out.error.empty()) {
    out.error = query(db,
                      "SELECT id, status, CASE WHEN reserved_amount = x'' THEN amount ELSE "
                      "reserved_amount END, final_amount FROM transactions "
                      "WHERE agent_id = (SELECT key FROM id_keys WHERE id = ?) ORDER BY id",
                      &agent_id, [&](sqlite3_stmt* s) {
                        out.transactions.push_back(
                            {column_text(s, 0),
                             column_coded(s, 1, store::sqlite::Coded::kTransactionStatus),
                             column_amount(s, 2), column_amount(s, 3)});
                      });
  }
  if (out.error.empty()) {
    out.error =
        query(db,
              "SELECT id, event_type, (SELECT id FROM id_keys WHERE key = audit_log.agent_id), "
              "tx_id, details FROM audit_log ORDER BY id",
              nullptr, [&](sqlite3_stmt* s) {
                AuditRow row{sqlite3_column_int64(s, 0),
                             column_coded(s, 1, store::sqlite::Coded::kAuditEventType),
                             column_text(s, 2),
                             column_text(s, 3),
                             {}};
                boost::system::error_code ec;
                json::value details = json::parse(column_text(s, 4), ec);
                if (!ec && details.is_object()) row.details = details.as_object();
                out.audit.push_back(std::move(row));
              });
  }
  query(db, "COMMIT", nullptr, [](sqlite3_stmt*) {});
  sqlite3_close(db);
  return out;
}

std::uint64_t window_total_from_rows(const std::vector<TxRow>& rows) {
  std::uint64_t total = 0;
  for (const auto& r : rows) {
    if (r.status == "PENDING" || r.status == "QUEUED") total += r.reserved.value_or(0);
    if (r.status == "CONFIRMED") total += r.final_amount.value_or(0);
  }
  return total;
}

ReplayResult replay_audit(const std::vector<AuditRow>& audit, const std::string& agent_id) {
  static const std::set<std::string> kReleases = {"TX_FAILED", "TX_CANCELLED", "TX_EXPIRED",
                                                  "APPROVAL_REJECTED", "APPROVAL_EXPIRED"};
  ReplayResult out;
  std::map<std::string, std::uint64_t> open;  // tx id -> amount counted now
  std::set<std::string> closed;               // confirmed or released
  for (const auto& row : audit) {
    if (row.agent_id != agent_id || row.tx_id.empty()) continue;
    const std::string where =
        "audit row " + std::to_string(row.id) + " (" + row.event_type + " " + row.tx_id + "): ";
    if (row.event_type == "TX_DECIDED") {
      if (open.count(row.tx_id) || closed.count(row.tx_id)) {
        out.error = where + "decided twice";
        return out;
      }
      if (str_at(row.details, "effect") != "ALLOW") continue;
      auto amount = to_u64(str_at(row.details, "amount"));
      if (!amount) {
        out.error = where + "no amount in details";
        return out;
      }
      open[row.tx_id] = *amount;
      out.final_total += *amount;
    } else if (row.event_type == "TX_CONFIRMED" || kReleases.count(row.event_type)) {
      auto it = open.find(row.tx_id);
      if (it == open.end()) {
        out.error = where + "settles a transaction that holds no reservation";
        return out;
      }
      out.final_total -= it->second;
      if (row.event_type == "TX_CONFIRMED") {
        auto final_amount = to_u64(str_at(row.details, "final_amount"));
        if (!final_amount || *final_amount > it->second) {
          out.error = where + "bad final_amount";
          return out;
        }
        out.final_total += *final_amount;
      }
      open.erase(it);
      closed.insert(row.tx_id);
    }
    out.peak = std::max(out.peak, out.final_total);
  }
  return out;
}

std::map<std::string, int> decided_counts(const std::vector<AuditRow>& audit) {
  std::map<std::string, int> out;
  for (const auto& row : audit) {
    if (row.event_type == "TX_DECIDED") ++out[row.tx_id];
  }
  return out;
}

}  // namespace warden::testing
