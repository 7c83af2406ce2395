// Inventory: per host, the last listing of what its driver can act on, with when it was taken,
// whether it was a full listing, and a search over ids, names and labels. Snapshots live in
// memory; the engine persists them through `on_refresh` and loads them back with `restore`.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "automation/driver.h"
#include "automation/types.h"
#include "core/clock.h"
#include "core/status.h"

namespace warden::automation {

class Inventory {  // thread-safe
 public:
  explicit Inventory(DriverRegistry& drivers, const Clock& clock);

  // Asks the host's driver for its items (AUTOMATION_HOST_NOT_FOUND for an unknown host; the
  // driver's error otherwise, the last snapshot kept). A snapshot is dated when its listing
  // started, so a fast refresh that took longer than the host's SLA comes back already stale:
  // that is its warning.
  Result<InventorySnapshot> refresh(const std::string& host, bool full);
  // The last snapshot (empty, refreshed_at_ms 0 and stale when there was none), stale when
  // now - refreshed_at_ms > the host's dry_run_refresh_sla_s.
  InventorySnapshot snapshot(const std::string& host);
  // Items of the last snapshot matching q: whitespace-separated terms, all of which must hold:
  // "label:k=v" (label k equals v), "name:glob" (* and ? over the name), or plain text (a
  // case-insensitive substring of the id or the name). An empty q matches everything.
  std::vector<InventoryItem> search(const std::string& host, std::string_view q);
  std::map<std::string, InventorySnapshot> all();

  // Called after each successful refresh, outside the lock (the engine stores the snapshot).
  void set_on_refresh(std::function<void(const InventorySnapshot&)> on_refresh);
  // Puts back a stored snapshot (at start); a newer one in memory is kept.
  void restore(InventorySnapshot snapshot);

 private:
  std::int64_t sla_ms(const std::string& host) const;
  InventorySnapshot with_stale(InventorySnapshot s) const;

  DriverRegistry& drivers_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, InventorySnapshot> snapshots_;
  std::function<void(const InventorySnapshot&)> on_refresh_;
};

// Whether one item matches a search query (Inventory::search's grammar).
bool inventory_matches(const InventoryItem& item, std::string_view q);

}  // namespace warden::automation
