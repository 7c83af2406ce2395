// AutomationEngine: intake and matching (one matcher thread, so events are matched in the order
// their writes committed), firing (targets, conditions, planned actions), execution on the host
// queues, and the records. Schedules are in scheduler.cc, dry-runs in dry_run.cc.
#include "automation/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <future>

#include "automation/engine_internal.h"
#include "automation/selector.h"
#include "core/json.h"
#include "core/sha256.h"
#include "core/thread_name.h"

namespace warden::automation {

namespace json = boost::json;

namespace {

std::string_view announcement_kind(std::string_view outcome) {
  if (outcome == "succeeded") return event_kind::kAutomationExecuted;
  if (outcome == "failed" || outcome == "timeout") return event_kind::kAutomationFailed;
  if (outcome == "suppressed") return event_kind::kAutomationSuppressed;
  return {};
}

std::string_view audit_type(std::string_view outcome) {
  if (outcome == "succeeded") return "AUTOMATION_EXECUTED";
  if (outcome == "failed" || outcome == "timeout") return "AUTOMATION_FAILED";
  return "AUTOMATION_NOT_EXECUTED";  // suppressed, duplicate, skipped
}

// An automation's own announcements never trigger it again (a loop of one).
bool own_announcement(const Event& e, const CompiledAutomation& a) {
  if (e.source != kWardenSource || !e.kind.starts_with("automation.")) return false;
  const json::value* id = e.attributes.if_contains("automation_id");
  return id != nullptr && id->is_string() && id->get_string() == a.id;
}

std::optional<double> number_of(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

std::string group_of(const Event& e, const std::string& group_by) {
  if (group_by.empty() || group_by == "subject") return e.subject;
  if (group_by == "source") return e.source;
  if (group_by == "kind") return e.kind;
  const json::value* v = e.attributes.if_contains(group_by);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

}  // namespace

// ---- helpers shared with the routes ---------------------------------------------------------

json::object mask_secrets(const json::object& params) {
  json::object out;
  for (const auto& kv : params) {
    std::string key(kv.key());
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool secret =
        key.find("secret") != std::string::npos || key.find("token") != std::string::npos ||
        key.find("password") != std::string::npos || key.find("key") != std::string::npos;
    if (secret) {
      out[kv.key()] = "***";
    } else if (kv.value().is_object()) {
      out[kv.key()] = mask_secrets(kv.value().get_object());
    } else if (kv.value().is_array()) {
      json::array items;
      for (const auto& item : kv.value().get_array()) {
        items.push_back(item.is_object() ? json::value(mask_secrets(item.get_object())) : item);
      }
      out[kv.key()] = std::move(items);
    } else {
      out[kv.key()] = kv.value();
    }
  }
  return out;
}

std::string idempotency_key(const std::string& automation_id, const CompiledAction& action,
                            const std::string& target_id, const json::object& params) {
  return canonical_hash(json::object{{"automation_id", automation_id},
                                     {"host", action.host},
                                     {"capability", action.capability},
                                     {"verb", action.verb},
                                     {"target", target_id},
                                     {"params", params}});
}

store::AutomationExecutionRow execution_row(const ExecutionRecord& r) {
  store::AutomationExecutionRow row;
  row.id = r.id;
  row.automation_id = r.automation_id;
  if (!r.event_id.empty()) row.event_id = r.event_id;
  row.host = r.host;
  row.target_id = r.target_id;
  row.capability = r.capability;
  row.verb = r.verb;
  row.outcome = r.outcome;
  row.idempotency_key = r.idempotency_key;
  row.effects = json::serialize(r.effects);
  row.reason = r.reason;
  row.correlation_id = r.correlation_id;
  row.started_at_ms = r.started_at_ms;
  row.finished_at_ms = r.finished_at_ms;
  return row;
}

ExecutionRecord execution_from_row(const store::AutomationExecutionRow& row) {
  ExecutionRecord r;
  r.id = row.id;
  r.automation_id = row.automation_id;
  r.event_id = row.event_id.value_or("");
  r.host = row.host;
  r.target_id = row.target_id;
  r.capability = row.capability;
  r.verb = row.verb;
  r.outcome = row.outcome;
  r.idempotency_key = row.idempotency_key;
  Result<json::value> effects = parse_json(row.effects);
  if (effects.ok() && effects->is_array()) r.effects = effects->get_array();
  r.reason = row.reason;
  r.correlation_id = row.correlation_id;
  r.started_at_ms = row.started_at_ms;
  r.finished_at_ms = row.finished_at_ms;
  return r;
}

store::EventRow event_row(const Event& e, std::int64_t received_at_ms) {
  return store::EventRow{.id = e.id,
                         .kind = e.kind,
                         .source = e.source,
                         .subject = e.subject,
                         .occurred_at_ms = e.occurred_at_ms,
                         .attributes = json::serialize(e.attributes),
                         .received_at_ms = received_at_ms};
}

store::InventoryRow inventory_row(const InventorySnapshot& s) {
  json::array items;
  for (const InventoryItem& item : s.items) items.push_back(inventory_item_json(item));
  return store::InventoryRow{.host = s.host,
                             .items = json::serialize(items),
                             .refreshed_at_ms = s.refreshed_at_ms,
                             .full = s.full};
}

Result<InventorySnapshot> inventory_from_row(const store::InventoryRow& row) {
  const Status bad(ErrorCode::INTERNAL_ERROR, fmt::format("stored inventory of {} is not a list "
                                                          "of items",
                                                          row.host));
  WARDEN_ASSIGN_OR_RETURN(json::value items, parse_json(row.items));
  if (!items.is_array()) return bad;
  InventorySnapshot s{.host = row.host,
                      .items = {},
                      .refreshed_at_ms = row.refreshed_at_ms,
                      .full = row.full,
                      .stale = false};
  auto text = [](const json::object& o, std::string_view k) {
    const json::value* v = o.if_contains(k);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  for (const json::value& v : items.get_array()) {
    if (!v.is_object()) return bad;
    const json::object& o = v.get_object();
    InventoryItem item{text(o, "id"), text(o, "name"), text(o, "kind"), {}};
    if (const json::value* labels = o.if_contains("labels"); labels && labels->is_object()) {
      for (const auto& kv : labels->get_object()) {
        if (kv.value().is_string()) item.labels[kv.key()] = std::string(kv.value().get_string());
      }
    }
    s.items.push_back(std::move(item));
  }
  return s;
}

// ---- lifecycle --------------------------------------------------------------------------------

AutomationEngine::AutomationEngine(store::Store& store, store::BatchWriter& writer,
                                   DriverRegistry& drivers, Inventory& inventory,
                                   const Clock& clock, IdGenerator& ids, EngineOptions options)
    : store_(store),
      writer_(writer),
      drivers_(drivers),
      inventory_(inventory),
      clock_(clock),
      ids_(ids),
      options_(options),
      loaded_(std::make_shared<Loaded>()) {}

AutomationEngine::~AutomationEngine() { stop(); }

Status AutomationEngine::start() {
  {
    std::lock_guard lock(mu_);
    if (running_) return Status();
  }
  WARDEN_RETURN_IF_ERROR(restore_inventory());
  WARDEN_RETURN_IF_ERROR(reload());
  WARDEN_RETURN_IF_ERROR(restore_windows());
  std::lock_guard lock(mu_);
  executors_ = std::make_unique<HostQueues>(options_.concurrency_max, kActionJobsQueuedMax);
  stopping_ = false;
  running_ = true;
  matcher_ = std::thread([this] { matcher_loop(); });
  if (options_.scheduler_period_ms > 0) scheduler_ = std::thread([this] { scheduler_loop(); });
  return Status();
}

Status AutomationEngine::restore_inventory() {
  for (const HostInfo& host : drivers_.hosts()) {
    WARDEN_ASSIGN_OR_RETURN(std::optional<store::InventoryRow> row, store_.get_inventory(host.id));
    if (!row) continue;
    WARDEN_ASSIGN_OR_RETURN(InventorySnapshot s, inventory_from_row(*row));
    inventory_.restore(std::move(s));
  }
  // Each refresh is stored (not awaited: a lost one is only an older listing after a restart).
  inventory_.set_on_refresh([&writer = writer_](const InventorySnapshot& s) {
    (void)writer.submit_independent(
        [row = inventory_row(s)](store::WriteTxn& t) { return t.put_inventory(row); },
        [](const Status&) {});
  });
  return Status();
}

Status AutomationEngine::restore_windows() {
  const std::shared_ptr<const Loaded> loaded = snapshot();
  for (const auto& a : loaded->all) {
    if (a->suppression_window_ms <= 0 && a->idempotency_window_ms <= 0) continue;
    // Only the newest kExecutionsKeptMax rows are kept: a window holding more runs than that
    // is restored from those.
    WARDEN_ASSIGN_OR_RETURN(std::vector<store::AutomationExecutionRow> rows,
                            store_.list_executions(a->id, std::nullopt, store::kExecutionsKeptMax));
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {  // oldest first
      const bool ran =
          it->outcome == "succeeded" || it->outcome == "failed" || it->outcome == "timeout";
      if (ran) {
        windows_.restore_run(a->id, it->host, it->target_id, it->correlation_id,
                             a->suppression_window_ms, it->started_at_ms);
      }
      if (it->outcome == "succeeded") {
        windows_.executed(it->idempotency_key, a->idempotency_window_ms, it->started_at_ms);
      }
    }
  }
  return Status();
}

void AutomationEngine::stop() {
  {
    std::unique_lock lock(mu_);
    stopping_ = true;
    if (!running_) {
      // Never started: only the intake's writes may still call back.
      idle_cv_.wait(lock, [&] { return writes_in_flight_ == 0; });
      return;
    }
    // Accepted events are matched before the matcher goes (their writes may still commit).
    sched_cv_.notify_all();
    idle_cv_.wait(lock, [&] { return accepted_ == 0; });
    match_cv_.notify_all();
  }
  if (matcher_.joinable()) matcher_.join();
  if (scheduler_.joinable()) scheduler_.join();
  executors_->stop();
  inventory_.set_on_refresh(nullptr);
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return records_pending_ == 0; });
  running_ = false;
}

// ---- intake --------------------------------------------------------------------------------

void AutomationEngine::submit(Event e, std::function<void(Status)> done) {
  auto answer = [&done](Status s) {
    if (done) done(std::move(s));
  };
  if (Status s = validate_event(e); !s.ok()) return answer(std::move(s));
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return answer(Status(ErrorCode::INTERNAL_SHUTTING_DOWN, "automation engine stopping"));
    }
    if (accepted_ >= options_.queue_max) {
      json::object details;
      details["retry_after_seconds"] = 1;
      return answer(Status(ErrorCode::EVENT_QUEUE_FULL,
                           fmt::format("{} events are waiting", accepted_), std::move(details)));
    }
    ++accepted_;
    ++writes_in_flight_;
  }
  store::EventRow row = event_row(e, clock_.now_ms());
  auto event = std::make_shared<Event>(std::move(e));
  Status queued = writer_.submit_independent(
      [row = std::move(row)](store::WriteTxn& t) { return t.insert_event(row); },
      [this, event, done](const Status& written) {
        {
          // Everything touching the engine happens under the lock: once it is released, stop()
          // may return and the engine go; only `done` runs after.
          std::lock_guard lock(mu_);
          --writes_in_flight_;
          if (written.ok()) {
            to_match_.push_back(std::move(*event));
            match_cv_.notify_one();
          } else {
            --accepted_;
          }
          idle_cv_.notify_all();
        }
        if (done) done(written);
      });
  if (!queued.ok()) {
    {
      std::lock_guard lock(mu_);
      --writes_in_flight_;
      --accepted_;
      idle_cv_.notify_all();
    }
    answer(std::move(queued));
  }
}

