// The automation engine (docs/automation.md, "Execution"): events in through a bounded,
// durable intake; automations matched by trigger, filter and conditions in priority order;
// targets resolved; each action on each target checked against the suppression and idempotency
// windows, then run through its host's driver one at a time per host under a global cap; every
// outcome recorded (execution row + audit row in one write) and announced as an event.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "automation/cron.h"
#include "automation/driver.h"
#include "automation/events.h"
#include "automation/host_queues.h"
#include "automation/inventory.h"
#include "automation/ir.h"
#include "automation/template.h"
#include "automation/types.h"
#include "automation/windows.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "store/batch_writer.h"
#include "store/leadership.h"
#include "store/store.h"

namespace warden::automation {

struct EngineOptions {
  std::size_t queue_max = 10'000;   // events accepted and not yet matched; beyond: EVENT_QUEUE_FULL
  std::size_t concurrency_max = 8;  // driver calls running at once, across hosts
  // A driver call still running after this is recorded as "timeout" (plugins are also killed
  // by their own timeout); its host stays busy until the call returns.
  std::int64_t driver_timeout_ms = 10'000;
  // Accepted events older than this are deleted from the store (by tick(), once an hour).
  std::int64_t event_retention_ms = 7LL * 24 * 3600 * 1000;
  // How often the scheduler thread fires due schedules; 0: no thread (tests call tick()).
  std::int64_t scheduler_period_ms = 1'000;
  // Schedules fire and old events are pruned only while this leads (one replica sweeps);
  // nullptr: always.
  const store::Leadership* leadership = nullptr;
};

// Bounds.
inline constexpr std::int64_t kEventPruneIntervalMs = 3'600'000;
inline constexpr std::size_t kEventPruneBatchMax = 10'000;    // rows deleted per prune
inline constexpr std::size_t kActionJobsQueuedMax = 10'000;   // planned actions not yet running
inline constexpr std::size_t kAutomationsLoadedMax = 10'000;  // enabled automations
inline constexpr std::size_t kTargetsPerFiringMax = 1'000;    // items one target may expand to

// Thread-safe.
class AutomationEngine {
 public:
  AutomationEngine(store::Store& store, store::BatchWriter& writer, DriverRegistry& drivers,
                   Inventory& inventory, const Clock& clock, IdGenerator& ids,
                   EngineOptions options);
  ~AutomationEngine();  // stop()
  AutomationEngine(const AutomationEngine&) = delete;
  AutomationEngine& operator=(const AutomationEngine&) = delete;

  // Restores the stored inventories and stores each refresh from now on; loads the enabled
  // automations and restores their windows from their stored executions (a restart forgets
  // neither a suppression nor an idempotency window still open); starts the matcher, the
  // executors and (with scheduler_period_ms > 0) the scheduler.
  Status start();
  // Stops taking events, finishes what was accepted, joins the threads. Call it before the
  // writer stops: the accepted events' writes and the records go through it.
  void stop();
  // Reloads the automations after any change (create, update, enable, disable, delete).
  Status reload();

  // Intake: a validated event (parse_event), written through the writer (durable before `done`
  // runs with OK), then matched. A full queue answers EVENT_QUEUE_FULL (details
  // retry_after_seconds) at once: never dropped silently. `done` may be empty; it runs on the
  // writer's completion thread or the caller's, and must be quick.
  void submit(Event e, std::function<void(Status)> done);
  // Warden's own events: the same path when some automation wants the kind; no answer awaited.
  // One that cannot be taken (a full queue, a failed write) is counted (events_dropped()) and
  // handed to `on_dropped` when set, so it is never lost silently.
  void emit(Event e);
  void set_on_dropped(std::function<void(const Event&, const Status&)> on_dropped);
  std::uint64_t events_dropped() const { return dropped_.load(); }
  // Whether some enabled automation listens to this kind (a lookup; callers skip building
  // events nobody wants).
  bool wants(std::string_view kind) const;

  // A dry-run of one automation for an optional sample event: a transcript {transcript_id,
  // automation_id, correlation_id, used_inventory: {host: {refreshed_at, stale}}, rows: [{action,
  // target, dry_run | error, severity}], severity}. Nothing is executed or recorded here (the
  // caller stores the transcript with the automation and audits it).
  Result<boost::json::object> dry_run(const CompiledAutomation& a,
                                      const std::optional<Event>& sample,
                                      const std::string& correlation_id);

  // The ids of the enabled automations an event would fire, in the order they would run,
  // without acting, recording or counting it (threshold triggers do not hold here). For
  // previews and the matching benchmark.
  std::vector<std::string> matching(const Event& e);

