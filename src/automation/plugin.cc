// Plugin drivers: a folder with plugin.yaml (what the host offers) and an executable run once per
// call as `EXE <inventory|dry_run|execute>`, the request JSON on stdin, the answer JSON on stdout
// (docs/automation.md, "Drivers"). The executable is another program: its answer is bounded, timed,
// shape-checked, and whatever it does (hang, crash, print garbage) becomes an error code, never
// a fault of the daemon.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "automation/driver.h"
#include "core/json.h"

extern char** environ;

namespace warden::automation {
namespace json = boost::json;

namespace {

// --- plugin.yaml ------------------------------------------------------------------------------

struct Manifest {
  HostInfo info;
  std::string executable;  // absolute
  std::string folder;
  json::object settings;  // passed to the executable with every request
};

class ManifestReader {
 public:
  std::vector<Issue> issues;

  void add(std::string pointer, std::string message) {
    issues.push_back(
        Issue{Severity::kBlocker, std::move(pointer), "PLUGIN_INVALID", std::move(message)});
  }

  // YAML scalars carry no type; a plain (unquoted) one reads as JSON would (true, 3, 2.5, null),
  // a quoted one stays a string.
  json::value to_json(const YAML::Node& n, const std::string& at) {
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar: {
        const std::string& s = n.Scalar();
        if (n.Tag() == "!") return json::value(s);
        if (s == "true") return true;
        if (s == "false") return false;
        if (s == "null" || s == "~" || s.empty()) return nullptr;
        static const std::regex kNumber(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
        if (std::regex_match(s, kNumber)) {
          boost::system::error_code ec;
          json::value v = json::parse(s, ec);
          if (!ec) return v;
        }
        return json::value(s);
      }
      case YAML::NodeType::Sequence: {
        json::array a;
        std::size_t i = 0;
        for (const YAML::Node& item : n) a.push_back(to_json(item, at + "/" + std::to_string(i++)));
        return a;
      }
      case YAML::NodeType::Map: {
        json::object o;
        for (const auto& kv : n) {
          const std::string key = kv.first.Scalar();
          o[key] = to_json(kv.second, at + "/" + key);
        }
        return o;
      }
    }
    return nullptr;
  }

  void only_keys(const json::object& o, const std::string& at,
                 std::initializer_list<std::string_view> keys) {
    for (const auto& [k, v] : o) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
        add(at + "/" + std::string(k), "unknown field \"" + std::string(k) + "\"");
      }
    }
  }

  const json::string* string_field(const json::object& o, std::string_view key,
                                   const std::string& at, bool required) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
      if (required) add(at + "/" + std::string(key), "is required");
      return nullptr;
    }
    if (!v->is_string() || v->as_string().empty()) {
      add(at + "/" + std::string(key), "must be a non-empty string");
      return nullptr;
    }
    return &v->as_string();
  }
};

