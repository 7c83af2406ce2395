// DriverRegistry: the hosts Warden knows, built-in and plugins, looked up by id.
#include "automation/driver.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <system_error>

namespace warden::automation {

void DriverRegistry::add(std::unique_ptr<Driver> d) {
  std::unique_lock lock(mu_);
  std::string id = d->info().id;
  drivers_[std::move(id)] = std::move(d);
}

Status DriverRegistry::load_plugins(const std::string& dir) {
  return load_plugins(dir, PluginOptions{});
}

Status DriverRegistry::load_plugins(const std::string& dir, const PluginOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> folders;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && fs::exists(it->path() / "plugin.yaml", ec)) {
      folders.push_back(it->path());
    }
  }
  if (ec) {
    return Status(ErrorCode::AUTOMATION_INVALID,
                  "cannot read the plugin folder " + dir + ": " + ec.message());
  }
  // Sorted, so which plugin loads first (and which error is reported) does not depend on the
  // file system's order.
  std::sort(folders.begin(), folders.end());
  for (const fs::path& folder : folders) {
    WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<Driver> d, load_plugin(folder.string(), options));
    add(std::move(d));
  }
  return Status();
}

Driver* DriverRegistry::find(std::string_view host) const {
  std::shared_lock lock(mu_);
  auto it = drivers_.find(host);
  return it == drivers_.end() ? nullptr : it->second.get();
}

std::vector<HostInfo> DriverRegistry::hosts() const {
  std::shared_lock lock(mu_);
  std::vector<HostInfo> out;
  out.reserve(drivers_.size());
  for (const auto& [id, d] : drivers_) out.push_back(d->info());  // the map is sorted by id
  return out;
}

}  // namespace warden::automation
