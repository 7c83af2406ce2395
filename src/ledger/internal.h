// Internal to the ledger module: what its sources share (service.cc, operations.cc,
// reservations.cc, payments.cc) — answer bodies, argument checks, audit rows, the idempotency
// key table and an operation on its way through the writer. Not part of the module's API.
#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/recent_keys.h"
#include "core/sha256.h"
#include "ledger/service.h"

namespace warden::ledger {
namespace json = boost::json;

std::string opt_time(const std::optional<std::int64_t>& t);
// An answer's body is built in one block of memory that it owns: a handful of allocations
// instead of one per key and string, and nothing to walk when it is destroyed (on the writer's
// thread, after the commit).
json::storage_ptr answer_storage();
// About what a debit's answer takes as text, before its entries.
inline constexpr std::size_t kDebitResultBytes = 192;
// The bodies below list their keys in sorted order, as canonical_json() writes them: a retry's
// answer is parsed back from that text and reads the same as the first.
json::array entries_json(const Change& c, json::storage_ptr sp = {});
// A hold, with the entries of the change that closed it and the balance after it when given.
json::object hold_body(const Hold& h, std::string_view status, const std::optional<Amount>& posted,
                       const Change* entries_of, const Amount* available,
                       json::storage_ptr sp = {});

// canonical_json() of an operation's arguments, written directly (callers add the keys in
// sorted order), and its SHA-256: the request hash an idempotency key is checked against.
class CanonicalArgs {
 public:
  CanonicalArgs& text(std::string_view key, std::string_view value) {
    add_key(key);
    append_json_string(out_, value);
    return *this;
  }
  CanonicalArgs& number(std::string_view key, std::int64_t value) {
    add_key(key);
    out_ += std::to_string(value);
    return *this;
  }
  std::string hash() {
    out_ += '}';
    return sha256_hex(out_);
  }

 private:
  void add_key(std::string_view key) {
    out_ += out_.empty() ? '{' : ',';
    append_json_string(out_, key);
    out_ += ':';
  }
  std::string out_;
};

// A refusal naming the field it is about.
Status invalid(ErrorCode code, std::string_view field, std::string message);
Status check_key(const std::string& key);
Status check_positive(const Amount& amount);
Status check_currency(const std::string& currency);
// The idempotency key, a positive amount and a known currency, in that order.
Status check_spend(const std::string& key, const Amount& amount, const std::string& currency);
store::AuditEvent audit_event(const Caller& caller, std::string type,
                              std::optional<std::string> agent_id, const json::object& details,
                              std::int64_t now_s);
// The key table's entry for closing a hold. Keys the service makes for itself never meet a
// client's: those are printable.
std::string close_key(const std::string& hold_id);

// A change's rows, made before its write so that the writer thread only binds them.
struct ChangeRows {
  std::optional<store::LotRow> lot;
  std::optional<store::HoldRow> new_hold;
  std::vector<store::LotEntryRow> entries;
  std::vector<std::pair<std::string, std::string_view>> statuses;  // lot id, status
  std::optional<store::HoldRow> closed_hold;
};

// ---- Idempotency keys ----

// A committed answer is kept as its canonical JSON text, the text the op row stores: the commit
// hands it over without copying the body, and only a retry parses it again.
struct StoredAnswer {
  int status = 0;
  std::string result;
};

// The recent keys (core/recent_keys.h) with their answers; an older repeat is answered from
// the store (LedgerService::stored_answer).
struct LedgerService::KeyTable : RecentKeys<StoredAnswer, Done> {
  using Claim = Outcome;

  explicit KeyTable(std::size_t max) : RecentKeys(max) {}

  // kReplay fills `answer`; kWaiting takes `done`.
  Claim claim(const std::string& key, const std::string& hash, std::int64_t now_s, Done& done,
              Answer& answer) {
    StoredAnswer held;
    const Claim c = RecentKeys::claim(key, hash, now_s, {}, done, &held);
    if (c == Claim::kReplay) answer = replay_of(held.status, held.result);
    return c;
  }

  static Answer replay_of(int status, std::string_view result) {
    auto v = parse_json(result);
    // The text is canonical_json() of an object this service made (or read back from its own
    // op row, which start() checked).
    return Answer{status, v.ok() && v->is_object() ? std::move(v->as_object()) : json::object(),
                  true};
  }

  // The claim's operation committed with `result`, or failed (the key is free again). Returns
  // the identical requests that waited, to answer outside the lock.
  std::vector<Done> finish(const std::string& key, const Result<Answer>& result) {
    if (result.ok()) return committed(key, result->status, canonical_json(result->body));
    return release(key);
  }

  // finish() of a committed answer whose text is at hand (`e`: the claim's slot()).
  std::vector<Done> committed(Entry& e, int status, std::string result) {
    return commit(e, StoredAnswer{status, std::move(result)});
  }
  std::vector<Done> committed(const std::string& key, int status, std::string result) {
    Entry* e = slot(key);
    return e == nullptr ? std::vector<Done>() : committed(*e, status, std::move(result));
  }

  // Start-up: a key as its op row has it (the answer of a committed operation is 201).
  void restore(const std::string& key, const std::string& hash, std::string result,
               std::int64_t created_s) {
    RecentKeys::restore(key, hash, StoredAnswer{201, std::move(result)}, created_s);
  }
};

// One operation on its way through the writer.
struct LedgerService::Op {
  Change change;
  std::string op_id;
  std::optional<std::string> key;  // the client's idempotency key (stored)
  std::string claim_key;           // the key table entry to finish (may be internal)
  KeyTable::Entry* claim_slot = nullptr;  // claim_key's entry
  std::string request_hash;
  std::optional<std::string> tx_id;
  std::string audit_type;
  std::string audit_severity = "info";
  Caller caller;
  std::int64_t now_s = 0;
  Answer answer;
  Done done;
  // Made on the caller's thread, so the writer only binds them.
  store::AuditEvent audit;
  store::LedgerOpRow row;
  ChangeRows rows;

  // The key table entry this operation finishes: its own (internal) claim key, else the
  // client's idempotency key (moved into the op row by commit()), else none.
  const std::string* claim() const {
    if (!claim_key.empty()) return &claim_key;
    return row.idempotency_key ? &*row.idempotency_key : nullptr;
  }
};

}  // namespace warden::ledger