  // Fires the schedules due at the clock's now (the scheduler thread calls it; tests drive it
  // with a FakeClock), and prunes old events once per kEventPruneIntervalMs. Returns how many
  // automations fired. While another replica leads, due schedules only move to their next time
  // (the leader fires them; a takeover does not fire again what the old leader fired).
  std::size_t tick();
  // Returns once every accepted event was matched, its actions ran and their records committed
  // (including the events those records announced).
  void drain();

  std::size_t queued() const;                  // accepted, not yet matched
  std::size_t executions_running_max() const;  // the most driver calls that ever ran at once

 private:
  struct Loaded;
  struct Firing;
  struct ActionJob;

  std::shared_ptr<const Loaded> snapshot() const;
  void matcher_loop();
  void scheduler_loop();
  void match(const Event& e);
  // What the automations matched against one event share, each part read or built by the first
  // automation that needs it.
  struct EventScratch {
    std::optional<boost::json::object> filter_vars;  // the event's CEL variables
    bool subject_read = false;
    std::optional<std::string> subject_org;  // the org of the agent the event is about
  };
  bool fires(const CompiledAutomation& a, const Event& e, bool count_thresholds,
             EventScratch& scratch);
  bool triggered(const CompiledAutomation& a, std::size_t index, const Event& e,
                 std::optional<boost::json::object>& filter_vars);
  void fire(const std::shared_ptr<const CompiledAutomation>& a, const Event* e);
  // The inventory items a target selects; for an org's automation, only its org's.
  std::vector<InventoryItem> resolve_target(const CompiledTarget& t, const Event* e,
                                            const std::optional<std::string>& org);
  // Whether an event is about one of the org's agents (its subject), or an item is the org's (an
  // agent's org label, or a policy's agent's org).
  bool agent_in_org(const std::string& agent_id, const std::string& org);
  bool event_in_org(const Event& e, const std::string& org, EventScratch& scratch);
  bool item_in_org(const InventoryItem& item, const std::string& org);
  bool conditions_hold(const CompiledAutomation& a, const Event* e, const InventoryItem& item,
                       std::string& reason);
  void run_job(const ActionJob& job);
  void record(ExecutionRecord r, const boost::json::object& params);
  void announce(const ExecutionRecord& r);
  Result<ExecuteResult> call_driver(Driver& driver, const ActionCall& call);
  Status restore_inventory();
  Status restore_windows();
  void prune_events(std::int64_t now_ms);

  store::Store& store_;
  store::BatchWriter& writer_;
  DriverRegistry& drivers_;
  Inventory& inventory_;
  const Clock& clock_;
  IdGenerator& ids_;
  const EngineOptions options_;

  mutable std::mutex loaded_mu_;
  std::shared_ptr<const Loaded> loaded_;  // guarded by loaded_mu_; replaced whole by reload()

  WindowBook windows_;
  ThresholdBook thresholds_;
  std::unique_ptr<HostQueues> executors_;

  mutable std::mutex mu_;
  std::condition_variable match_cv_;  // an event to match, or stopping
  std::condition_variable idle_cv_;   // counters reached zero
  std::condition_variable sched_cv_;  // stopping (wakes the scheduler early)
  std::deque<Event> to_match_;        // guarded by mu_
  std::size_t accepted_ = 0;          // guarded by mu_: accepted, not yet matched
  std::size_t writes_in_flight_ = 0;  // guarded by mu_: intake writes not yet called back
  std::size_t records_pending_ = 0;   // guarded by mu_: records submitted, not committed
  std::map<std::string, std::int64_t> next_fire_ms_;  // guarded by mu_: "<id>/<trigger>"
  bool running_ = false;                              // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::atomic<std::uint64_t> dropped_{0};
  std::function<void(const Event&, const Status&)> on_dropped_;  // set before start()
  std::thread matcher_;
  std::thread scheduler_;
  std::mutex tick_mu_;              // one tick at a time
  std::int64_t last_prune_ms_ = 0;  // guarded by tick_mu_
};

// Params with keys naming secrets (containing secret, token, password or key, any case) shown
// as "***", at any depth: what audit rows and logs carry.
boost::json::object mask_secrets(const boost::json::object& params);
// SHA-256 hex over (automation id, host, capability, verb, target id, expanded params).
std::string idempotency_key(const std::string& automation_id, const CompiledAction& action,
                            const std::string& target_id, const boost::json::object& params);

// Conversions between the engine's records and the store's rows.
store::AutomationExecutionRow execution_row(const ExecutionRecord& r);
ExecutionRecord execution_from_row(const store::AutomationExecutionRow& row);
store::EventRow event_row(const Event& e, std::int64_t received_at_ms);
store::InventoryRow inventory_row(const InventorySnapshot& s);
Result<InventorySnapshot> inventory_from_row(const store::InventoryRow& row);

}  // namespace warden::automation
