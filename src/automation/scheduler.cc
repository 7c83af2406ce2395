// Loading automations and firing their schedules. A schedule fires once when the clock has
// passed its next fire time, then computes the next one from now: a clock that jumps over
// several fire times (a suspended host) fires once, not once per missed time.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>

#include "automation/engine.h"
#include "automation/engine_internal.h"
#include "core/json.h"
#include "core/thread_name.h"

namespace warden::automation {

namespace {

constexpr std::size_t kLoadPageSize = 500;

Result<std::shared_ptr<const CompiledAutomation>> compile_row(
    const store::AutomationRow& row, const std::map<std::string, InventorySnapshot>& inventory,
    std::int64_t now_ms) {
  WARDEN_ASSIGN_OR_RETURN(boost::json::value spec, parse_json(row.spec));
  if (!spec.is_object()) return Status(ErrorCode::INTERNAL_ERROR, "stored spec is not an object");
  WARDEN_ASSIGN_OR_RETURN(CompiledAutomation c, compile(spec.get_object(), inventory, now_ms));
  c.id = row.id;
  c.version = row.version;
  c.enabled = row.enabled;
  c.priority = row.priority;
  c.org = row.org;
  return std::make_shared<const CompiledAutomation>(std::move(c));
}

}  // namespace

Status AutomationEngine::reload() {
  // Selectors are expanded against the inventory: a host never listed (nothing stored, a new
  // plugin) is listed once first, or its targets would compile to nothing.
  for (const HostInfo& host : drivers_.hosts()) {
    if (inventory_.snapshot(host.id).refreshed_at_ms == 0) (void)inventory_.refresh(host.id, false);
  }
  const std::int64_t now_ms = clock_.now_ms();
  const std::map<std::string, InventorySnapshot> inventory = inventory_.all();
  auto loaded = std::make_shared<Loaded>();
  store::Page page{.after_id = std::nullopt, .limit = kLoadPageSize};
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(std::vector<store::AutomationRow> rows, store_.list_automations(page));
    for (const store::AutomationRow& row : rows) {
      if (!row.enabled) continue;
      if (loaded->all.size() >= kAutomationsLoadedMax) {
        return Status(ErrorCode::INTERNAL_ERROR,
                      fmt::format("more than {} enabled automations", kAutomationsLoadedMax));
      }
      // One that no longer compiles (its host went away) is left out; the others still run.
      Result<std::shared_ptr<const CompiledAutomation>> c = compile_row(row, inventory, now_ms);
      if (c.ok()) loaded->all.push_back(*std::move(c));
    }
    if (rows.size() < page.limit) break;
    page.after_id = rows.back().id;
  }
  std::sort(loaded->all.begin(), loaded->all.end(), [](const auto& x, const auto& y) {
    return x->priority != y->priority ? x->priority > y->priority : x->id < y->id;
  });
  for (std::size_t i = 0; i < loaded->all.size(); ++i) {
    const CompiledAutomation& a = *loaded->all[i];
    for (std::size_t t = 0; t < a.triggers.size(); ++t) {
      const CompiledTrigger& trig = a.triggers[t];
      if (trig.kind == CompiledTrigger::Kind::kSchedule) {
        Result<Cron> cron = parse_cron(trig.cron, trig.time_zone);
        if (!cron.ok()) continue;
        loaded->schedules.push_back(
            {i, t, *std::move(cron),
             fmt::format("{}/{}/{}/{}", a.id, t, trig.cron, trig.time_zone)});
        continue;
      }
      auto& list = loaded->by_kind[trig.event];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
  }
  {
    // Schedules kept across a reload keep their next time; new ones start from now.
    std::lock_guard lock(mu_);
    std::map<std::string, std::int64_t> next;
    for (const auto& s : loaded->schedules) {
      auto it = next_fire_ms_.find(s.key);
      next[s.key] = it != next_fire_ms_.end() ? it->second : next_fire_ms(s.cron, now_ms);
    }
    next_fire_ms_ = std::move(next);
  }
  std::lock_guard lock(loaded_mu_);
  loaded_ = std::move(loaded);
  return Status();
}

std::size_t AutomationEngine::tick() {
  std::lock_guard tick_lock(tick_mu_);
  const std::int64_t now_ms = clock_.now_ms();
  const std::shared_ptr<const Loaded> loaded = snapshot();
  std::vector<std::size_t> due;
  {
    std::lock_guard lock(mu_);
    if (!running_ || stopping_) return 0;
    for (const auto& s : loaded->schedules) {
      auto it = next_fire_ms_.find(s.key);
      if (it == next_fire_ms_.end() || it->second > now_ms) continue;
      it->second = next_fire_ms(s.cron, now_ms);
      // Two schedules of one automation due together fire it once.
      if (std::find(due.begin(), due.end(), s.automation) == due.end()) {
        due.push_back(s.automation);
      }
    }
  }
  if (!store::sweeps(options_.leadership)) return 0;
  std::sort(due.begin(), due.end());  // `all` is in priority order
  for (std::size_t index : due) fire(loaded->all[index], nullptr);
  if (now_ms - last_prune_ms_ >= kEventPruneIntervalMs) {
    last_prune_ms_ = now_ms;
    prune_events(now_ms);
  }
  return due.size();
}

void AutomationEngine::prune_events(std::int64_t now_ms) {
  const std::int64_t before_ms = now_ms - options_.event_retention_ms;
  {
    std::lock_guard lock(mu_);
    ++records_pending_;  // drain() and stop() wait for it like a record
  }
  auto done = [this](const Status&) {
    std::lock_guard lock(mu_);
    --records_pending_;
    idle_cv_.notify_all();
  };
  Status s = writer_.submit_independent(
      [before_ms](store::WriteTxn& t) {
        return t.delete_events_before(before_ms, kEventPruneBatchMax).status();
      },
      done);
  if (!s.ok()) done(s);
}

void AutomationEngine::scheduler_loop() {
  name_this_thread("warden-acron");
  std::unique_lock lock(mu_);
  while (!stopping_) {
    sched_cv_.wait_for(lock, std::chrono::milliseconds(options_.scheduler_period_ms));
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

}  // namespace warden::automation