void AutomationEngine::emit(Event e) {
  if (!wants(e.kind)) return;
  auto kept = std::make_shared<Event>(e);
  submit(std::move(e), [this, kept](Status s) {
    if (s.ok()) return;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    if (on_dropped_) on_dropped_(*kept, s);
  });
}

void AutomationEngine::set_on_dropped(std::function<void(const Event&, const Status&)> on_dropped) {
  on_dropped_ = std::move(on_dropped);
}

bool AutomationEngine::wants(std::string_view kind) const {
  std::lock_guard lock(loaded_mu_);
  return loaded_->by_kind.find(kind) != loaded_->by_kind.end();
}

std::size_t AutomationEngine::queued() const {
  std::lock_guard lock(mu_);
  return accepted_;
}

std::size_t AutomationEngine::executions_running_max() const {
  std::lock_guard lock(mu_);
  return executors_ ? executors_->running_max_seen() : 0;
}

void AutomationEngine::matcher_loop() {
  name_this_thread("warden-amatch");
  std::unique_lock lock(mu_);
  for (;;) {
    match_cv_.wait(lock, [&] { return !to_match_.empty() || (stopping_ && accepted_ == 0); });
    if (to_match_.empty()) return;
    Event e = std::move(to_match_.front());
    to_match_.pop_front();
    lock.unlock();
    match(e);
    lock.lock();
    --accepted_;
    idle_cv_.notify_all();
  }
}