constexpr std::size_t kNameBytesMax = 64;

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kNameBytesMax) return false;
  if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Result<Manifest> read_manifest(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path yaml_path = fs::path(folder) / "plugin.yaml";
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) {
    return Status(ErrorCode::AUTOMATION_INVALID, "cannot read " + yaml_path.string());
  }
  std::string text(kPluginYamlBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kPluginYamlBytesMax) {
    return Status(
        ErrorCode::AUTOMATION_INVALID,
        yaml_path.string() + " is larger than " + std::to_string(kPluginYamlBytesMax) + " bytes");
  }
  ManifestReader r;
  json::value doc;
  try {
    doc = r.to_json(YAML::Load(text), "");
  } catch (const YAML::Exception& e) {
    return Status(ErrorCode::AUTOMATION_INVALID,
                  yaml_path.string() + " is not valid YAML: " + e.what());
  }
  Manifest m;
  m.folder = fs::absolute(folder).lexically_normal().string();
  if (!doc.is_object()) {
    r.add("", "plugin.yaml must be a mapping");
  } else {
    const json::object& o = doc.as_object();
    r.only_keys(o, "",
                {"name", "description", "executable", "capabilities", "defaults", "settings"});
    if (const json::string* name = r.string_field(o, "name", "", true)) {
      if (!valid_name(*name)) {
        r.add("/name", "must be [a-z][a-z0-9_-]* of at most 64 characters");
      } else if (*name == "warden" || *name == "webhook") {
        r.add("/name", "\"" + std::string(*name) + "\" is a built-in host");
      }
      m.info.id = std::string(*name);
      m.info.name = m.info.id;
    }
    if (const json::string* d = r.string_field(o, "description", "", false)) {
      m.info.name = std::string(*d);
    }
    if (const json::string* exe = r.string_field(o, "executable", "", true)) {
      const fs::path p = fs::path(m.folder) / std::string(*exe);
      if (::access(p.c_str(), X_OK) != 0) {
        r.add("/executable", "\"" + p.string() + "\" is not an executable file");
      }
      m.executable = p.lexically_normal().string();
    }
    if (const json::value* d = o.if_contains("defaults")) {
      if (!d->is_object()) {
        r.add("/defaults", "must be a mapping");
      } else {
        r.only_keys(d->as_object(), "/defaults", {"dry_run_refresh_sla_s"});
        if (const json::value* sla = d->as_object().if_contains("dry_run_refresh_sla_s")) {
          if (!sla->is_int64() || sla->as_int64() < 1 || sla->as_int64() > 86'400) {
            r.add("/defaults/dry_run_refresh_sla_s", "must be an integer from 1 to 86400");
          } else {
            m.info.dry_run_refresh_sla_s = sla->as_int64();
          }
        }
      }
    }
    if (const json::value* s = o.if_contains("settings")) {
      if (!s->is_object()) {
        r.add("/settings", "must be a mapping");
      } else {
        m.settings = s->as_object();
      }
    }
    const json::value* caps = o.if_contains("capabilities");
    if (caps == nullptr || !caps->is_array() || caps->as_array().empty()) {
      r.add("/capabilities", "must be a non-empty list");
    } else {
      const json::array& ca = caps->as_array();
      for (std::size_t i = 0; i < ca.size(); ++i) {
        const std::string at = "/capabilities/" + std::to_string(i);
        if (!ca[i].is_object()) {
          r.add(at, "must be a mapping");
          continue;
        }
        const json::object& c = ca[i].as_object();
        r.only_keys(c, at, {"name", "verbs"});
        const json::string* cname = r.string_field(c, "name", at, true);
        if (cname != nullptr && !valid_name(*cname)) {
          r.add(at + "/name", "must be [a-z][a-z0-9_-]*");
        }
        const json::value* verbs = c.if_contains("verbs");
        if (verbs == nullptr || !verbs->is_array() || verbs->as_array().empty()) {
          r.add(at + "/verbs", "must be a non-empty list");
          continue;
        }
        const json::array& va = verbs->as_array();
        for (std::size_t j = 0; j < va.size(); ++j) {
          const std::string vat = at + "/verbs/" + std::to_string(j);
          if (!va[j].is_object()) {
            r.add(vat, "must be a mapping");
            continue;
          }
          const json::object& v = va[j].as_object();
          r.only_keys(v, vat, {"name", "params", "invertible", "inverse", "idempotency_hints"});
          VerbInfo verb;
          if (cname != nullptr) verb.capability = std::string(*cname);
          if (const json::string* vname = r.string_field(v, "name", vat, true)) {
            if (!valid_name(*vname)) r.add(vat + "/name", "must be [a-z][a-z0-9_-]*");
            verb.verb = std::string(*vname);
          }
          if (const json::value* p = v.if_contains("params")) {
            if (!p->is_object()) {
              r.add(vat + "/params", "must be a JSON Schema mapping");
            } else {
              verb.params_schema = p->as_object();
            }
          }
          if (const json::value* inv = v.if_contains("invertible")) {
            if (!inv->is_bool()) {
              r.add(vat + "/invertible", "must be true or false");
            } else {
              verb.invertible = inv->as_bool();
            }
          }
          if (const json::string* inverse = r.string_field(v, "inverse", vat, false)) {
            verb.inverse_verb = std::string(*inverse);
          }
          if (verb.invertible && verb.inverse_verb.empty()) {
            r.add(vat + "/inverse", "an invertible verb names its inverse verb");
          }
          if (!verb.invertible && !verb.inverse_verb.empty()) {
            r.add(vat + "/inverse", "only an invertible verb has an inverse");
          }
          if (const json::value* hints = v.if_contains("idempotency_hints")) {
            if (!hints->is_array()) {
              r.add(vat + "/idempotency_hints", "must be a list of parameter names");
            } else {
              for (const json::value& h : hints->as_array()) {
                if (h.is_string()) {
                  verb.idempotency_hints.emplace_back(h.as_string());
                } else {
                  r.add(vat + "/idempotency_hints", "must be a list of parameter names");
                }
              }
            }
          }
          if (cname != nullptr && m.info.find(verb.capability, verb.verb) != nullptr) {
            r.add(vat + "/name", "verb \"" + verb.verb + "\" is declared twice");
          }
          m.info.verbs.push_back(std::move(verb));
        }
      }
      // An inverse must be a verb of the same capability, or inverting could not run.
      for (const VerbInfo& v : m.info.verbs) {
        if (v.invertible && !v.inverse_verb.empty() &&
            m.info.find(v.capability, v.inverse_verb) == nullptr) {
          r.add("/capabilities", "the inverse \"" + v.inverse_verb + "\" of " + v.capability + "." +
                                     v.verb + " is not a verb of " + v.capability);
        }
      }
    }
  }
  if (!r.issues.empty()) {
    json::array issues;
    for (const Issue& i : r.issues) {
      issues.push_back(json::object{{"severity", policy::severity_name(i.severity)},
                                    {"pointer", i.pointer},
                                    {"code", i.code},
                                    {"message", i.message}});
    }
    return Status(
        ErrorCode::AUTOMATION_INVALID,
        yaml_path.string() + ": " + r.issues.front().pointer + " " + r.issues.front().message,
        json::object{{"issues", std::move(issues)}, {"plugin", m.folder}});
  }
  return m;
}

