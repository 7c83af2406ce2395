// The example "files" plugin: `files-plugin <inventory|dry_run|execute>`, the request JSON on
// stdin, the answer JSON on stdout (docs/automation.md, "Drivers"). Capability "file": create
// {name, content?} and delete {name}, each the other's inverse, on the files of one directory.
//
// Each execute appends "start <pid> <unix_us> <verb> <name>" before acting and "end <pid>
// <unix_us> <verb> <name>" after, one write(2) per line on an O_APPEND file, so a test can check
// that no two executions on this host overlapped.
#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kNameBytesMax = 255;

struct Config {
  fs::path dir;
  std::string log;
  long delay_ms = 0;
};

std::string setting(const json::object& settings, const char* env, const char* key) {
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
  if (const json::value* v = settings.if_contains(key); v != nullptr && v->is_string()) {
    return std::string(v->as_string());
  }
  if (const json::value* v = settings.if_contains(key); v != nullptr && v->is_int64()) {
    return std::to_string(v->as_int64());
  }
  return "";
}

void log_line(const Config& c, const char* what, const std::string& verb, const std::string& name) {
  if (c.log.empty()) return;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const std::string line = std::string(what) + " " + std::to_string(::getpid()) + " " +
                           std::to_string(us) + " " + verb + " " + name + "\n";
  const int fd = ::open(c.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write per line: O_APPEND keeps concurrent writers' lines whole.
  [[maybe_unused]] ssize_t ignored = ::write(fd, line.data(), line.size());
  ::close(fd);
}

bool valid_name(const std::string& n) {
  return !n.empty() && n.size() <= kNameBytesMax && n != "." && n != ".." &&
         n.find('/') == std::string::npos && n.find('\0') == std::string::npos;
}

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

json::object answer(bool ok, const char* severity, json::array pre, json::array plan,
                    json::array effects, std::string reason) {
  return json::object{{"ok", ok},
                      {"severity", severity},
                      {"idempotency_key", ""},
                      {"preconditions", std::move(pre)},
                      {"plan", std::move(plan)},
                      {"effects", std::move(effects)},
                      {"reason", std::move(reason)}};
}

// The dry-run of one call: what would change, or why it cannot.
json::object plan_call(const Config& c, const json::object& req) {
  const std::string capability(req.at("capability").as_string());
  const std::string verb(req.at("verb").as_string());
  const json::object& params = req.at("params").as_object();
  std::string name;
  if (const json::value* n = params.if_contains("name"); n != nullptr && n->is_string()) {
    name = std::string(n->as_string());
  }
  const bool name_ok = valid_name(name);
  json::array pre{json::object{{"check", "name is a plain file name"}, {"ok", name_ok}}};
  if (capability != "file" || (verb != "create" && verb != "delete")) {
    return answer(false, "error", pre, {}, {}, "no verb " + capability + "." + verb);
  }
  if (!name_ok) return answer(false, "error", pre, {}, {}, "bad file name \"" + name + "\"");
  const fs::path path = c.dir / name;
  const std::optional<std::string> current = read_file(path);
  if (verb == "delete") {
    if (!current) return answer(true, "info", pre, {}, {}, name + " does not exist");
    return answer(true, "info", pre, {json::object{{"step", "delete"}, {"name", name}}},
                  {json::object{{"delete", name}}}, name + " will be deleted");
  }
  std::string content;
  if (const json::value* v = params.if_contains("content"); v != nullptr && v->is_string()) {
    content = std::string(v->as_string());
  }
  if (current && *current == content) {
    return answer(true, "info", pre, {}, {}, name + " already has this content");
  }
  const char* change = current ? "overwrite" : "create";
  return answer(true, current ? "warn" : "info", pre,
                {json::object{{"step", change}, {"name", name}}},
                {json::object{{change, name}, {"bytes", content.size()}}},
                name + (current ? " exists and will be overwritten" : " will be created"));
}

json::object execute_call(const Config& c, const json::object& req) {
  const json::object dry = plan_call(c, req);
  const std::string verb(req.at("verb").as_string());
  std::string name;
  if (const json::value* n = req.at("params").as_object().if_contains("name");
      n != nullptr && n->is_string()) {
    name = std::string(n->as_string());
  }
  log_line(c, "start", verb, name);
  if (c.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(c.delay_ms));
  json::object result{
      {"ok", dry.at("ok")}, {"effects", dry.at("effects")}, {"reason", dry.at("reason")}};
  if (dry.at("ok").as_bool() && !dry.at("effects").as_array().empty()) {
    const fs::path path = c.dir / name;
    std::error_code ec;
    if (verb == "delete") {
      fs::remove(path, ec);
    } else {
      const std::string content = req.at("params").as_object().contains("content")
                                      ? std::string(req.at("params").at("content").as_string())
                                      : std::string();
      // Written aside and renamed: a reader sees the old file or the new one, never half.
      const fs::path tmp = c.dir / ("." + name + ".tmp" + std::to_string(::getpid()));
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << content;
      out.close();
      if (!out) {
        ec = std::make_error_code(std::errc::io_error);
      } else {
        fs::rename(tmp, path, ec);
      }
    }
    if (ec) {
      result["ok"] = false;
      result["effects"] = json::array{};
      result["reason"] = verb + " " + name + " failed: " + ec.message();
    }
  }
  log_line(c, "end", verb, name);
  return result;
}

json::object inventory(const Config& c) {
  json::array items;
  std::error_code ec;
  for (fs::directory_iterator it(c.dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || name.empty() || name[0] == '.') continue;
    items.push_back(
        json::object{{"id", name},
                     {"name", name},
                     {"kind", "file"},
                     {"labels", json::object{{"size", std::to_string(it->file_size(ec))}}}});
  }
  return json::object{{"items", std::move(items)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: files-plugin <inventory|dry_run|execute> < request.json\n";
    return 2;
  }
  const std::string op = argv[1];
  std::ostringstream input;
  input << std::cin.rdbuf();
  json::object req;
  try {
    req = json::parse(input.str()).as_object();
    json::object settings;
    if (const json::value* s = req.if_contains("settings"); s != nullptr && s->is_object()) {
      settings = s->as_object();
    }
    Config c;
    c.dir = setting(settings, "WARDEN_FILES_PLUGIN_DIR", "dir");
    if (c.dir.empty()) c.dir = "data";
    c.log = setting(settings, "WARDEN_FILES_PLUGIN_LOG", "log");
    const std::string delay = setting(settings, "WARDEN_FILES_PLUGIN_DELAY_MS", "delay_ms");
    c.delay_ms = delay.empty() ? 0 : std::strtol(delay.c_str(), nullptr, 10);
    std::error_code ec;
    fs::create_directories(c.dir, ec);
    json::object out;
    if (op == "inventory") {
      out = inventory(c);
    } else if (op == "dry_run") {
      out = plan_call(c, req);
    } else if (op == "execute") {
      out = execute_call(c, req);
    } else {
      std::cerr << "unknown operation " << op << "\n";
      return 2;
    }
    std::cout << json::serialize(out) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "files-plugin: bad request: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