void AutomationEngine::drain() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      idle_cv_.wait(lock, [&] { return accepted_ == 0; });
    }
    if (executors_) executors_->wait_idle();
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [&] { return records_pending_ == 0; });
    // Records announce events, which may fire more: done only when all three are quiet.
    if (accepted_ == 0 && (!executors_ || executors_->running() == 0)) return;
  }
}

// ---- matching -------------------------------------------------------------------------------

std::shared_ptr<const AutomationEngine::Loaded> AutomationEngine::snapshot() const {
  std::lock_guard lock(loaded_mu_);
  return loaded_;
}

void AutomationEngine::match(const Event& e) {
  const std::shared_ptr<const Loaded> loaded = snapshot();
  auto it = loaded->by_kind.find(e.kind);
  if (it == loaded->by_kind.end()) return;
  EventScratch scratch;
  for (std::size_t index : it->second) {
    const auto& a = loaded->all[index];
    if (fires(*a, e, true, scratch)) fire(a, &e);
  }
}

std::vector<std::string> AutomationEngine::matching(const Event& e) {
  const std::shared_ptr<const Loaded> loaded = snapshot();
  std::vector<std::string> ids;
  auto it = loaded->by_kind.find(e.kind);
  if (it == loaded->by_kind.end()) return ids;
  EventScratch scratch;
  for (std::size_t index : it->second) {
    if (fires(*loaded->all[index], e, false, scratch)) ids.push_back(loaded->all[index]->id);
  }
  return ids;
}

