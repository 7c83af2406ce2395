// Exact 256-bit ledger aggregates for SQLite (SUM() would round past 2^63).
#include "store/sqlite/sql_functions.h"

#include <fmt/format.h>

#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/amount.h"
#include "store/sqlite/compact.h"

namespace warden::store::sqlite {
namespace {

enum class Balance { kRemaining, kHeld };

// How an entry moves a balance: +1, -1, 0; nullopt for an unknown type.
std::optional<int> sign(Balance b, std::string_view type, bool has_hold) {
  if (b == Balance::kRemaining) {
    if (type == "credit" || type == "release") return 1;
    if (type == "expire" || type == "hold") return -1;
    if (type == "debit") return has_hold ? 0 : -1;
  } else {
    if (type == "hold") return 1;
    if (type == "release") return -1;
    if (type == "credit" || type == "expire") return 0;
    if (type == "debit") return has_hold ? -1 : 0;
  }
  return std::nullopt;
}

std::string_view name_of(Balance b) {
  return b == Balance::kRemaining ? "ledger_remaining" : "ledger_held";
}

// Lives in SQLite's aggregate context, which starts zero-filled and is freed without running a
// destructor: hence trivially destructible, and `started` tells a fresh context apart.
struct Sum {
  bool started;
  bool failed;  // an error was reported; xFinal reports nothing more
  Amount plus;
  Amount minus;
};
static_assert(std::is_trivially_destructible_v<Sum>);

// SQLite aligns the context to 8 bytes only; Amount may need more (its limbs are 128-bit
// aligned), so the Sum sits at the first suitably aligned address inside it. bytes = 0: only
// an existing context (null when the aggregate saw no row).
Sum* context_sum(sqlite3_context* ctx, int bytes) {
  auto* raw = static_cast<unsigned char*>(sqlite3_aggregate_context(ctx, bytes));
  if (raw == nullptr) return nullptr;
  const auto address = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (address + alignof(Sum) - 1) & ~(std::uintptr_t{alignof(Sum)} - 1);
  return reinterpret_cast<Sum*>(raw + (aligned - address));
}

Sum* sum_of(sqlite3_context* ctx) {
  Sum* sum = context_sum(ctx, static_cast<int>(sizeof(Sum) + alignof(Sum)));
  if (sum != nullptr && !sum->started) {
    new (sum) Sum{};
    sum->started = true;
  }
  return sum;
}

void fail(sqlite3_context* ctx, Sum* sum, const std::string& message) {
  sum->failed = true;
  sqlite3_result_error(ctx, message.c_str(), static_cast<int>(message.size()));
}

std::string_view text_of(sqlite3_value* v) {
  const unsigned char* p = sqlite3_value_text(v);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_value_bytes(v))};
}

template <Balance B>
void step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  Sum* sum = sum_of(ctx);
  if (sum == nullptr) return sqlite3_result_error_nomem(ctx);
  if (sum->failed || sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const std::string type(text_of(argv[0]));
  const std::optional<int> s = sign(B, type, sqlite3_value_type(argv[1]) != SQLITE_NULL);
  if (!s) return fail(ctx, sum, fmt::format("{}: unknown entry type '{}'", name_of(B), type));
  if (*s == 0) return;
  // Amounts are canonical decimal TEXT; an integer or real value was not written by the store.
  // The type is read first: reading a value as text may change its type.
  const bool is_text = sqlite3_value_type(argv[2]) == SQLITE_TEXT;
  const std::string text(text_of(argv[2]));
  Result<Amount> amount = Amount::parse(text);
  if (!is_text || !amount.ok()) {
    return fail(ctx, sum, fmt::format("{}: malformed amount '{}'", name_of(B), text));
  }
  Amount& side = *s > 0 ? sum->plus : sum->minus;
  Result<Amount> total = side.checked_add(*amount);
  if (!total.ok()) return fail(ctx, sum, fmt::format("{}: sum past 2^256 - 1", name_of(B)));
  side = *total;
}

