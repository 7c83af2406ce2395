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
//   every other byte below 0x20 but 0x00   one of kFragments (the decision service's JSON)
// Text that holds a byte the format reserves (0x00..0x08, 0x0b, 0x0c, 0x0e..0x1f) stays TEXT.
// The fragment table is part of the file format: entries may be added at unused bytes, never
// changed or removed. Adding one changes how later text compacts, so a column that is looked up
// by value (an indexed id) uses compact_id(), which depends on no fragment.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace warden::store::sqlite {

// The stored form of `text`, or nullopt when it is best stored as the TEXT it is.
std::optional<std::string> compact_text(std::string_view text);
// An id column's: 0x01 + 16 bytes for a lowercase UUID, nullopt (TEXT) for anything else.
std::optional<std::string> compact_id(std::string_view id);
// The text a compacted BLOB stands for; an error for bytes compact_text() never writes.
Result<std::string> expand_text(std::string_view blob);

}  // namespace warden::store::sqlite
