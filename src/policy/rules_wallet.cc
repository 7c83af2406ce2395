// Rule checks for the wallet policy types: spending tiers and windows, address allow-lists,
// method selectors, approve caps and networks.
#include <algorithm>
#include <array>
#include <map>
#include <tuple>

#include "core/enums.h"
#include "policy/checker.h"

namespace warden::policy {
namespace json = boost::json;

namespace {

constexpr std::int64_t kDefaultDelaySeconds = 300;
constexpr std::int64_t kDefaultApprovalTimeoutSeconds = 3600;
constexpr std::int64_t kTierSecondsMax = 30LL * 86400;  // a month: longer holds are mistakes
constexpr std::array<std::string_view, 3> kTierKeys = {"instant_max", "notify_max", "delay_max"};

// Reads the three tier thresholds and checks they never decrease.
void check_tiers(const FieldReader& rules, json::object& out, std::optional<Amount>& instant) {
  std::optional<std::pair<std::string_view, Amount>> previous;
  bool any = false;
  for (std::string_view key : kTierKeys) {
    if (rules.has(key)) any = true;
    auto amount = rules.amount(key, false);
    if (!amount) continue;
    if (key == "instant_max") instant = amount;
    out[key] = amount->to_string();
    if (previous && *amount < previous->second) {
      rules.issues().add(Severity::kBlocker, rules.at(key), "TIER_ORDER",
                         std::string(key) + " (" + amount->to_string() + ") is below " +
                             std::string(previous->first) + " (" + previous->second.to_string() +
                             ")");
    }
    previous.emplace(key, *amount);
  }
  if (!any) {
    rules.issues().add(Severity::kBlocker, rules.pointer(), "TIER_MISSING",
                       "at least one of instant_max, notify_max, delay_max is required");
  }
}

struct CheckedWindow {
  Window window;
  std::optional<Amount> max;
};

// One element of SPENDING_LIMIT windows; nullopt when its duration is unusable.
std::optional<CheckedWindow> check_window_entry(const json::value& v, const std::string& pointer,
                                                const std::optional<Amount>& instant,
                                                IssueList& issues) {
  const json::object* obj = element_object(v, pointer, issues);
  if (obj == nullptr) return std::nullopt;
  FieldReader entry(*obj, pointer, issues);
  entry.reject_unknown({"duration", "max"});
  auto window = entry.window("duration", true);
  auto max = entry.amount("max", true);
  if (max && instant && *max < *instant) {
    issues.add(Severity::kWarn, entry.at("max"), "WINDOW_BELOW_INSTANT",
               "window max (" + max->to_string() + ") is below instant_max (" +
                   instant->to_string() + "): no amount at the instant tier can pass");
  }
  if (!window) return std::nullopt;
  return CheckedWindow{*window, max};
}

json::array check_windows(const FieldReader& rules, const std::optional<Amount>& instant) {
  const json::array* windows = rules.array("windows", false);
  if (windows == nullptr) return {};
  // Keyed by (seconds, calendar): a rolling "24h" and a calendar "day" are different windows.
  std::map<std::pair<std::int64_t, bool>, CheckedWindow> by_length;
  const std::string base = rules.at("windows");
  for (std::size_t i = 0; i < windows->size(); ++i) {
    const std::string pointer = pointer_join(base, i);
    auto w = check_window_entry((*windows)[i], pointer, instant, rules.issues());
    if (!w) continue;
    auto [it, inserted] = by_length.emplace(std::pair(w->window.seconds, w->window.calendar), *w);
    if (!inserted) {
      rules.issues().add(Severity::kBlocker, pointer_join(pointer, "duration"), "WINDOW_DUPLICATE",
                         "another window already has duration " + window_text(w->window));
    }
  }
  json::array out;
  for (const auto& [key, w] : by_length) {
    json::object entry;
    entry["duration"] = window_text(w.window);
    if (w.max) entry["max"] = w.max->to_string();
    out.push_back(std::move(entry));
  }
  return out;
}

// A chain restricts the address form; absent means either form per entry.
std::string read_chain(const FieldReader& rules, json::object& out) {
  auto chain = rules.choice("chain", false, kChainTypes);
  if (!chain) return {};
  out["chain"] = *chain;
  return *chain;
}

std::string address_problem(std::string_view chain) {
  if (chain == "ethereum") return "not an Ethereum address (0x followed by 40 hex digits)";
  if (chain == "solana") return "not a Solana address (32-44 base58 characters)";
  return "not an address (0x + 40 hex digits, or 32-44 base58 characters)";
}

// Reads an array of addresses at `key` into SetEntries; reports bad ones.
std::vector<SetEntry> read_addresses(const FieldReader& rules, std::string_view key,
                                     std::string_view chain, bool warn_if_empty) {
  std::vector<SetEntry> entries;
  const json::array* list = rules.array(key, true);
  if (list == nullptr) return entries;
  const std::string base = rules.at(key);
  if (list->empty() && warn_if_empty) {
    rules.issues().add(Severity::kWarn, base, "LIST_EMPTY",
                       quote(key) + " is empty: every request will be denied");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string pointer = pointer_join(base, i);
    const json::string* s = element_string((*list)[i], pointer, rules.issues());
    if (s == nullptr) continue;
    auto address = canonical_address(std::string_view(*s), chain);
    if (!address) {
      rules.issues().add(Severity::kBlocker, pointer, "ADDRESS_INVALID",
                         quote(*s) + " is " + address_problem(chain));
      continue;
    }
    entries.push_back({std::move(*address), pointer});
  }
  return entries;
}

std::optional<std::string> normalize_selector(std::string_view text) {
  if (text.size() != 10 || text.substr(0, 2) != "0x") return std::nullopt;
  std::string out(text);
  for (std::size_t i = 2; i < out.size(); ++i) {
    const char c = out[i];
    if (c >= 'A' && c <= 'F') {
      out[i] = static_cast<char>(c - 'A' + 'a');
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  return out;
}

std::vector<SetEntry> read_selectors(const FieldReader& method) {
  std::vector<SetEntry> entries;
  const json::array* list = method.array("selectors", true);
  if (list == nullptr) return entries;
  const std::string base = method.at("selectors");
  if (list->empty()) {
    method.issues().add(Severity::kWarn, base, "LIST_EMPTY",
                        "no selectors: every call to this contract will be denied");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string pointer = pointer_join(base, i);
    const json::string* s = element_string((*list)[i], pointer, method.issues());
    if (s == nullptr) continue;
    auto selector = normalize_selector(std::string_view(*s));
    if (!selector) {
      method.issues().add(Severity::kBlocker, pointer, "SELECTOR_INVALID",
                          quote(*s) + " is not a selector (0x + 8 hex digits)");
      continue;
    }
    entries.push_back({std::move(*selector), pointer});
  }
  return entries;
}

struct MethodEntry {
  std::string contract;
  std::string pointer;
  std::vector<SetEntry> selectors;
};

std::optional<MethodEntry> read_method(const json::value& v, const std::string& pointer,
                                       std::string_view chain, IssueList& issues) {
  const json::object* obj = element_object(v, pointer, issues);
  if (obj == nullptr) return std::nullopt;
  FieldReader method(*obj, pointer, issues);
  method.reject_unknown({"contract", "selectors"});
  std::vector<SetEntry> selectors = read_selectors(method);
  auto contract = method.string("contract", true);
  if (!contract) return std::nullopt;
  auto address = canonical_address(*contract, chain);
  if (!address) {
    issues.add(Severity::kBlocker, method.at("contract"), "ADDRESS_INVALID",
               quote(*contract) + " is " + address_problem(chain));
    return std::nullopt;
  }
  return MethodEntry{std::move(*address), pointer, std::move(selectors)};
}

}  // namespace

json::object check_spending_limit(const FieldReader& rules) {
  rules.reject_unknown({"instant_max", "notify_max", "delay_max", "delay_seconds",
                        "approval_timeout_seconds", "windows", "asset"});
  json::object out;
  std::optional<Amount> instant;
  check_tiers(rules, out, instant);
  out["delay_seconds"] =
      rules.integer("delay_seconds", false, 0, kTierSecondsMax).value_or(kDefaultDelaySeconds);
  out["approval_timeout_seconds"] =
      rules.integer("approval_timeout_seconds", false, 1, kTierSecondsMax)
          .value_or(kDefaultApprovalTimeoutSeconds);
  out["windows"] = check_windows(rules, instant);
  out["asset"] = read_asset(rules, false);
  return out;
}

json::object check_whitelist(const FieldReader& rules) {
  return check_address_list(rules, "allowed_addresses");
}

json::object check_address_list(const FieldReader& rules, std::string_view list_key) {
  rules.reject_unknown({list_key, "chain"});
  json::object out;
  const std::string chain = read_chain(rules, out);
  out[list_key] = sorted_unique(read_addresses(rules, list_key, chain, true), rules.issues());
  return out;
}

json::object check_method_whitelist(const FieldReader& rules) {
  rules.reject_unknown({"methods", "chain"});
  json::object out;
  const std::string chain = read_chain(rules, out);
  const json::array* methods = rules.array("methods", true);
  std::map<std::string, std::vector<SetEntry>> by_contract;  // sorted by contract
  if (methods != nullptr) {
    const std::string base = rules.at("methods");
    if (methods->empty()) {
      rules.issues().add(Severity::kWarn, base, "LIST_EMPTY",
                         "\"methods\" is empty: every contract call will be denied");
    }
    for (std::size_t i = 0; i < methods->size(); ++i) {
      auto m = read_method((*methods)[i], pointer_join(base, i), chain, rules.issues());
      if (!m) continue;
      auto [it, inserted] = by_contract.try_emplace(m->contract);
      if (!inserted) {
        rules.issues().add(Severity::kWarn, pointer_join(m->pointer, "contract"), "DUPLICATE_ENTRY",
                           "contract " + m->contract + " is listed again; selectors are merged");
      }
      for (auto& s : m->selectors) it->second.push_back(std::move(s));
    }
  }
  json::array normalized;
  for (auto& [contract, selectors] : by_contract) {
    json::object entry;
    entry["contract"] = contract;
    entry["selectors"] = sorted_unique(std::move(selectors), rules.issues());
    normalized.push_back(std::move(entry));
  }
  out["methods"] = std::move(normalized);
  return out;
}

json::object check_approve_amount_limit(const FieldReader& rules) {
  rules.reject_unknown({"max_amount", "block_unlimited"});
  json::object out;
  auto max = rules.amount("max_amount", false);
  if (max) out["max_amount"] = max->to_string();
  const bool block_unlimited = rules.boolean("block_unlimited", false).value_or(true);
  out["block_unlimited"] = block_unlimited;
  if (!block_unlimited && !rules.has("max_amount")) {
    rules.issues().add(Severity::kWarn, rules.pointer(), "POLICY_NO_EFFECT",
                       "without max_amount and with block_unlimited false, nothing is limited");
  }
  return out;
}

json::object check_allowed_networks(const FieldReader& rules) {
  rules.reject_unknown({"networks"});
  json::object out;
  std::vector<SetEntry> entries;
  if (const json::array* list = rules.array("networks", true)) {
    const std::string base = rules.at("networks");
    if (list->empty()) {
      rules.issues().add(Severity::kWarn, base, "LIST_EMPTY",
                         "\"networks\" is empty: every request will be denied");
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string pointer = pointer_join(base, i);
      const json::string* s = element_string((*list)[i], pointer, rules.issues());
      if (s == nullptr) continue;
      if (!is_one_of(kNetworkTypes, std::string_view(*s))) {
        rules.issues().add(Severity::kBlocker, pointer, "VALUE_NOT_ALLOWED",
                           quote(*s) + " is not one of: mainnet, devnet, testnet");
        continue;
      }
      entries.push_back({std::string(*s), pointer});
    }
  }
  out["networks"] = sorted_unique(std::move(entries), rules.issues());
  return out;
}

}  // namespace warden::policy