// --- running the executable ---------------------------------------------------------------

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int* out() { return &fd_; }

 private:
  int fd_ = -1;
};

struct RunOutput {
  int wait_status = 0;
  std::string out;
  std::string err;
};

std::string tail(const std::string& s, std::size_t bytes) {
  return s.size() <= bytes ? s : s.substr(s.size() - bytes);
}

Status spawn_failed(const std::string& what) {
  return Status(ErrorCode::AUTOMATION_DRIVER_FAILED, what + ": " + std::strerror(errno));
}

// Runs `exe op` in `cwd` with `input` on stdin. The child leads its own process group, so a
// script and everything it started (a `sleep` holding stdout open) are killed together.
Result<RunOutput> run(const std::string& exe, const std::string& op, const std::string& cwd,
                      const std::string& input, std::int64_t timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);

  // stdin is a socket so the write can say MSG_NOSIGNAL: a child that exits without reading
  // must not raise SIGPIPE in the daemon.
  int in_pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    return spawn_failed("socketpair");
  }
  Fd in_parent(in_pair[0]), in_child(in_pair[1]);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return spawn_failed("pipe");
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return spawn_failed("pipe");
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_child.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // the daemon ignores it; the child should not inherit that
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string exe_arg = exe, op_arg = op;
  char* argv[] = {exe_arg.data(), op_arg.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return spawn_failed("cannot start " + exe);
  }
  in_child.reset();
  out_write.reset();
  err_write.reset();
  for (int fd : {in_parent.get(), out_read.get(), err_read.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  auto kill_and_reap = [&] {
    ::kill(-pid, SIGKILL);
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  };
  // Rounded up: the bound is never cut short by a fraction of a millisecond.
  auto ms_left = [&] {
    return std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  };

  RunOutput result;
  std::size_t written = 0;
  bool out_open = true, err_open = true;
  char buf[16 << 10];
  while (out_open || err_open) {
    const std::int64_t left = ms_left();
    if (left <= 0) {
      kill_and_reap();
      return Status(ErrorCode::AUTOMATION_DRIVER_TIMEOUT,
                    "the plugin did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    pollfd fds[3];
    nfds_t n = 0;
    const int out_i = out_open ? static_cast<int>(n) : -1;
    if (out_open) fds[n++] = {out_read.get(), POLLIN, 0};
    const int err_i = err_open ? static_cast<int>(n) : -1;
    if (err_open) fds[n++] = {err_read.get(), POLLIN, 0};
    const int in_i = in_parent.get() >= 0 ? static_cast<int>(n) : -1;
    if (in_parent.get() >= 0) fds[n++] = {in_parent.get(), POLLOUT, 0};
    const int ready = ::poll(fds, n, static_cast<int>(std::min<std::int64_t>(left, 1000)));
    if (ready < 0 && errno != EINTR) {
      kill_and_reap();
      return spawn_failed("poll");
    }
    if (ready <= 0) continue;
    if (in_i >= 0 && fds[in_i].revents != 0) {
      const ssize_t w = ::send(in_parent.get(), input.data() + written, input.size() - written,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) written += static_cast<std::size_t>(w);
      // Done, or the child stopped reading (EPIPE): either way it gets no more input.
      if (written == input.size() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
        in_parent.reset();
      }
    }
    if (out_i >= 0 && fds[out_i].revents != 0) {
      const ssize_t r = ::read(out_read.get(), buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        out_open = false;
      } else if (r > 0) {
        result.out.append(buf, static_cast<std::size_t>(r));
        if (result.out.size() > kPluginStdoutBytesMax) {
          kill_and_reap();
          return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
                        "the plugin's answer is longer than " +
                            std::to_string(kPluginStdoutBytesMax) + " bytes");
        }
      }
    }
    if (err_i >= 0 && fds[err_i].revents != 0) {
      const ssize_t r = ::read(err_read.get(), buf, sizeof buf);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        err_open = false;
      } else if (r > 0) {
        // Keep reading a chatty stderr (the child would block on a full pipe), keep its tail.
        result.err.append(buf, static_cast<std::size_t>(r));
        if (result.err.size() > 2 * kPluginStderrBytesKept) {
          result.err = tail(result.err, kPluginStderrBytesKept);
        }
      }
    }
  }
  // Both outputs closed: the child is exiting (or detached them); wait for it within the bound.
  while (true) {
    const pid_t w = ::waitpid(pid, &result.wait_status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return spawn_failed("waitpid");
    if (ms_left() <= 0) {
      kill_and_reap();
      return Status(ErrorCode::AUTOMATION_DRIVER_TIMEOUT,
                    "the plugin did not exit within " + std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return result;
}

Result<InventoryItem> parse_item(const json::value& v, std::size_t i) {
  const std::string at = "the inventory answer's items[" + std::to_string(i) + "]";
  const json::object* o = v.if_object();
  if (o == nullptr)
    return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER, at + " is not an object");
  InventoryItem item;
  for (const auto& [k, value] : *o) {
    if (k == "id" || k == "name" || k == "kind") {
      if (!value.is_string()) {
        return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
                      at + "." + std::string(k) + " is not a string");
      }
      std::string s(value.as_string());
      (k == "id" ? item.id : k == "name" ? item.name : item.kind) = std::move(s);
    } else if (k == "labels") {
      if (!value.is_object()) {
        return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER, at + ".labels is not an object");
      }
      for (const auto& [lk, lv] : value.as_object()) {
        if (!lv.is_string()) {
          return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
                        at + ".labels." + std::string(lk) + " is not a string");
        }
        item.labels[std::string(lk)] = std::string(lv.as_string());
      }
    } else {
      return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
                    at + " has an unknown field \"" + std::string(k) + "\"");
    }
  }
  if (item.id.empty()) {
    return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER, at + " has no id");
  }
  if (item.name.empty()) item.name = item.id;
  return item;
}

