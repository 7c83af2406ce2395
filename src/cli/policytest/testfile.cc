// Policy test files (docs/policy-tests.md): parse the text into commands, then run them against
// an in-memory engine on a fake clock, comparing every decision with its `expect` line.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/policytest/policytest.h"
#include "core/amount.h"
#include "core/clock.h"
#include "core/enums.h"
#include "core/json.h"
#include "engine/ir.h"
#include "policy/policy.h"

namespace warden::policytest {
namespace json = boost::json;

namespace {

constexpr std::string_view kDefaultAgent = "agent";
constexpr std::string_view kDefaultStart = "2026-01-01T00:00:00Z";
constexpr std::size_t kTestFileBytesMax = 4 << 20;

enum class Kind {
  kPolicy,
  kAgent,
  kClock,
  kAdvance,
  kRequest,
  kExpect,
  kConfirm,
  kRelease,
  kMeter
};

struct Command {
  Kind kind = Kind::kPolicy;
  int line = 0;
  std::string id;       // policy or request id; the meter for kMeter; the verb for kRelease
  std::string agent;    // kPolicy: empty means global; kAgent: the agent declared
  json::value body;     // kPolicy: the policy document; kRequest: the request
  std::int64_t ms = 0;  // kClock: absolute; kAdvance: delta
  engine::AgentContext context;  // kAgent
  // kExpect
  bool allow = false;
  bool refused = false;  // ERROR CODE: the request is refused before any decision
  std::string tier;
  std::vector<std::string> codes;  // "CODE" or "policy:CODE", in order
  std::optional<std::int64_t> delay_seconds, approval_timeout_seconds;
  // kConfirm, kMeter
  Amount amount;
  std::string error_code;  // kConfirm: the settlement must fail with this code; kExpect: ERROR
  std::string verb;        // kRelease: fail | cancel | expire
};

struct ParseError {
  int line;
  std::string message;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Whitespace-separated words; a word starting with '{' begins the JSON rest of the line.
struct Words {
  std::vector<std::string> words;
  std::string json_text;
};

Words split(std::string_view s) {
  Words w;
  while (true) {
    s = trim(s);
    if (s.empty()) break;
    if (s.front() == '{') {
      w.json_text = std::string(s);
      break;
    }
    const std::size_t end = s.find_first_of(" \t");
    w.words.emplace_back(s.substr(0, end));
    if (end == std::string_view::npos) break;
    s.remove_prefix(end);
  }
  return w;
}

bool is_identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool is_code(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// Reads the test file line by line, producing commands or the first syntax error.
class Parser {
 public:
  explicit Parser(std::string_view text) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      lines_.emplace_back(text.substr(start, end - start));
      start = end + 1;
    }
  }

  std::optional<ParseError> parse(std::vector<Command>* out, std::string* name) {
    for (index_ = 0; index_ < lines_.size(); ++index_) {
      const std::string_view line = trim(lines_[index_]);
      if (line.empty()) continue;
      if (line.front() == '#') {
        if (line.starts_with("# name:")) *name = std::string(trim(line.substr(7)));
        continue;
      }
      Command cmd;
      cmd.line = line_number();
      if (auto err = parse_command(line, &cmd)) return err;
      out->push_back(std::move(cmd));
    }
    for (const auto& [id, line] : requests_) {
      if (!expected_.contains(id)) return ParseError{line, "request " + id + " has no expect"};
    }
    return std::nullopt;
  }

 private:
  int line_number() const { return static_cast<int>(index_) + 1; }
  ParseError error(std::string message) const { return {line_number(), std::move(message)}; }

  std::optional<ParseError> parse_command(std::string_view line, Command* cmd) {
    Words w = split(line);
    const std::string verb = w.words.front();
    std::vector<std::string> args(w.words.begin() + 1, w.words.end());
    if (verb == "policy") return parse_policy(args, w.json_text, cmd);
    if (verb == "request") return parse_request(args, w.json_text, cmd);
    if (!w.json_text.empty()) return error("'" + verb + "' takes no JSON");
    if (verb == "expect") return parse_expect(args, cmd);
    if (verb == "agent") return parse_agent(args, cmd);
    if (verb == "clock") return parse_clock(args, cmd);
    if (verb == "advance") return parse_advance(args, cmd);
    if (verb == "confirm") return parse_confirm(args, cmd);
    if (verb == "fail" || verb == "cancel" || verb == "expire") {
      cmd->kind = Kind::kRelease;
      cmd->verb = verb;
      if (args.size() != 1) return error(verb + " takes one request id");
      return settled_request(args[0], cmd);
    }
    if (verb == "meter") return parse_meter(args, cmd);
    return error(
        "unknown command '" + verb +
        "' (policy, agent, request, expect, confirm, fail, cancel, expire, clock, advance, "
        "meter)");
  }

