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
// compact_text(x) and compact_id(x): x's stored form (compact.h), for migration 10.
Status register_sql_functions(sqlite3* db);

}  // namespace warden::store::sqlite
