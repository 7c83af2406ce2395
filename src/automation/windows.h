// The engine's time windows (docs/automation.md, "Execution"): suppression (an automation acts
// on a target at most once per window), idempotency (one effect, by key, at most once per
// window) and thresholds (a rolling count or sum crossing a value). Time comes from the caller
// (the engine's Clock), so tests drive them with a FakeClock. Internal to the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace warden::automation {

// Bounds on what the windows remember; past them the oldest-expiring entries go first.
inline constexpr std::size_t kWindowEntriesMax = 100'000;
inline constexpr std::size_t kThresholdGroupsMax = 100'000;
inline constexpr std::size_t kThresholdPointsMax = 100'000;  // per group

// Thread-safe.
class WindowBook {
 public:
  // Suppression of (automation, host, target): admits the run and remembers it unless another
  // firing of the automation ran on that target less than window_ms ago. All actions of one
  // firing (the same firing_id) on a target are admitted together. window_ms 0: always.
  bool admit(const std::string& automation_id, const std::string& host,
             const std::string& target_id, const std::string& firing_id, std::int64_t window_ms,
             std::int64_t now_ms);
  // Puts back a run read from the store at start (its window counted from at_ms).
  void restore_run(const std::string& automation_id, const std::string& host,
                   const std::string& target_id, const std::string& firing_id,
                   std::int64_t window_ms, std::int64_t at_ms);
  // Idempotency: whether `key` executed less than window_ms ago.
  bool duplicate(const std::string& key, std::int64_t now_ms);
  // Remembers that `key` executed (successfully) at now_ms for window_ms.
  void executed(const std::string& key, std::int64_t window_ms, std::int64_t now_ms);
  // Forgets an automation's suppression entries (it was changed or deleted).
  void forget(const std::string& automation_id);
  std::size_t size() const;

 private:
  struct Run {
    std::string firing_id;
    std::int64_t at_ms = 0;
    std::int64_t until_ms = 0;
  };
  void prune(std::int64_t now_ms);  // requires mu_

  mutable std::mutex mu_;
  std::map<std::string, Run> runs_;  // guarded by mu_; automation \x1f host \x1f target
  std::map<std::string, std::int64_t> executed_;  // guarded by mu_; key -> until_ms
};

// Rolling windows of threshold triggers, per (automation, trigger, group). Thread-safe.
class ThresholdBook {
 public:
  // Adds `value` (1 for a count) at now_ms and reports whether the window's total went from at
  // or below `above` to over it: it fires once per crossing and re-arms only after the total
  // falls back (points leave the window, or negative values).
  bool add(const std::string& key, double value, std::int64_t window_ms, double above,
           std::int64_t now_ms);
  // The total now (points older than window_ms dropped).
  double total(const std::string& key, std::int64_t window_ms, std::int64_t now_ms);
  void forget_prefix(const std::string& prefix);

 private:
  struct Point {
    std::int64_t at_ms;
    double value;
  };
  struct Group {
    std::deque<Point> points;
    double sum = 0;
  };
  static void expire(Group& g, std::int64_t window_ms, std::int64_t now_ms);

  std::mutex mu_;
  std::map<std::string, Group> groups_;  // guarded by mu_
};

}  // namespace warden::automation