  // `agent=NAME` options; anything else is an error.
  std::optional<ParseError> take_agent(std::vector<std::string>* args, Command* cmd) {
    for (auto it = args->begin(); it != args->end();) {
      if (it->starts_with("agent=")) {
        cmd->agent = it->substr(6);
        if (!is_identifier(cmd->agent)) return error("bad agent name '" + cmd->agent + "'");
        it = args->erase(it);
      } else {
        ++it;
      }
    }
    return std::nullopt;
  }

  // The JSON on the line; a lone "{" opens a block closed by a line that is exactly "}".
  std::optional<ParseError> take_json(const std::string& inline_text, json::value* out) {
    if (inline_text.empty()) return error("expected a JSON object");
    std::string text = inline_text;
    const int open_line = line_number();
    if (text == "{") {
      while (true) {
        if (++index_ >= lines_.size()) {
          return ParseError{open_line, "block opened here is not closed by a line '}'"};
        }
        std::string_view l = lines_[index_];
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        text += "\n";
        text += l;
        if (l == "}") break;
      }
    }
    auto v = parse_json(text);
    if (!v.ok()) return ParseError{open_line, "bad JSON: " + v.status().message()};
    if (!v->is_object()) return ParseError{open_line, "expected a JSON object"};
    *out = std::move(*v);
    return std::nullopt;
  }

  std::optional<ParseError> parse_policy(std::vector<std::string> args, const std::string& j,
                                         Command* cmd) {
    cmd->kind = Kind::kPolicy;
    if (auto err = take_agent(&args, cmd)) return err;
    if (args.size() != 1 || !is_identifier(args[0])) {
      return error("usage: policy ID [agent=NAME] {policy JSON}");
    }
    cmd->id = args[0];
    return take_json(j, &cmd->body);
  }

  std::optional<ParseError> parse_request(std::vector<std::string> args, const std::string& j,
                                          Command* cmd) {
    cmd->kind = Kind::kRequest;
    cmd->agent = kDefaultAgent;
    if (auto err = take_agent(&args, cmd)) return err;
    if (args.size() != 1 || !is_identifier(args[0])) {
      return error("usage: request ID [agent=NAME] {request JSON}");
    }
    cmd->id = args[0];
    if (requests_.contains(cmd->id)) return error("request " + cmd->id + " is already defined");
    requests_[cmd->id] = line_number();
    return take_json(j, &cmd->body);
  }

