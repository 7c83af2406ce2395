// A meter: the entries (reserved or settled amounts, or request counts) of one limit for one
// agent, summed over a rolling or calendar (UTC) window.
#pragma once

#include <cstdint>
#include <map>
#include <utility>

#include "core/amount.h"
#include "engine/ir.h"

namespace warden::engine {

using EntryKey = std::pair<std::int64_t, std::uint64_t>;  // (timestamp ms, sequence)

// Not thread-safe: the owning agent's mutex guards it.
class Meter {
 public:
  explicit Meter(const WindowLimit& def);

  // Confirmed + reserved total of entries inside the window that contains now_ms. Drops
  // entries that have left the window.
  const Amount& total(std::int64_t now_ms);
  EntryKey add(std::int64_t ts_ms, const Amount& amount);
  // Lowers an entry to `amount` (settlement below the reserved amount). Missing entries (the
  // window already moved past them) are ignored.
  void lower(const EntryKey& key, const Amount& amount);
  void remove(const EntryKey& key);
  std::size_t entries() const { return entries_.size(); }

  // First millisecond that still counts at now_ms.
  std::int64_t window_start_ms(std::int64_t now_ms) const;

 private:
  bool calendar_;
  int calendar_unit_;
  std::int64_t window_ms_;
  std::uint64_t next_seq_ = 0;
  std::map<EntryKey, Amount> entries_;
  Amount total_;
};

}  // namespace warden::engine