class PluginDriver final : public Driver {
 public:
  PluginDriver(Manifest m, PluginOptions options) : m_(std::move(m)), options_(options) {}

  const HostInfo& info() const override { return m_.info; }

  Result<std::vector<InventoryItem>> inventory(bool full) override {
    WARDEN_ASSIGN_OR_RETURN(json::value answer,
                            call("inventory", json::object{{"op", "inventory"}, {"full", full}}));
    const json::object* o = answer.if_object();
    const json::value* items = o == nullptr ? nullptr : o->if_contains("items");
    if (items == nullptr || !items->is_array() || o->size() != 1) {
      return Status(ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
                    "the inventory answer is not {\"items\": [...]}");
    }
    std::vector<InventoryItem> out;
    const json::array& a = items->as_array();
    out.reserve(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      WARDEN_ASSIGN_OR_RETURN(InventoryItem item, parse_item(a[i], i));
      out.push_back(std::move(item));
    }
    std::sort(out.begin(), out.end(),
              [](const InventoryItem& a, const InventoryItem& b) { return a.id < b.id; });
    return out;
  }

  Result<DryRun> dry_run(const ActionCall& c) override {
    WARDEN_ASSIGN_OR_RETURN(json::value answer, call("dry_run", request("dry_run", c)));
    return parse_dry_run(answer);
  }