  // `agent NAME [chain=C] [network=N]`: what the daemon reads from the agent's row.
  std::optional<ParseError> parse_agent(const std::vector<std::string>& args, Command* cmd) {
    cmd->kind = Kind::kAgent;
    if (args.empty() || !is_identifier(args[0])) {
      return error("usage: agent NAME [chain=solana|ethereum] [network=mainnet|devnet|testnet]");
    }
    cmd->agent = args[0];
    engine::AgentContext context = default_agent();
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i].starts_with("chain=")) {
        context.chain = args[i].substr(6);
      } else if (args[i].starts_with("network=")) {
        context.network = args[i].substr(8);
      } else {
        return error("expected chain= or network=, got '" + args[i] + "'");
      }
    }
    auto checked = agent_context(context.chain, context.network);
    if (!checked.ok()) return error(checked.status().message());
    cmd->context = std::move(*checked);
    return std::nullopt;
  }

  std::optional<ParseError> parse_expect(const std::vector<std::string>& args, Command* cmd) {
    cmd->kind = Kind::kExpect;
    if (args.size() < 2) {
      return error(
          "usage: expect ID ALLOW TIER [CODE...] | expect ID DENY [CODE...] | expect ID ERROR "
          "CODE");
    }
    cmd->id = args[0];
    if (!requests_.contains(cmd->id)) return error("expect names unknown request " + cmd->id);
    if (!expected_.insert(cmd->id).second)
      return error("request " + cmd->id + " already has an expect");
    if (args[1] == "ERROR") {
      if (args.size() != 3 || !is_code(args[2])) return error("usage: expect ID ERROR CODE");
      cmd->refused = true;
      cmd->error_code = args[2];
      return std::nullopt;
    }
    std::size_t i = 2;
    if (args[1] == "ALLOW") {
      cmd->allow = true;
      if (args.size() < 3 || args[2] == "DENY" || !is_one_of(kPolicyTiers, args[2])) {
        return error("ALLOW needs a tier: INSTANT, NOTIFY, DELAY or APPROVAL");
      }
      cmd->tier = args[2];
      i = 3;
    } else if (args[1] != "DENY") {
      return error("expected ALLOW, DENY or ERROR, got '" + args[1] + "'");
    }
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a.starts_with("delay=") || a.starts_with("approval_timeout=")) {
        const std::size_t eq = a.find('=');
        std::int64_t seconds = 0;
        std::istringstream in(a.substr(eq + 1));
        if (!(in >> seconds) || !in.eof() || seconds < 0)
          return error("bad seconds in '" + a + "'");
        (a[0] == 'd' ? cmd->delay_seconds : cmd->approval_timeout_seconds) = seconds;
        continue;
      }
      const std::size_t colon = a.find(':');
      const std::string code = colon == std::string::npos ? a : a.substr(colon + 1);
      if (!is_code(code) || (colon != std::string::npos && !is_identifier(a.substr(0, colon)))) {
        return error("bad reason code '" + a + "' (CODE or POLICY:CODE)");
      }
      cmd->codes.push_back(a);
    }
    return std::nullopt;
  }

  std::optional<ParseError> parse_clock(const std::vector<std::string>& args, Command* cmd) {
    cmd->kind = Kind::kClock;
    if (args.size() != 1) return error("usage: clock 2026-01-01T09:00:00Z");
    auto ms = parse_time_ms(args[0]);
    if (!ms.ok()) return error(ms.status().message());
    cmd->ms = *ms;
    return std::nullopt;
  }

  std::optional<ParseError> parse_advance(const std::vector<std::string>& args, Command* cmd) {
    cmd->kind = Kind::kAdvance;
    if (args.size() != 1) return error("usage: advance DURATION (30s, 15m, 24h, 7d)");
    auto w = policy::parse_window(args[0]);
    if (!w.ok() || w->calendar) return error("bad duration '" + args[0] + "' (30s, 15m, 24h, 7d)");
    cmd->ms = w->seconds * 1000;
    return std::nullopt;
  }

  std::optional<ParseError> settled_request(const std::string& id, Command* cmd) {
    if (!requests_.contains(id)) return error("unknown request " + id);
    if (!settled_.insert(id).second) return error("request " + id + " is already settled");
    cmd->id = id;
    return std::nullopt;
  }

  std::optional<ParseError> parse_confirm(const std::vector<std::string>& args, Command* cmd) {
    cmd->kind = Kind::kConfirm;
    if (args.size() < 2 || args.size() > 3) {
      return error("usage: confirm ID FINAL_AMOUNT [error=CODE]");
    }
    auto a = Amount::parse(args[1]);
    if (!a.ok()) return error("bad amount '" + args[1] + "': " + a.status().message());
    cmd->amount = *a;
    if (args.size() == 3) {
      if (!args[2].starts_with("error=") || !is_code(args[2].substr(6))) {
        return error("expected error=CODE, got '" + args[2] + "'");
      }
      cmd->error_code = args[2].substr(6);
    }
    if (!cmd->error_code.empty()) {
      // A refused settlement leaves the reservation open.
      if (!requests_.contains(args[0])) return error("unknown request " + args[0]);
      cmd->id = args[0];
      return std::nullopt;
    }
    return settled_request(args[0], cmd);
  }

  std::optional<ParseError> parse_meter(std::vector<std::string> args, Command* cmd) {
    cmd->kind = Kind::kMeter;
    cmd->agent = kDefaultAgent;
    if (auto err = take_agent(&args, cmd)) return err;
    if (args.size() != 2) return error("usage: meter [agent=NAME] METER AMOUNT");
    cmd->id = args[0];
    auto a = Amount::parse(args[1]);
    if (!a.ok()) return error("bad amount '" + args[1] + "': " + a.status().message());
    cmd->amount = *a;
    return std::nullopt;
  }

  std::vector<std::string_view> lines_;
  std::size_t index_ = 0;
  std::map<std::string, int> requests_;  // id -> line
  std::set<std::string> expected_;
  std::set<std::string> settled_;
};

