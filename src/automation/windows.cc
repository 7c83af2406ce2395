// Window bookkeeping: plain maps under one mutex each. Entries carry their own end, so pruning
// needs no knowledge of which automation set which window.
#include "automation/windows.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace warden::automation {
namespace {

std::string run_key(const std::string& automation_id, const std::string& host,
                    const std::string& target_id) {
  std::string k = automation_id;
  k += '\x1f';
  k += host;
  k += '\x1f';
  k += target_id;
  return k;
}

}  // namespace

bool WindowBook::admit(const std::string& automation_id, const std::string& host,
                       const std::string& target_id, const std::string& firing_id,
                       std::int64_t window_ms, std::int64_t now_ms) {
  if (window_ms <= 0) return true;
  std::lock_guard lock(mu_);
  const std::string key = run_key(automation_id, host, target_id);
  auto it = runs_.find(key);
  if (it != runs_.end() && it->second.firing_id != firing_id && now_ms < it->second.until_ms) {
    return false;
  }
  if (it != runs_.end() && it->second.firing_id == firing_id) return true;
  runs_[key] = Run{firing_id, now_ms, now_ms + window_ms};
  if (runs_.size() > kWindowEntriesMax) prune(now_ms);
  return true;
}

void WindowBook::restore_run(const std::string& automation_id, const std::string& host,
                             const std::string& target_id, const std::string& firing_id,
                             std::int64_t window_ms, std::int64_t at_ms) {
  if (window_ms <= 0) return;
  std::lock_guard lock(mu_);
  runs_[run_key(automation_id, host, target_id)] = Run{firing_id, at_ms, at_ms + window_ms};
}

bool WindowBook::duplicate(const std::string& key, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = executed_.find(key);
  return it != executed_.end() && now_ms < it->second;
}

void WindowBook::executed(const std::string& key, std::int64_t window_ms, std::int64_t now_ms) {
  if (window_ms <= 0) return;
  std::lock_guard lock(mu_);
  executed_[key] = now_ms + window_ms;
  if (executed_.size() > kWindowEntriesMax) prune(now_ms);
}

void WindowBook::prune(std::int64_t now_ms) {
  std::erase_if(runs_, [&](const auto& kv) { return kv.second.until_ms <= now_ms; });
  std::erase_if(executed_, [&](const auto& kv) { return kv.second <= now_ms; });
  // Still over the bound with every entry live: the soonest-ending go, which can only let an
  // action run again early, never block one.
  while (executed_.size() > kWindowEntriesMax) {
    executed_.erase(std::min_element(executed_.begin(), executed_.end(),
                                     [](auto& a, auto& b) { return a.second < b.second; }));
  }
  while (runs_.size() > kWindowEntriesMax) {
    runs_.erase(std::min_element(runs_.begin(), runs_.end(), [](auto& a, auto& b) {
      return a.second.until_ms < b.second.until_ms;
    }));
  }
}

void WindowBook::forget(const std::string& automation_id) {
  std::lock_guard lock(mu_);
  const std::string prefix = automation_id + '\x1f';
  std::erase_if(runs_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

std::size_t WindowBook::size() const {
  std::lock_guard lock(mu_);
  return runs_.size() + executed_.size();
}

void ThresholdBook::expire(Group& g, std::int64_t window_ms, std::int64_t now_ms) {
  while (!g.points.empty() && g.points.front().at_ms <= now_ms - window_ms) {
    g.sum -= g.points.front().value;
    g.points.pop_front();
  }
  // Recomputed when empty so floating-point residue never accumulates across windows.
  if (g.points.empty()) g.sum = 0;
}

bool ThresholdBook::add(const std::string& key, double value, std::int64_t window_ms, double above,
                        std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (groups_.size() >= kThresholdGroupsMax && !groups_.contains(key)) {
    for (auto it = groups_.begin(); it != groups_.end();) {
      expire(it->second, window_ms, now_ms);
      it = it->second.points.empty() ? groups_.erase(it) : std::next(it);
    }
    if (groups_.size() >= kThresholdGroupsMax) groups_.erase(groups_.begin());
  }
  Group& g = groups_[key];
  expire(g, window_ms, now_ms);
  const double before = g.sum;
  if (g.points.size() >= kThresholdPointsMax) {
    // Merged into the newest point: the total stays exact, only its expiry gets coarser.
    g.points.back().value += value;
  } else {
    g.points.push_back({now_ms, value});
  }
  g.sum += value;
  return before <= above && g.sum > above;
}

double ThresholdBook::total(const std::string& key, std::int64_t window_ms, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = groups_.find(key);
  if (it == groups_.end()) return 0;
  expire(it->second, window_ms, now_ms);
  return it->second.sum;
}

void ThresholdBook::forget_prefix(const std::string& prefix) {
  std::lock_guard lock(mu_);
  std::erase_if(groups_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
}

}  // namespace warden::automation
