// Field readers, set normalisation, address forms and document ordering shared by the
// per-type rule checks.
#include "core/json.h"
#include "policy/checker.h"

#include <algorithm>
#include <map>
#include <utility>

namespace warden::policy {
namespace json = boost::json;

std::string pointer_join(std::string_view base, std::string_view key) {
  return json_pointer_join(base, key);
}

std::string pointer_join(std::string_view base, std::size_t index) {
  std::string out(base);
  out.push_back('/');
  out += std::to_string(index);
  return out;
}

std::string quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  out.append(text);
  out.push_back('"');
  return out;
}

void IssueList::add(Severity severity, std::string pointer, std::string_view code,
                    std::string message) {
  items_.push_back(Issue{severity, std::move(pointer), std::string(code), std::move(message)});
}

void IssueList::append(std::vector<Issue> more) {
  for (auto& issue : more) items_.push_back(std::move(issue));
}

void FieldReader::reject_unknown(std::initializer_list<std::string_view> known) const {
  for (const auto& kv : object_) {
    const std::string_view key = kv.key();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      issues_.add(Severity::kBlocker, at(key), "RULES_UNKNOWN_FIELD",
                  "unknown field " + quote(key));
    }
  }
}

const json::value* FieldReader::find(std::string_view key, bool required) const {
  const json::value* v = object_.if_contains(key);
  if (v == nullptr && required) {
    issues_.add(Severity::kBlocker, at(key), "RULES_MISSING_FIELD",
                "required field \"" + std::string(key) + "\" is missing");
  }
  return v;
}

void FieldReader::wrong_type(std::string_view key, std::string_view expected) const {
  issues_.add(Severity::kBlocker, at(key), "RULES_WRONG_TYPE",
              quote(key) + " must be " + std::string(expected));
}

std::optional<std::string> FieldReader::string(std::string_view key, bool required,
                                               std::size_t bytes_max) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    wrong_type(key, "a string");
    return std::nullopt;
  }
  const json::string& s = v->get_string();
  if (s.size() > bytes_max) {
    issues_.add(Severity::kBlocker, at(key), "VALUE_OUT_OF_RANGE",
                quote(key) + " is longer than " + std::to_string(bytes_max) + " bytes");
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<std::int64_t> FieldReader::integer(std::string_view key, bool required,
                                                 std::int64_t min, std::int64_t max) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  std::optional<std::int64_t> n;
  bool too_big = false;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    too_big = true;  // Boost.JSON only uses uint64 above INT64_MAX
  } else {
    wrong_type(key, "an integer");
    return std::nullopt;
  }
  if (too_big || *n < min || *n > max) {
    issues_.add(
        Severity::kBlocker, at(key), "VALUE_OUT_OF_RANGE",
        quote(key) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return n;
}

std::optional<bool> FieldReader::boolean(std::string_view key, bool required) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    wrong_type(key, "true or false");
    return std::nullopt;
  }
  return v->get_bool();
}

std::optional<Amount> FieldReader::amount(std::string_view key, bool required) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    // Numbers are refused outright: JSON numbers lose precision long before 2^256.
    wrong_type(key, "a decimal string");
    return std::nullopt;
  }
  auto parsed = Amount::parse(std::string_view(v->get_string()));
  if (!parsed.ok()) {
    issues_.add(Severity::kBlocker, at(key), "AMOUNT_INVALID",
                quote(key) + ": " + parsed.status().message());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Window> FieldReader::window(std::string_view key, bool required) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    wrong_type(key, "a duration string such as \"24h\" or \"month\"");
    return std::nullopt;
  }
  auto parsed = parse_window(std::string_view(v->get_string()));
  if (!parsed.ok()) {
    issues_.add(Severity::kBlocker, at(key), "WINDOW_INVALID", parsed.status().message());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::string> FieldReader::choice(std::string_view key, bool required,
                                               std::span<const std::string_view> allowed) const {
  auto s = string(key, required);
  if (!s) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), *s) != allowed.end()) return s;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  issues_.add(Severity::kBlocker, at(key), "VALUE_NOT_ALLOWED",
              quote(key) + " must be one of: " + list);
  return std::nullopt;
}

const json::array* FieldReader::array(std::string_view key, bool required) const {
  const json::value* v = find(key, required);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    wrong_type(key, "an array");
    return nullptr;
  }
  return &v->get_array();
}

const json::object* element_object(const json::value& v, const std::string& pointer,
                                   IssueList& issues) {
  if (v.is_object()) return &v.get_object();
  issues.add(Severity::kBlocker, pointer, "RULES_WRONG_TYPE", "entry must be an object");
  return nullptr;
}

const json::string* element_string(const json::value& v, const std::string& pointer,
                                   IssueList& issues) {
  if (v.is_string()) return &v.get_string();
  issues.add(Severity::kBlocker, pointer, "RULES_WRONG_TYPE", "entry must be a string");
  return nullptr;
}