std::string describe(const engine::Decision& d) {
  std::string s = d.allowed() ? "ALLOW " + std::string(engine::outcome_name(d.outcome)) : "DENY";
  s += " [";
  for (std::size_t i = 0; i < d.reasons.size(); ++i) {
    if (i > 0) s += " ";
    s += d.reasons[i].policy_id + ":" + d.reasons[i].code;
  }
  return s + "]";
}

std::string describe(const Command& e) {
  std::string s = e.allow ? "ALLOW " + e.tier : "DENY";
  s += " [";
  for (std::size_t i = 0; i < e.codes.size(); ++i) s += (i > 0 ? " " : "") + e.codes[i];
  return s + "]";
}

bool codes_match(const Command& e, const engine::Decision& d) {
  if (e.codes.size() != d.reasons.size()) return false;
  for (std::size_t i = 0; i < e.codes.size(); ++i) {
    const engine::Reason& r = d.reasons[i];
    const std::string& want = e.codes[i];
    if (want != r.code && want != r.policy_id + ":" + r.code) return false;
  }
  return true;
}

struct RequestState {
  engine::Decision decision;
  bool decided = false;  // false when the request itself was rejected
  Status refused;        // why, when it was
};

// Executes parsed commands; records failures and keeps going.
class Runner {
 public:
  explicit Runner(FileReport* report) : report_(*report) {
    clock_.set_ms(*parse_time_ms(kDefaultStart));
  }

  void run(const std::vector<Command>& commands) {
    for (const Command& c : commands) {
      switch (c.kind) {
        case Kind::kPolicy:
          policy(c);
          break;
        case Kind::kAgent:
          contexts_[c.agent] = c.context;
          break;
        case Kind::kClock:
          clock_.set_ms(c.ms);
          break;
        case Kind::kAdvance:
          clock_.advance_ms(c.ms);
          break;
        case Kind::kRequest:
          request(c);
          break;
        case Kind::kExpect:
          expect(c);
          break;
        case Kind::kConfirm:
          confirm(c);
          break;
        case Kind::kRelease:
          release(c);
          break;
        case Kind::kMeter:
          meter(c);
          break;
      }
    }
  }

 private:
  void fail(const Command& c, std::string message) {
    report_.failures.push_back({c.line, std::move(message)});
  }

  void policy(const Command& c) {
    auto spec = policy::parse_spec(c.body);
    if (!spec.ok()) return fail(c, "policy " + c.id + ": " + spec.status().to_string());
    const policy::Validation v = policy::validate(*spec, engine::custom_validate_options());
    if (v.has_blocker()) {
      std::string msg = "policy " + c.id + " is invalid:";
      for (const auto& i : v.issues) {
        if (i.severity == policy::Severity::kBlocker) msg += " " + i.pointer + " " + i.code + ";";
      }
      msg.pop_back();
      return fail(c, msg);
    }
    engine::PolicyInput in{
        .id = c.id,
        .agent_id = c.agent.empty() ? spec->agent_id : std::optional<std::string>(c.agent),
        .type = spec->type,
        .rules = v.normalized_rules,
        .priority = spec->priority,
        .enabled = spec->enabled};
    policies_[c.id] = std::move(in);
    std::vector<engine::PolicyInput> all;
    for (const auto& [id, p] : policies_) all.push_back(p);
    if (Status s = engine_.load_policies(all); !s.ok()) {
      policies_.erase(c.id);
      fail(c, "policy " + c.id + " does not compile: " + s.to_string());
    }
  }

  void request(const Command& c) {
    RequestState& st = requests_[c.id];
    agents_[c.id] = c.agent;
    auto context = contexts_.find(c.agent);
    auto req = request_from_json(c.body, c.agent, clock_.now_ms(),
                                 context == contexts_.end() ? default_agent() : context->second);
    if (!req.ok()) {
      st.refused = req.take_status();
      return;
    }
    st.decision = engine_.decide(*req, c.id, /*reserve=*/true, /*explain=*/false);
    st.decided = true;
  }