bool AutomationEngine::fires(const CompiledAutomation& a, const Event& e, bool count_thresholds,
                             EventScratch& scratch) {
  if (own_announcement(e, a)) return false;
  if (a.org && !event_in_org(e, *a.org, scratch)) return false;
  bool any = false;
  bool all = true;
  bool some = false;
  // Every trigger is evaluated, without short-circuit: a threshold counts each event.
  for (std::size_t i = 0; i < a.triggers.size(); ++i) {
    const CompiledTrigger& t = a.triggers[i];
    if (t.kind == CompiledTrigger::Kind::kSchedule) continue;
    const bool hit = (count_thresholds || t.kind != CompiledTrigger::Kind::kThreshold) &&
                     triggered(a, i, e, scratch.filter_vars);
    some = true;
    any = any || hit;
    all = all && hit;
  }
  return a.logic_all ? (some && all) : any;
}

bool AutomationEngine::triggered(const CompiledAutomation& a, std::size_t index, const Event& e,
                                 std::optional<json::object>& filter_vars) {
  const CompiledTrigger& t = a.triggers[index];
  if (t.event != e.kind) return false;
  if (t.kind == CompiledTrigger::Kind::kEvent) {
    if (!t.filter) return true;
    if (!filter_vars) filter_vars = automation_vars(&e, nullptr, clock_.now_ms());
    return eval_bool(*t.filter, *filter_vars);
  }
  double value = 1;
  if (t.measure.starts_with("sum:")) {
    std::optional<double> v = number_of(e.attributes.if_contains(t.measure.substr(4)));
    if (!v) return false;  // an event without the number does not count
    value = *v;
  }
  const std::string key = fmt::format("{}\x1f{}\x1f{}", a.id, index, group_of(e, t.group_by));
  return thresholds_.add(key, value, t.window_ms, t.above, clock_.now_ms());
}