json::array sorted_unique(std::vector<SetEntry> entries, IssueList& issues) {
  std::map<std::string, std::string> first_pointer;  // value -> pointer of its first entry
  json::array out;
  for (auto& e : entries) {
    auto [it, inserted] = first_pointer.emplace(e.value, e.pointer);
    if (!inserted) {
      issues.add(Severity::kWarn, e.pointer, "DUPLICATE_ENTRY",
                 quote(e.value) + " repeats " + it->second + " and is removed");
    }
  }
  for (const auto& [value, pointer] : first_pointer) out.emplace_back(value);
  return out;
}

namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_base58(char c) {
  static constexpr std::string_view kAlphabet =
      "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  return kAlphabet.find(c) != std::string_view::npos;
}

std::optional<std::string> evm_address(std::string_view text) {
  if (text.size() != 42 || text.substr(0, 2) != "0x") return std::nullopt;
  std::string out(text);
  for (std::size_t i = 2; i < out.size(); ++i) {
    if (!is_hex(out[i])) return std::nullopt;
    if (out[i] >= 'A' && out[i] <= 'F') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
  return out;
}

std::optional<std::string> solana_address(std::string_view text) {
  if (text.size() < 32 || text.size() > 44) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), is_base58)) return std::nullopt;
  return std::string(text);
}

}  // namespace

std::optional<std::string> canonical_address(std::string_view text, std::string_view chain) {
  if (chain == "ethereum") return evm_address(text);
  if (chain == "solana") return solana_address(text);
  // "0x" cannot begin a base58 string ('0' and 'x' are outside the alphabet): no ambiguity.
  if (text.substr(0, 2) == "0x") return evm_address(text);
  return solana_address(text);
}

namespace {
// A currency code: [A-Z][A-Z0-9_]{1,15}, never "NATIVE" (a second name for "native"). No
// address has this form (EVM starts with 0x, base58 is 32+ characters).
bool is_currency_code(std::string_view text) {
  if (text.size() < 2 || text.size() > kCurrencyCodeBytesMax || text == "NATIVE") return false;
  if (text[0] < 'A' || text[0] > 'Z') return false;
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}
}  // namespace

std::optional<std::string> canonical_asset(std::string_view text) {
  // Exactly "native": "NATIVE" or " native" would be a second name for the same asset.
  if (text == kNativeAsset) return std::string(kNativeAsset);
  if (is_currency_code(text)) return std::string(text);
  return canonical_address(text);
}

std::optional<std::string> canonical_action(std::string_view text) {
  if (text.empty() || text.size() > kActionBytesMax) return std::nullopt;
  std::string out(text);
  for (char& c : out) {
    const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
    if (!allowed) return std::nullopt;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

namespace {

// Pointer -> [first, last] preorder positions of the value and everything below it.
using Spans = std::map<std::string, std::pair<std::size_t, std::size_t>>;

void index_spans(const json::value& v, const std::string& pointer, std::size_t& next,
                 Spans& spans) {
  const std::size_t first = next++;
  if (v.is_object()) {
    for (const auto& kv : v.get_object()) {
      index_spans(kv.value(), pointer_join(pointer, kv.key()), next, spans);
    }
  } else if (v.is_array()) {
    const auto& arr = v.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      index_spans(arr[i], pointer_join(pointer, i), next, spans);
    }
  }
  spans[pointer] = {first, next - 1};
}

// Twice the position, plus one for a pointer that is absent from the document: it lands just
// after its nearest present ancestor's contents.
std::size_t rank_of(const std::string& pointer, const Spans& spans) {
  if (auto it = spans.find(pointer); it != spans.end()) return 2 * it->second.first;
  std::string p = pointer;
  while (!p.empty()) {
    p.resize(p.rfind('/'));
    if (auto it = spans.find(p); it != spans.end()) return 2 * it->second.second + 1;
  }
  return 0;  // top-level fields such as /type and /agent_id come before the rules
}

}  // namespace

void sort_in_document_order(const json::value& rules, std::vector<Issue>& issues) {
  Spans spans;
  std::size_t next = 1;  // 0 is kept for pointers outside /rules
  index_spans(rules, "/rules", next, spans);
  std::stable_sort(issues.begin(), issues.end(), [&](const Issue& a, const Issue& b) {
    return rank_of(a.pointer, spans) < rank_of(b.pointer, spans);
  });
}

std::string read_asset(const FieldReader& rules, bool required) {
  auto asset = rules.string("asset", required);
  if (!asset) return std::string(kNativeAsset);
  if (asset->empty()) {
    rules.issues().add(Severity::kBlocker, rules.at("asset"), "VALUE_EMPTY",
                       "\"asset\" must not be empty");
    return *asset;
  }
  auto canonical = canonical_asset(*asset);
  if (!canonical) {
    rules.issues().add(Severity::kBlocker, rules.at("asset"), "ASSET_INVALID",
                       quote(*asset) +
                           " is not \"native\", a token address (0x + 40 hex digits, or 32-44 "
                           "base58 characters) or a currency code (2-16 of A-Z 0-9 _ from a letter)");
    return *asset;
  }
  return *canonical;
}


}  // namespace warden::policy
