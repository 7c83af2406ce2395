// The automation module inside the daemon (docs/automation.md): the driver registry with the
// built-in hosts "warden" and "webhook" and the operator's plugins, the inventory, the engine,
// and Warden's own events fed to it from the decision service and the API.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/ids.h"
#include "core/status.h"
#include "decisions/decisions.h"
#include "store/batch_writer.h"
#include "store/leadership.h"
#include "store/store.h"

namespace warden::server {

class Api;

struct AutomationOptions {
  std::string plugins_dir;  // "" for none
  std::size_t concurrency_max = 8;
  std::string webhook_secret;  // "" : no "webhook" host (it would sign with an empty key)
  const store::Leadership* leadership = nullptr;  // schedules fire while it leads; nullptr: always
};

// Started after the decision service and the API, stopped before them (and before the writer).
class AutomationServices {
 public:
  // Loads the plugins (a bad plugin folder fails the start), starts the engine, then connects
  // the decision service and the API to it.
  static Result<std::unique_ptr<AutomationServices>> start(
      const AutomationOptions& options, store::Store& store, store::BatchWriter& writer,
      const Clock& clock, IdGenerator& ids, decisions::DecisionService& decisions, Api& api);
  ~AutomationServices();  // stop()
  // Disconnects the decision service and stops the engine (what it accepted is finished).
  void stop();

 private:
  struct Parts;
  explicit AutomationServices(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace warden::server