bool eval_bool(const expr::Program& program, const json::object& vars) {
  expr::Activation act(program);
  if (!act.bind_json(vars).ok()) return false;
  const expr::Value v = program.eval(act);
  return v.kind == expr::Kind::kBool && v.b;
}

bool AutomationEngine::conditions_hold(const CompiledAutomation& a, const Event* e,
                                       const InventoryItem& item, std::string& reason) {
  if (a.conditions.empty()) return true;
  const json::object vars = automation_vars(e, item.id.empty() ? nullptr : &item, clock_.now_ms());
  for (std::size_t i = 0; i < a.conditions.size(); ++i) {
    if (!eval_bool(*a.conditions[i], vars)) {
      reason = fmt::format("condition {} is not true: {}", i,
                           i < a.condition_sources.size() ? a.condition_sources[i] : "");
      return false;
    }
  }
  return true;
}

bool AutomationEngine::agent_in_org(const std::string& agent_id, const std::string& org) {
  auto agent = store_.get_agent(agent_id);
  return agent.ok() && *agent && (*agent)->org == org;
}

bool AutomationEngine::event_in_org(const Event& e, const std::string& org,
                                    EventScratch& scratch) {
  if (e.subject.empty()) return false;
  // One read of the subject for all the org automations the event is matched against.
  if (!scratch.subject_read) {
    auto agent = store_.get_agent(e.subject);
    if (agent.ok() && *agent) scratch.subject_org = (*agent)->org;
    scratch.subject_read = true;
  }
  return scratch.subject_org == org;
}

bool AutomationEngine::item_in_org(const InventoryItem& item, const std::string& org) {
  if (auto it = item.labels.find("org"); it != item.labels.end()) return it->second == org;
  // A policy names its agent; a global policy, or nothing of an agent's, is no org's.
  auto agent_id = item.labels.find("agent_id");
  return agent_id != item.labels.end() && agent_in_org(agent_id->second, org);
}

std::vector<InventoryItem> AutomationEngine::resolve_target(const CompiledTarget& t,
                                                            const Event* e,
                                                            const std::optional<std::string>& org) {
  InventorySnapshot snap = inventory_.snapshot(t.host);
  auto find = [&snap](const std::string& id) -> const InventoryItem* {
    auto it = std::lower_bound(
        snap.items.begin(), snap.items.end(), id,
        [](const InventoryItem& item, const std::string& k) { return item.id < k; });
    return it != snap.items.end() && it->id == id ? &*it : nullptr;
  };
  std::vector<std::string> ids;
  if (t.from_event_subject) {
    if (e == nullptr || e->subject.empty()) return {};
    // A subject the inventory has not seen yet (an agent created since): one fast refresh.
    if (find(e->subject) == nullptr) {
      if (Result<InventorySnapshot> r = inventory_.refresh(t.host, false); r.ok()) snap = *r;
    }
    if (find(e->subject) == nullptr) return {};
    ids.push_back(e->subject);
  } else if (t.dynamic) {
    if (snap.stale) {
      if (Result<InventorySnapshot> r = inventory_.refresh(t.host, false); r.ok()) snap = *r;
    }
    Result<Selector> sel = parse_selector(t.selector);
    if (!sel.ok()) return {};
    ids = resolve(*sel, snap.items, e);
  } else {
    ids = t.resolved_ids;
  }
  std::vector<InventoryItem> items;
  for (const std::string& id : ids) {
    if (items.size() >= kTargetsPerFiringMax) break;
    const InventoryItem* item = find(id);
    if (org) {
      // Another org's objects are not there for an org's automation, not even by id.
      if (item != nullptr && item_in_org(*item, *org)) items.push_back(*item);
      continue;
    }
    // Resolved at compile time and gone since: the driver decides what acting on it means.
    items.push_back(item != nullptr ? *item : InventoryItem{id, id, "", {}});
  }
  return items;
}

