// `warden automation validate|dry-run`: an automation spec checked and dry-run without a daemon
// (docs/automation.md, "API and CLI"). The hosts are the built-in ones and the plugins of
// --plugins; the built-in host "warden" has no inventory offline (it lists the daemon's agents
// and policies only inside the daemon).
#include <stdlib.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "automation/driver.h"
#include "automation/engine.h"
#include "automation/events.h"
#include "automation/inventory.h"
#include "automation/ir.h"
#include "automation/spec.h"
#include "cli/commands.h"
#include "core/json.h"
#include "store/batch_writer.h"
#include "store/sqlite/sqlite_store.h"

namespace warden::cli {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// The daemon's own actions, offline: nothing to list and nothing to act on.
class OfflineWardenActions final : public automation::WardenActions {
 public:
  Status suspend_agent(const std::string&, const std::string&, const std::string&) override {
    return offline();
  }
  Status resume_agent(const std::string&, const std::string&) override { return offline(); }
  Result<std::int64_t> revoke_sessions(const std::string&, const std::string&) override {
    return offline();
  }
  Status set_policy_enabled(const std::string&, bool, const std::string&) override {
    return offline();
  }
  Result<std::vector<automation::InventoryItem>> agents() override {
    return std::vector<automation::InventoryItem>{};
  }
  Result<std::vector<automation::InventoryItem>> policies() override {
    return std::vector<automation::InventoryItem>{};
  }

 private:
  static Status offline() {
    return Status(ErrorCode::INTERNAL_NOT_READY, "the warden host acts only inside the daemon");
  }
};

Result<json::value> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_json(text.str());
}

// The hosts a daemon would have: "warden", "webhook" (its secret does not matter offline:
// nothing is sent) and the plugins of `plugins_dir`.
Status add_drivers(automation::DriverRegistry& drivers, automation::WardenActions& actions,
                   const std::string& plugins_dir) {
  drivers.add(automation::make_warden_driver(actions));
  drivers.add(automation::make_webhook_driver("offline"));
  if (!plugins_dir.empty()) WARDEN_RETURN_IF_ERROR(drivers.load_plugins(plugins_dir));
  return Status();
}

json::object check_json(const automation::SpecCheck& c) {
  json::object out;
  out["ok"] = !c.has_blocker() && !c.action_mismatch();
  out["issues"] = policy::issues_to_json(c.issues);
  out["hash"] = c.hash.empty() ? json::value(nullptr) : json::value(c.hash);
  return out;
}

int fail(const Status& s) {
  std::cerr << "error: " << s.to_string() << "\n";
  return kExitFailed;
}

// A scratch store for the engine's dry-run, removed on exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "warden-automation-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::set<std::string> target_hosts(const json::object& normalized) {
  std::set<std::string> hosts;
  const auto* targets = normalized.if_contains("targets");
  if (targets == nullptr || !targets->is_array()) return hosts;
  for (const auto& t : targets->as_array()) {
    const auto* host = t.is_object() ? t.as_object().if_contains("host") : nullptr;
    if (host && host->is_string()) hosts.emplace(host->as_string());
  }
  return hosts;
}

Result<json::object> dry_run(const AutomationArgs& args, const json::object& normalized,
                             automation::DriverRegistry& drivers) {
  SystemClock clock;
  IdGenerator ids(clock);
  std::optional<automation::Event> sample;
  if (!args.event_file.empty()) {
    WARDEN_ASSIGN_OR_RETURN(json::value ev, read_json_file(args.event_file));
    WARDEN_ASSIGN_OR_RETURN(sample, automation::parse_event(ev, {}, clock, ids));
  }
  automation::Inventory inventory(drivers, clock);
  for (const auto& host : target_hosts(normalized)) {
    if (drivers.find(host) != nullptr) (void)inventory.refresh(host, true);
  }
  WARDEN_ASSIGN_OR_RETURN(automation::CompiledAutomation compiled,
                          automation::compile(normalized, inventory.all(), clock.now_ms()));
  compiled.id = "offline";
  ScratchDir dir;
  if (dir.path().empty()) return Status(ErrorCode::INTERNAL_ERROR, "cannot make a temp dir");
  WARDEN_ASSIGN_OR_RETURN(auto store, store::SqliteStore::open(dir.path() + "/scratch.db",
                                                               {.create_if_missing = true}));
  store::BatchWriter writer(*store, store::BatchOptions{});
  automation::EngineOptions options;
  options.scheduler_period_ms = 0;
  Result<json::object> transcript = Status(ErrorCode::INTERNAL_ERROR);
  {
    automation::AutomationEngine engine(*store, writer, drivers, inventory, clock, ids, options);
    transcript = engine.dry_run(compiled, sample, ids.next());
  }
  writer.stop();
  return transcript;
}

}  // namespace

namespace {

// The spec file checked against the built-in hosts and the plugins, which stay loaded for a
// dry-run (the drivers act through `actions`).
struct CheckedFile {
  OfflineWardenActions actions;
  automation::DriverRegistry drivers;
  automation::SpecCheck check;
};

Result<std::unique_ptr<CheckedFile>> check_file(const AutomationArgs& args) {
  WARDEN_ASSIGN_OR_RETURN(auto doc, read_json_file(args.file));
  auto out = std::make_unique<CheckedFile>();
  WARDEN_RETURN_IF_ERROR(add_drivers(out->drivers, out->actions, args.plugins_dir));
  const std::vector<automation::HostInfo> hosts = out->drivers.hosts();
  out->check = automation::validate_spec(doc, &hosts, automation::validate_params);
  return out;
}

}  // namespace

int run_automation_validate(const AutomationArgs& args) {
  auto checked = check_file(args);
  if (!checked.ok()) return fail(checked.status());
  const automation::SpecCheck& c = (*checked)->check;
  json::object out = check_json(c);
  out["normalized"] = c.has_blocker() ? json::value(nullptr) : json::value(c.normalized);
  std::cout << json::serialize(out) << "\n";
  return out["ok"].as_bool() ? kExitOk : kExitFailed;
}

int run_automation_dry_run(const AutomationArgs& args) {
  auto checked = check_file(args);
  if (!checked.ok()) return fail(checked.status());
  const automation::SpecCheck& c = (*checked)->check;
  if (c.has_blocker() || c.action_mismatch()) {
    std::cout << json::serialize(check_json(c)) << "\n";
    return kExitFailed;
  }
  auto transcript = dry_run(args, c.normalized, (*checked)->drivers);
  if (!transcript.ok()) return fail(transcript.status());
  std::cout << json::serialize(*transcript) << "\n";
  const auto* severity = transcript->if_contains("severity");
  const bool clean = severity && severity->is_string() &&
                     (severity->as_string() == "info" || severity->as_string() == "warn");
  return clean ? kExitOk : kExitFailed;
}

}  // namespace warden::cli
