// Dry-runs: every action on every target asked of its driver's dry_run, nothing executed. The
// transcript says which inventory it used and how fresh it was, so a reader can judge the plan.
#include <fmt/format.h>

#include <algorithm>

#include "automation/engine.h"
#include "automation/engine_internal.h"
#include "automation/selector.h"

namespace warden::automation {

namespace json = boost::json;

namespace {

json::object action_json(const CompiledAction& a) {
  return json::object{{"host", a.host}, {"capability", a.capability}, {"verb", a.verb}};
}

}  // namespace

Result<json::object> AutomationEngine::dry_run(const CompiledAutomation& a,
                                               const std::optional<Event>& sample,
                                               const std::string& correlation_id) {
  const Event* e = sample ? &*sample : nullptr;
  Severity worst = Severity::kInfo;
  json::array rows;
  auto add = [&](json::object row, Severity s) {
    worst = std::max(worst, s);
    row["severity"] = severity_name(s);
    rows.push_back(std::move(row));
  };

  std::set<std::string> hosts;
  for (const auto& t : a.targets) hosts.insert(t.host);
  for (const auto& act : a.actions) hosts.insert(act.host);
  json::object used;
  std::set<std::string> stale_hosts;
  for (const std::string& host : hosts) {
    if (drivers_.find(host) == nullptr) continue;
    InventorySnapshot snap = inventory_.snapshot(host);
    // A stale listing is refreshed once (fast); if that fails the stale one is used and said so.
    if (snap.stale) {
      if (Result<InventorySnapshot> r = inventory_.refresh(host, false); r.ok()) snap = *r;
    }
    if (snap.stale) stale_hosts.insert(host);
    used[host] = json::object{{"refreshed_at", format_rfc3339(snap.refreshed_at_ms / 1000)},
                              {"refreshed_at_ms", snap.refreshed_at_ms},
                              {"stale", snap.stale}};
  }

  auto one = [&](const CompiledAction& action, const InventoryItem& item) {
    json::object row{{"action", action_json(action)},
                     {"target", item.id.empty() ? json::value(nullptr) : json::value(item.id)}};
    Severity floor = stale_hosts.contains(action.host) ? Severity::kWarn : Severity::kInfo;
    if (floor == Severity::kWarn) row["warning"] = "inventory is stale";
    std::string why;
    if (!conditions_hold(a, e, item, why)) {
      row["skipped"] = why;
      return add(std::move(row), floor);
    }
    Driver* driver = drivers_.find(action.host);
    if (driver == nullptr) {
      row["error"] = json::object{{"code", "AUTOMATION_HOST_NOT_FOUND"},
                                  {"message", fmt::format("no host '{}'", action.host)}};
      return add(std::move(row), Severity::kError);
    }
    Result<json::object> expanded =
        expand_templates(action.params, e, item.id.empty() ? nullptr : &item);
    if (!expanded.ok()) {
      row["error"] = json::object{{"code", error_code_name(expanded.status().code())},
                                  {"message", "params: " + expanded.status().message()}};
      return add(std::move(row), Severity::kError);
    }
    const json::object& params = *expanded;
    ActionCall call{action.host,
                    action.capability,
                    action.verb,
                    params,
                    item,
                    e != nullptr ? event_json(*e) : json::object(),
                    idempotency_key(a.id, action, item.id, params),
                    correlation_id,
                    a.org};
    Result<DryRun> d = driver->dry_run(call);
    if (!d.ok()) {
      row["error"] = json::object{{"code", error_code_name(d.status().code())},
                                  {"message", d.status().message()}};
      return add(std::move(row), Severity::kError);
    }
    const Severity s = std::max(floor, d->severity);
    row["dry_run"] = dry_run_json(*d);
    add(std::move(row), s);
  };

  std::set<std::string> hosts_with_targets;
  for (const CompiledTarget& t : a.targets) {
    hosts_with_targets.insert(t.host);
    const std::vector<InventoryItem> items = resolve_target(t, e, a.org);
    for (const CompiledAction& action : a.actions) {
      if (action.host != t.host) continue;
      if (items.empty()) {
        // Warn and continue: the automation may still be right, its targets are absent now.
        add(json::object{{"action", action_json(action)},
                         {"target", nullptr},
                         {"warning", fmt::format("selector '{}' matched nothing", t.selector)}},
            Severity::kWarn);
      }
      for (const InventoryItem& item : items) one(action, item);
    }
  }
  for (const CompiledAction& action : a.actions) {
    if (!hosts_with_targets.contains(action.host)) one(action, InventoryItem{});
  }
  return json::object{{"transcript_id", ids_.next()},     {"automation_id", a.id},
                      {"correlation_id", correlation_id}, {"used_inventory", std::move(used)},
                      {"rows", std::move(rows)},          {"severity", severity_name(worst)}};
}

}  // namespace warden::automation