  Result<ExecuteResult> execute(const ActionCall& c) override {
    WARDEN_ASSIGN_OR_RETURN(json::value answer, call("execute", request("execute", c)));
    return parse_execute(answer);
  }

 private:
  json::object request(std::string_view op, const ActionCall& c) const {
    return json::object{{"op", op},
                        {"host", c.host},
                        {"capability", c.capability},
                        {"verb", c.verb},
                        {"params", c.params},
                        {"target", inventory_item_json(c.target)},
                        {"event", c.event},
                        {"idempotency_key", c.idempotency_key},
                        {"correlation_id", c.correlation_id}};
  }

  Result<json::value> call(const std::string& op, json::object req) const {
    req["settings"] = m_.settings;
    WARDEN_ASSIGN_OR_RETURN(
        RunOutput r, run(m_.executable, op, m_.folder, json::serialize(req), options_.timeout_ms));
    const std::string err = tail(r.err, kPluginStderrBytesKept);
    if (WIFSIGNALED(r.wait_status)) {
      return Status(ErrorCode::AUTOMATION_DRIVER_FAILED,
                    "the plugin " + m_.info.id + " died of signal " +
                        std::to_string(WTERMSIG(r.wait_status)) + (err.empty() ? "" : ": " + err),
                    json::object{{"signal", WTERMSIG(r.wait_status)}, {"stderr", err}});
    }
    if (!WIFEXITED(r.wait_status) || WEXITSTATUS(r.wait_status) != 0) {
      const int code = WIFEXITED(r.wait_status) ? WEXITSTATUS(r.wait_status) : -1;
      return Status(ErrorCode::AUTOMATION_DRIVER_FAILED,
                    "the plugin " + m_.info.id + " exited with status " + std::to_string(code) +
                        (err.empty() ? "" : ": " + err),
                    json::object{{"exit_status", code}, {"stderr", err}});
    }
    Result<json::value> parsed = parse_json(r.out);
    if (!parsed.ok()) {
      return Status(
          ErrorCode::AUTOMATION_DRIVER_BAD_ANSWER,
          "the plugin " + m_.info.id + "'s answer is not JSON: " + parsed.status().message());
    }
    return std::move(parsed).value();
  }

  Manifest m_;
  PluginOptions options_;
};

}  // namespace

Result<std::unique_ptr<Driver>> load_plugin(const std::string& folder,
                                            const PluginOptions& options) {
  WARDEN_ASSIGN_OR_RETURN(Manifest m, read_manifest(folder));
  return std::unique_ptr<Driver>(std::make_unique<PluginDriver>(std::move(m), options));
}

}  // namespace warden::automation