  void expect(const Command& c) {
    ++report_.checks;
    const RequestState& st = requests_[c.id];
    if (c.refused) {
      if (st.decided)
        return fail(c,
                    c.id + ": expected ERROR " + c.error_code + ", got " + describe(st.decision));
      if (error_code_name(st.refused.code()) != c.error_code) {
        fail(c, c.id + ": expected ERROR " + c.error_code + ", got " + st.refused.to_string());
      }
      return;
    }
    if (!st.decided) return fail(c, "request " + c.id + " was refused: " + st.refused.to_string());
    const engine::Decision& d = st.decision;
    bool ok = d.allowed() == c.allow && codes_match(c, d);
    if (c.allow && ok) ok = engine::outcome_name(d.outcome) == c.tier;
    std::string extra;
    if (c.delay_seconds && *c.delay_seconds != d.delay_seconds) {
      ok = false;
      extra += " delay=" + std::to_string(d.delay_seconds);
    }
    if (c.approval_timeout_seconds && *c.approval_timeout_seconds != d.approval_timeout_seconds) {
      ok = false;
      extra += " approval_timeout=" + std::to_string(d.approval_timeout_seconds);
    }
    if (!ok) {
      fail(c, c.id + ": expected " + describe(c) + ", got " + describe(d) + extra);
    }
  }

  // Settling a request that reserved nothing is a mistake in the test, not a no-op.
  bool held(const Command& c) {
    const RequestState& st = requests_[c.id];
    if (!st.decided || !st.decision.allowed()) {
      fail(c, c.id + " was not allowed: nothing to settle");
      return false;
    }
    return true;
  }

  void confirm(const Command& c) {
    ++report_.checks;
    if (!held(c)) return;
    const Status s = engine_.settle(agents_[c.id], c.id, c.amount);
    const std::string got = s.ok() ? "ok" : std::string(error_code_name(s.code()));
    const std::string want = c.error_code.empty() ? "ok" : c.error_code;
    if (got != want) {
      fail(c, "confirm " + c.id + " " + c.amount.to_string() + ": expected " + want + ", got " +
                  (s.ok() ? got : s.to_string()));
    }
  }

  void release(const Command& c) {
    if (held(c)) engine_.release(agents_[c.id], c.id);
  }

  void meter(const Command& c) {
    ++report_.checks;
    const Amount total = engine_.meter_total(c.agent, c.id, clock_.now_ms());
    if (total != c.amount) {
      fail(c, "meter " + c.id + " of " + c.agent + ": expected " + c.amount.to_string() + ", got " +
                  total.to_string());
    }
  }

  FileReport& report_;
  FakeClock clock_;
  engine::Engine engine_;
  std::map<std::string, engine::PolicyInput> policies_;
  std::map<std::string, RequestState> requests_;
  std::map<std::string, std::string> agents_;
  std::map<std::string, engine::AgentContext> contexts_;  // declared agents; others: default
};

}  // namespace

int TestReport::passed() const {
  return static_cast<int>(
      std::count_if(files.begin(), files.end(), [](const FileReport& f) { return f.passed(); }));
}

int TestReport::failed() const { return static_cast<int>(files.size()) - passed(); }

std::string TestReport::to_text() const {
  std::string out;
  for (const FileReport& f : files) {
    if (f.passed()) {
      out += "PASS " + f.path + " (" + std::to_string(f.checks) + " checks)\n";
      continue;
    }
    out += "FAIL " + f.path + "\n";
    for (const Failure& x : f.failures) {
      out += "  " + f.path + ":" + std::to_string(x.line) + ": " + x.message + "\n";
    }
  }
  out += std::to_string(passed()) + " passed, " + std::to_string(failed()) + " failed\n";
  return out;
}

FileReport run_policy_test_text(std::string_view text, const std::string& path) {
  FileReport report;
  report.path = path;
  report.name = path;
  std::vector<Command> commands;
  Parser parser(text);
  if (auto err = parser.parse(&commands, &report.name)) {
    report.failures.push_back({err->line, "syntax: " + err->message});
    return report;
  }
  Runner(&report).run(commands);
  return report;
}

FileReport run_policy_test_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().size() > kTestFileBytesMax) {
    FileReport report;
    report.path = report.name = path;
    report.failures.push_back({0, "cannot read the file (or it exceeds 4 MiB)"});
    return report;
  }
  return run_policy_test_text(text.str(), path);
}

Result<TestReport> run_policy_tests(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "'" + dir + "' is not a directory");
  }
  std::vector<std::string> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".test") {
      paths.push_back(it->path().string());
    }
  }
  if (ec) return Status(ErrorCode::VALIDATION_INVALID_VALUE, "cannot list '" + dir + "'");
  if (paths.empty()) {
    return Status(ErrorCode::VALIDATION_INVALID_VALUE, "no *.test files under '" + dir + "'");
  }
  std::sort(paths.begin(), paths.end());
  TestReport report;
  for (const auto& p : paths) report.files.push_back(run_policy_test_file(p));
  return report;
}

}  // namespace warden::policytest