void AutomationEngine::fire(const std::shared_ptr<const CompiledAutomation>& a, const Event* e) {
  const std::string firing_id = ids_.next();
  std::optional<Event> event = e != nullptr ? std::optional<Event>(*e) : std::nullopt;
  auto skip = [&](const CompiledAction& action, const std::string& target_id, std::string why) {
    ExecutionRecord r;
    r.id = ids_.next();
    r.automation_id = a->id;
    r.event_id = e != nullptr ? e->id : "";
    r.host = action.host;
    r.target_id = target_id;
    r.capability = action.capability;
    r.verb = action.verb;
    r.outcome = "skipped";
    r.reason = std::move(why);
    r.correlation_id = firing_id;
    r.started_at_ms = r.finished_at_ms = clock_.now_ms();
    record(std::move(r), action.params);
  };
  auto plan = [&](const CompiledAction& action, const InventoryItem& item) {
    Result<json::object> params =
        expand_templates(action.params, e, item.id.empty() ? nullptr : &item);
    if (!params.ok()) return skip(action, item.id, "params: " + params.status().message());
    ActionJob job{a, action, item, event, firing_id, *std::move(params), {}};
    job.key = idempotency_key(a->id, action, item.id, job.params);
    Status s = executors_->submit(action.host, [this, job = std::move(job)] { run_job(job); });
    if (!s.ok()) skip(action, item.id, s.message());
  };
  std::set<std::string> hosts_with_targets;
  for (const CompiledTarget& t : a->targets) {
    hosts_with_targets.insert(t.host);
    const std::vector<InventoryItem> items = resolve_target(t, e, a->org);
    for (const CompiledAction& action : a->actions) {
      if (action.host != t.host) continue;
      if (items.empty()) skip(action, "", fmt::format("no target matched '{}'", t.selector));
    }
    for (const InventoryItem& item : items) {
      std::string why;
      const bool hold = conditions_hold(*a, e, item, why);
      for (const CompiledAction& action : a->actions) {
        if (action.host != t.host) continue;
        if (hold) {
          plan(action, item);
        } else {
          skip(action, item.id, why);
        }
      }
    }
  }
  // An action on a host no target names (a webhook) runs once per firing, on no item.
  for (const CompiledAction& action : a->actions) {
    if (hosts_with_targets.contains(action.host)) continue;
    const InventoryItem none;
    std::string why;
    if (conditions_hold(*a, e, none, why)) {
      plan(action, none);
    } else {
      skip(action, "", why);
    }
  }
}

// ---- execution --------------------------------------------------------------------------------