template <Balance B>
void final(sqlite3_context* ctx) {
  Sum* sum = context_sum(ctx, 0);
  if (sum == nullptr || !sum->started) {
    sqlite3_result_text(ctx, "0", 1, SQLITE_STATIC);
    return;
  }
  if (sum->failed) return;  // the step already reported it
  Result<Amount> net = sum->plus.checked_sub(sum->minus);
  if (!net.ok()) {
    const std::string message =
        fmt::format("{}: entries leave a negative balance ({} in, {} out)", name_of(B),
                    sum->plus.to_string(), sum->minus.to_string());
    sqlite3_result_error(ctx, message.c_str(), static_cast<int>(message.size()));
    return;
  }
  const std::string text = net->to_string();
  sqlite3_result_text(ctx, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

template <Balance B>
Status register_one(sqlite3* db) {
  // Not DIRECTONLY: the lot_balances view calls them. INNOCUOUS: no side effects.
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  const std::string name(name_of(B));
  int rc = sqlite3_create_function_v2(db, name.c_str(), 3, flags, nullptr, nullptr, &step<B>,
                                      &final<B>, nullptr);
  if (rc == SQLITE_OK) return Status();
  return Status(ErrorCode::INTERNAL_STORE_ERROR,
                fmt::format("register {}: {}", name, sqlite3_errstr(rc)));
}

// amount_sum(x): the exact sum of decimal amounts (NULLs skipped), "0" for none; usage rollups
// sum costs with it.
void amount_sum_step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  Sum* sum = sum_of(ctx);
  if (sum == nullptr) return sqlite3_result_error_nomem(ctx);
  if (sum->failed || sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  const bool is_text = sqlite3_value_type(argv[0]) == SQLITE_TEXT;
  const std::string text(text_of(argv[0]));
  Result<Amount> amount = Amount::parse(text);
  if (!is_text || !amount.ok()) {
    return fail(ctx, sum, fmt::format("amount_sum: malformed amount '{}'", text));
  }
  Result<Amount> total = sum->plus.checked_add(*amount);
  if (!total.ok()) return fail(ctx, sum, "amount_sum: sum past 2^256 - 1");
  sum->plus = *total;
}

void amount_sum_final(sqlite3_context* ctx) {
  Sum* sum = context_sum(ctx, 0);
  if (sum == nullptr || !sum->started) {
    sqlite3_result_text(ctx, "0", 1, SQLITE_STATIC);
    return;
  }
  if (sum->failed) return;
  const std::string text = sum->plus.to_string();
  sqlite3_result_text(ctx, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

// compact_text(x) / compact_id(x) / compact_key(x): x's stored form (compact.h) for the
// migrations that rewrite stored rows in it; NULL, a BLOB and anything not compacted come back
// as they are.
template <std::optional<std::string> (*Compact)(std::string_view)>
void compact_fn(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  const std::string_view text = text_of(argv[0]);
  if (std::optional<std::string> b = Compact(text)) {
    sqlite3_result_blob64(ctx, b->data(), b->size(), SQLITE_TRANSIENT);
  } else {
    sqlite3_result_value(ctx, argv[0]);
  }
}

// expand_text(x): the text a stored value stands for (the inverse of both), for the migration
// that maps stored ids to their keys; an error for a BLOB that does not expand.
void expand_fn(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  const auto* bytes = static_cast<const char*>(sqlite3_value_blob(argv[0]));
  Result<std::string> text =
      expand_text(std::string_view(bytes, static_cast<std::size_t>(sqlite3_value_bytes(argv[0]))));
  if (!text.ok()) {
    const std::string message = "expand_text: " + text.status().message();
    sqlite3_result_error(ctx, message.c_str(), static_cast<int>(message.size()));
    return;
  }
  sqlite3_result_text64(ctx, text->data(), text->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

}  // namespace

Status register_sql_functions(sqlite3* db) {
  WARDEN_RETURN_IF_ERROR(register_one<Balance::kRemaining>(db));
  WARDEN_RETURN_IF_ERROR(register_one<Balance::kHeld>(db));
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function_v2(db, "amount_sum", 1, flags, nullptr, nullptr,
                                      &amount_sum_step, &amount_sum_final, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "compact_text", 1, flags, nullptr,
                                    &compact_fn<&compact_text>, nullptr, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "compact_id", 1, flags, nullptr, &compact_fn<&compact_id>,
                                    nullptr, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "expand_text", 1, flags, nullptr, &expand_fn, nullptr,
                                    nullptr, nullptr);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function_v2(db, "compact_key", 1, flags, nullptr,
                                    &compact_fn<&compact_key>, nullptr, nullptr, nullptr);
  }
  if (rc == SQLITE_OK) return Status();
  return Status(ErrorCode::INTERNAL_STORE_ERROR,
                fmt::format("register amount_sum, compact_text, compact_id, expand_text, compact_key: {}",
                            sqlite3_errstr(rc)));
}

}  // namespace warden::store::sqlite
