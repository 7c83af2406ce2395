// Internal to the SQLite store: the SQL functions its schema calls, registered on every
// connection it opens (a plain sqlite3 shell cannot read the lot_balances view).
#pragma once

#include <sqlite3.h>

#include "core/status.h"

namespace warden::store::sqlite {

// The exact aggregates behind the lot_balances view, over one lot's entries:
//   ledger_remaining(entry_type, hold_id, amount) = credit + release - expire - hold
//                                                   - debit (hold_id NULL)
//   ledger_held(entry_type, hold_id, amount)      = hold - release - debit (hold_id not NULL)
// Each returns a decimal TEXT of 256-bit arithmetic ("0" over no entries; rows whose entry_type
// is NULL, from a LEFT JOIN, are skipped). A malformed amount, an unknown entry type, a sum past
// 2^256 - 1 or a negative result is an SQL error.
//
// compact_text(x), compact_id(x) and compact_key(x): x's stored form (compact.h); expand_text(x)
// the text a stored value stands for. For migrations 10 (compact_text, compact_id) and 13
// (compact_text, compact_key, expand_text).
Status register_sql_functions(sqlite3* db);

}  // namespace warden::store::sqlite