void AutomationEngine::run_job(const ActionJob& job) {
  const CompiledAutomation& a = *job.automation;
  ExecutionRecord r;
  r.id = ids_.next();
  r.automation_id = a.id;
  r.event_id = job.event ? job.event->id : "";
  r.host = job.action.host;
  r.target_id = job.target.id;
  r.capability = job.action.capability;
  r.verb = job.action.verb;
  r.idempotency_key = job.key;
  r.correlation_id = job.firing_id;
  r.started_at_ms = clock_.now_ms();
  auto finish = [&](std::string outcome, std::string reason) {
    r.outcome = std::move(outcome);
    r.reason = std::move(reason);
    r.finished_at_ms = clock_.now_ms();
    record(r, job.params);
    announce(r);
  };
  // Checked here, on the host's queue, so two firings for one target cannot both pass.
  if (!windows_.admit(a.id, r.host, r.target_id, job.firing_id, a.suppression_window_ms,
                      r.started_at_ms)) {
    return finish("suppressed",
                  fmt::format("ran on this target less than {} ms ago", a.suppression_window_ms));
  }
  if (a.idempotency_window_ms > 0 && windows_.duplicate(job.key, r.started_at_ms)) {
    return finish("duplicate",
                  fmt::format("the same effect ran less than {} ms ago", a.idempotency_window_ms));
  }
  Driver* driver = drivers_.find(r.host);
  if (driver == nullptr) return finish("failed", fmt::format("no host '{}'", r.host));
  ActionCall call{r.host,     r.capability, r.verb,
                  job.params, job.target,   job.event ? event_json(*job.event) : json::object(),
                  job.key,    job.firing_id, a.org};

  std::packaged_task<Result<ExecuteResult>()> task(
      [driver, &call]() -> Result<ExecuteResult> { return driver->execute(call); });
  std::future<Result<ExecuteResult>> answer = task.get_future();
  std::thread caller(std::move(task));
  if (answer.wait_for(std::chrono::milliseconds(options_.driver_timeout_ms)) ==
      std::future_status::timeout) {
    finish("timeout", fmt::format("no answer within {} ms", options_.driver_timeout_ms));
    caller.join();  // the host stays busy until the call ends: still one at a time
    return;
  }
  caller.join();
  std::optional<Result<ExecuteResult>> result;
  try {
    result.emplace(answer.get());
  } catch (const std::exception& ex) {
    return finish("failed", fmt::format("driver threw: {}", ex.what()));
  } catch (...) {
    return finish("failed", "driver threw");
  }
  if (!result->ok()) {
    const Status& s = result->status();
    const bool timed_out = s.code() == ErrorCode::AUTOMATION_DRIVER_TIMEOUT;
    return finish(timed_out ? "timeout" : "failed",
                  fmt::format("{}: {}", error_code_name(s.code()), s.message()));
  }
  r.effects = (*result)->effects;
  if (!(*result)->ok) return finish("failed", (*result)->reason);
  windows_.executed(job.key, a.idempotency_window_ms, r.started_at_ms);
  finish("succeeded", (*result)->reason);
}

void AutomationEngine::record(ExecutionRecord r, const json::object& params) {
  store::AutomationExecutionRow row = execution_row(r);
  store::AuditEvent audit;
  audit.timestamp = clock_.now_seconds();
  audit.event_type = std::string(audit_type(r.outcome));
  audit.actor = "automation:" + r.automation_id;
  if (r.host == "warden" && (r.capability == "agent" || r.capability == "session") &&
      !r.target_id.empty()) {
    audit.agent_id = r.target_id;
  }
  audit.details = canonical_json(json::object{{"automation_id", r.automation_id},
                                              {"execution_id", r.id},
                                              {"event_id", r.event_id},
                                              {"host", r.host},
                                              {"target_id", r.target_id},
                                              {"capability", r.capability},
                                              {"verb", r.verb},
                                              {"outcome", r.outcome},
                                              {"idempotency_key", r.idempotency_key},
                                              {"params", mask_secrets(params)},
                                              {"reason", r.reason}});
  audit.severity = r.outcome == "failed" || r.outcome == "timeout" ? "warning" : "info";
  audit.correlation_id = r.correlation_id;
  {
    std::lock_guard lock(mu_);
    ++records_pending_;
  }
  auto done = [this](const Status&) {
    std::lock_guard lock(mu_);
    --records_pending_;
    idle_cv_.notify_all();
  };
  Status s = writer_.submit_independent(
      [row = std::move(row), audit = std::move(audit)](store::WriteTxn& t) -> Status {
        WARDEN_RETURN_IF_ERROR(t.insert_execution(row));
        return t.append_audit(audit).status();
      },
      done);
  if (!s.ok()) done(s);
}

void AutomationEngine::announce(const ExecutionRecord& r) {
  const std::string_view kind = announcement_kind(r.outcome);
  if (kind.empty() || !wants(kind)) return;
  emit(make_warden_event(kind, r.target_id,
                         json::object{{"automation_id", r.automation_id},
                                      {"execution_id", r.id},
                                      {"event_id", r.event_id},
                                      {"host", r.host},
                                      {"capability", r.capability},
                                      {"verb", r.verb},
                                      {"outcome", r.outcome},
                                      {"reason", r.reason}},
                         clock_, ids_));
}

}  // namespace warden::automation
