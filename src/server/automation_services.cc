// Wiring of the automation module into the daemon.
#include "server/automation_services.h"

#include <fmt/format.h>

#include "automation/driver.h"
#include "automation/engine.h"
#include "automation/inventory.h"
#include "server/api.h"
#include "server/blocking_runner.h"
#include "server/log.h"
#include "server/routes.h"
#include "server/warden_actions.h"
#include "server/warden_events.h"

namespace warden::server {

namespace {
// Requests that wait on a driver (dry-runs, inventory refreshes, saves that expand selectors).
constexpr std::size_t kDriverRequestThreads = 2;
constexpr std::size_t kDriverRequestsQueuedMax = 256;
}  // namespace

struct AutomationServices::Parts {
  Parts(const AutomationOptions& options, store::Store& store, store::BatchWriter& writer,
        const Clock& clock, IdGenerator& ids, decisions::DecisionService& decisions_in, Api& api)
      : decisions(decisions_in),
        // The engine is made below; events are only asked for once it is running.
        events(
            clock, ids, [this](std::string_view kind) { return running && engine->wants(kind); },
            [this](automation::Event e) { engine->emit(std::move(e)); }),
        actions(store, writer, clock, decisions_in, api.sessions(), &events, &api.change_feed()),
        inventory(drivers, clock),
        runner(kDriverRequestThreads, kDriverRequestsQueuedMax) {
    drivers.add(automation::make_warden_driver(actions));
    if (!options.webhook_secret.empty()) {
      drivers.add(automation::make_webhook_driver(options.webhook_secret));
    }
    automation::EngineOptions engine_options;
    engine_options.concurrency_max = options.concurrency_max;
    engine_options.leadership = options.leadership;
    engine = std::make_unique<automation::AutomationEngine>(store, writer, drivers, inventory,
                                                            clock, ids, engine_options);
    engine->set_on_dropped([](const automation::Event& e, const Status& s) {
      log_event(LogLevel::kWarn, "automation event dropped",
                {{"kind", e.kind}, {"subject", e.subject}, {"error", s.to_string()}});
    });
    api.metrics().add_source([engine = engine.get()] {
      return fmt::format(
          "# HELP warden_automation_events_dropped_total Warden's own events the automation "
          "intake could not take (queue full or write failed), each also logged.\n"
          "# TYPE warden_automation_events_dropped_total counter\n"
          "warden_automation_events_dropped_total {}\n",
          engine->events_dropped());
    });
  }

  decisions::DecisionService& decisions;
  automation::DriverRegistry drivers;
  WardenEvents events;
  ServerWardenActions actions;
  automation::Inventory inventory;
  BlockingRunner runner;
  std::unique_ptr<automation::AutomationEngine> engine;
  std::atomic<bool> running{false};
};

Result<std::unique_ptr<AutomationServices>> AutomationServices::start(
    const AutomationOptions& options, store::Store& store, store::BatchWriter& writer,
    const Clock& clock, IdGenerator& ids, decisions::DecisionService& decisions, Api& api) {
  auto parts = std::make_unique<Parts>(options, store, writer, clock, ids, decisions, api);
  if (!options.plugins_dir.empty()) {
    WARDEN_RETURN_IF_ERROR(parts->drivers.load_plugins(options.plugins_dir));
  }
  WARDEN_RETURN_IF_ERROR(parts->engine->start());
  parts->running = true;
  std::unique_ptr<AutomationServices> services(new AutomationServices(std::move(parts)));
  Parts& p = *services->parts_;
  decisions.set_observer(&p.events);
  api.set_automation(
      AutomationDeps{p.engine.get(), &p.drivers, &p.inventory, &p.events, &p.runner});
  for (const auto& h : p.drivers.hosts()) {
    log_event(LogLevel::kInfo, "automation host",
              {{"host", h.id}, {"builtin", h.builtin}, {"verbs", h.verbs.size()}});
  }
  return services;
}

AutomationServices::AutomationServices(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

AutomationServices::~AutomationServices() { stop(); }

void AutomationServices::stop() {
  if (!parts_ || !parts_->running.exchange(false)) return;
  parts_->decisions.set_observer(nullptr);
  parts_->runner.stop();  // its requests' writes still reach the writer
  parts_->engine->stop();
}

}  // namespace warden::server
