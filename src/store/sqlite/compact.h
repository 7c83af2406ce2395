// Internal to the SQLite store: how the text columns every decision writes (its audit row's ids,
// details and hashes, its transaction's metadata, amounts, address and request hash) are kept on
// disk. Each such value is stored either as the TEXT it is or, when that is shorter, as a BLOB
// in the format below, which expands back to exactly the same bytes; the rows the Store
// interface returns, the hashes over them and the HTTP forms are therefore unchanged.
//
// Format, byte by byte: 0x09, 0x0a, 0x0d and 0x20..0xff stand for themselves;
//   0x01 + 16 bytes   a UUID as 36 lowercase characters, 8-4-4-4-12
//   0x02 + n + n bytes   2n lowercase hex digits (n = 8..255)
//   0x03 + n + n bytes   a decimal of 4 to 19 digits without a leading zero, n bytes big-endian
//   0x00 0x01 + 4 bytes   an IPv4 address, four decimals 0..255 without leading zeros, dotted
//   0x00 0x02 + 20 bytes   "0x" and exactly 40 lowercase hex digits (an EVM address)
//   0x00 + a byte from 0x03   one of kLongFragments (a transaction's metadata, as it starts)
//   every other byte below 0x20   one of kFragments (the decision service's JSON)
// Text that holds a byte the format reserves (0x00..0x08, 0x0b, 0x0c, 0x0e..0x1f) stays TEXT.
// The fragment table is part of the file format: entries may be added at unused bytes, never
// changed or removed. Adding one changes how later text compacts, so a column that is looked up
// by value (an indexed id) uses compact_id(), which depends on no fragment.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::store::sqlite {

// The stored form of `text`, or nullopt when it is best stored as the TEXT it is.
std::optional<std::string> compact_text(std::string_view text);
// An id column's: 0x01 + 16 bytes for a lowercase UUID, nullopt (TEXT) for anything else.
std::optional<std::string> compact_id(std::string_view id);
// A column of any text that a UNIQUE index compares by value (an idempotency key): compact_text()
// without fragments, so a key's stored form never changes as fragments are added.
std::optional<std::string> compact_key(std::string_view key);
// The text a compacted BLOB stands for; an error for bytes compact_text() never writes.
Result<std::string> expand_text(std::string_view blob);

// The enum columns of the decision rows, stored as INTEGER codes (migration 13): a value's code
// is its position in its column's list (coded_values), so the commonest values, first, take no
// byte in a record (SQLite stores 0 and 1 in the record header). A value missing from the list
// is stored as the TEXT it is: the CHECK of a closed column refuses it, as it refused it before;
// audit event types, an open set, keep it. Like kFragments the lists are part of the file
// format: values may be appended, never reordered or removed.
enum class Coded { kChain, kTransactionType, kTransactionStatus, kTier, kAuditEventType,
                   kAuditSeverity };
std::span<const std::string_view> coded_values(Coded column);
std::optional<std::int64_t> code_of(Coded column, std::string_view value);
// An error for a code outside the column's list.
Result<std::string> value_of(Coded column, std::int64_t code);

}  // namespace warden::store::sqlite
