// Inventory: the last listing per host, its age, and a small search over it.
#include "automation/inventory.h"

#include <algorithm>
#include <cctype>

namespace warden::automation {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// '*' any run, '?' one character; iterative with one backtrack point, so linear-ish and
// without recursion on hostile patterns.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool term_matches(const InventoryItem& item, std::string_view term) {
  constexpr std::string_view kLabel = "label:";
  constexpr std::string_view kName = "name:";
  if (term.substr(0, kLabel.size()) == kLabel) {
    const std::string_view kv = term.substr(kLabel.size());
    const std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return item.labels.count(std::string(kv)) > 0;
    auto it = item.labels.find(std::string(kv.substr(0, eq)));
    return it != item.labels.end() && it->second == kv.substr(eq + 1);
  }
  if (term.substr(0, kName.size()) == kName)
    return glob_match(term.substr(kName.size()), item.name);
  const std::string needle = lower(term);
  return lower(item.id).find(needle) != std::string::npos ||
         lower(item.name).find(needle) != std::string::npos;
}

}  // namespace

bool inventory_matches(const InventoryItem& item, std::string_view q) {
  std::size_t i = 0;
  while (i < q.size()) {
    while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) ++i;
    std::size_t j = i;
    while (j < q.size() && !std::isspace(static_cast<unsigned char>(q[j]))) ++j;
    if (j > i && !term_matches(item, q.substr(i, j - i))) return false;
    i = j;
  }
  return true;
}

Inventory::Inventory(DriverRegistry& drivers, const Clock& clock)
    : drivers_(drivers), clock_(clock) {}

std::int64_t Inventory::sla_ms(const std::string& host) const {
  const Driver* d = drivers_.find(host);
  return (d == nullptr ? HostInfo{}.dry_run_refresh_sla_s : d->info().dry_run_refresh_sla_s) * 1000;
}

InventorySnapshot Inventory::with_stale(InventorySnapshot s) const {
  s.stale = s.refreshed_at_ms == 0 || clock_.now_ms() - s.refreshed_at_ms > sla_ms(s.host);
  return s;
}

Result<InventorySnapshot> Inventory::refresh(const std::string& host, bool full) {
  Driver* d = drivers_.find(host);
  if (d == nullptr) {
    return Status(ErrorCode::AUTOMATION_HOST_NOT_FOUND, "no host \"" + host + "\"");
  }
  InventorySnapshot s;
  s.host = host;
  s.full = full;
  // Dated when the listing started: it shows the host at some moment after that, no earlier.
  s.refreshed_at_ms = clock_.now_ms();
  WARDEN_ASSIGN_OR_RETURN(s.items, d->inventory(full));
  std::sort(s.items.begin(), s.items.end(),
            [](const InventoryItem& a, const InventoryItem& b) { return a.id < b.id; });
  std::function<void(const InventorySnapshot&)> hook;
  {
    std::lock_guard lock(mu_);
    InventorySnapshot& kept = snapshots_[host];
    // Two refreshes racing: the one that started later wins.
    if (kept.refreshed_at_ms <= s.refreshed_at_ms) kept = s;
    hook = on_refresh_;
  }
  if (hook) hook(s);
  return with_stale(std::move(s));
}

InventorySnapshot Inventory::snapshot(const std::string& host) {
  InventorySnapshot s;
  {
    std::lock_guard lock(mu_);
    auto it = snapshots_.find(host);
    if (it != snapshots_.end()) s = it->second;
  }
  s.host = host;
  return with_stale(std::move(s));
}

std::vector<InventoryItem> Inventory::search(const std::string& host, std::string_view q) {
  std::vector<InventoryItem> out;
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(host);
  if (it == snapshots_.end()) return out;
  for (const InventoryItem& item : it->second.items) {
    if (inventory_matches(item, q)) out.push_back(item);
  }
  return out;
}

std::map<std::string, InventorySnapshot> Inventory::all() {
  std::map<std::string, InventorySnapshot> copy;
  {
    std::lock_guard lock(mu_);
    copy = snapshots_;
  }
  for (auto& [host, s] : copy) s = with_stale(std::move(s));
  return copy;
}

void Inventory::set_on_refresh(std::function<void(const InventorySnapshot&)> on_refresh) {
  std::lock_guard lock(mu_);
  on_refresh_ = std::move(on_refresh);
}

void Inventory::restore(InventorySnapshot snapshot) {
  std::lock_guard lock(mu_);
  InventorySnapshot& kept = snapshots_[snapshot.host];
  if (kept.refreshed_at_ms <= snapshot.refreshed_at_ms) kept = std::move(snapshot);
}

}  // namespace warden::automation
