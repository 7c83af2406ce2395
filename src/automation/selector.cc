// Target selectors: parsing of the list / range / query / subject grammar and resolution
// against a host's inventory.
#include "automation/selector.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace warden::automation {
namespace {

Status invalid(std::string_view text, std::string_view why) {
  return Status(
      ErrorCode::VALIDATION_INVALID_VALUE,
      "invalid selector \"" + std::string(text.substr(0, 64)) + "\": " + std::string(why));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Characters an id or a pattern may hold: printable ASCII other than the grammar's own.
bool id_char(char c, bool allow_star) {
  if (c <= ' ' || c > '~') return false;
  if (c == '*') return allow_star;
  return c != ',' && c != '[' && c != ']' && c != '{' && c != '}';
}

bool all_id_chars(std::string_view s, bool allow_star) {
  return std::all_of(s.begin(), s.end(), [&](char c) { return id_char(c, allow_star); });
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One list element: a plain id or prefix[a-b]suffix. Appends the ids it names.
Status expand_element(std::string_view whole, std::string_view item, std::vector<std::string>& out,
                      bool& ranged) {
  const auto open = item.find('[');
  if (open == std::string_view::npos) {
    if (item.find(']') != std::string_view::npos) return invalid(whole, "']' without '['");
    if (item.find('*') != std::string_view::npos) {
      return invalid(whole, "'*' is a query wildcard: write id:" + std::string(item.substr(0, 64)));
    }
    if (!all_id_chars(item, false)) return invalid(whole, "an id holds a character not allowed");
    out.emplace_back(item);
    return {};
  }
  const auto close = item.find(']', open);
  if (close == std::string_view::npos) return invalid(whole, "'[' without ']'");
  const std::string_view prefix = item.substr(0, open);
  const std::string_view body = item.substr(open + 1, close - open - 1);
  const std::string_view suffix = item.substr(close + 1);
  if (suffix.find_first_of("[]") != std::string_view::npos) {
    return invalid(whole, "one range per id");
  }
  if (!all_id_chars(prefix, false) || !all_id_chars(suffix, false)) {
    return invalid(whole, "an id holds a character not allowed");
  }
  const auto dash = body.find('-');
  if (dash == std::string_view::npos) return invalid(whole, "a range is [first-last]");
  const std::string_view lo_text = body.substr(0, dash);
  const std::string_view hi_text = body.substr(dash + 1);
  if (!is_digits(lo_text) || !is_digits(hi_text) || lo_text.size() > 9 || hi_text.size() > 9) {
    return invalid(whole, "range bounds are decimal numbers of at most 9 digits");
  }
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  std::from_chars(lo_text.data(), lo_text.data() + lo_text.size(), lo);
  std::from_chars(hi_text.data(), hi_text.data() + hi_text.size(), hi);
  if (lo > hi) return invalid(whole, "range first is above last");
  if (hi - lo + 1 > kSelectorRangeMax) return invalid(whole, "range names too many ids");
  // Equal-width bounds ("01-20") mean zero-padded numbers; otherwise plain ones ("1-20").
  const std::size_t width = lo_text.size() == hi_text.size() ? lo_text.size() : 0;
  for (std::int64_t n = lo; n <= hi; ++n) {
    std::string digits = std::to_string(n);
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    out.push_back(std::string(prefix) + digits + std::string(suffix));
  }
  ranged = true;
  return {};
}

Result<SelectorTerm> parse_term(std::string_view whole, std::string_view term) {
  const auto colon = term.find(':');
  if (colon == std::string_view::npos) {
    return invalid(whole, "a query term is label:key=value, name:, id: or kind:");
  }
  SelectorTerm t;
  t.field = std::string(term.substr(0, colon));
  std::string_view rest = term.substr(colon + 1);
  if (t.field == "label") {
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) return invalid(whole, "a label term is label:key=value");
    const std::string_view key = rest.substr(0, eq);
    if (key.empty() || !all_id_chars(key, false) || key.find('=') != std::string_view::npos) {
      return invalid(whole, "a label key is a non-empty name");
    }
    t.key = std::string(key);
    rest = rest.substr(eq + 1);
  } else if (t.field != "name" && t.field != "id" && t.field != "kind") {
    return invalid(whole, "unknown query field \"" + t.field + "\"");
  }
  if (rest.empty() || !all_id_chars(rest, true)) {
    return invalid(whole, "a query value is a non-empty pattern ('*' as wildcard)");
  }
  t.pattern = std::string(rest);
  return t;
}

// A query starts with a field name, or is words without commas ("a b" is a query with bad
// terms, not a list); a list may have spaces around its commas.
bool looks_like_query(std::string_view text) {
  for (std::string_view field : {"label:", "name:", "id:", "kind:"}) {
    if (text.substr(0, field.size()) == field) return true;
  }
  return text.find(',') == std::string_view::npos &&
         text.find_first_of(" \t") != std::string_view::npos;
}

bool item_matches(const SelectorTerm& t, const InventoryItem& item) {
  if (t.field == "id") return wildcard_match(t.pattern, item.id);
  if (t.field == "name") return wildcard_match(t.pattern, item.name);
  if (t.field == "kind") return wildcard_match(t.pattern, item.kind);
  const auto it = item.labels.find(t.key);
  return it != item.labels.end() && wildcard_match(t.pattern, it->second);
}

}  // namespace

bool wildcard_match(std::string_view pattern, std::string_view text) {
  // Greedy matching with one backtrack point: linear in practice, never exponential.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<Selector> parse_selector(std::string_view raw) {
  if (raw.size() > kSelectorBytesMax) return invalid(raw, "longer than 1024 bytes");
  const std::string_view text = trim(raw);
  if (text.empty()) return invalid(raw, "empty");
  Selector s;
  if (text.find("{{") != std::string_view::npos || text.find("}}") != std::string_view::npos) {
    // Only the subject is a selector template: other event fields name no inventory item.
    std::string compact;
    for (char c : text) {
      if (c != ' ') compact.push_back(c);
    }
    if (compact != kSubjectSelector) return invalid(raw, "the only template is {{event.subject}}");
    s.kind = Selector::Kind::kEventSubject;
    s.text = std::string(kSubjectSelector);
    return s;
  }
  if (looks_like_query(text)) {
    s.kind = Selector::Kind::kQuery;
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      if (i == text.size()) break;
      std::size_t j = i;
      while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
      WARDEN_ASSIGN_OR_RETURN(SelectorTerm term, parse_term(raw, text.substr(i, j - i)));
      s.terms.push_back(std::move(term));
      i = j;
    }
    auto key = [](const SelectorTerm& t) { return std::tie(t.field, t.key, t.pattern); };
    std::sort(s.terms.begin(), s.terms.end(),
              [&](const SelectorTerm& a, const SelectorTerm& b) { return key(a) < key(b); });
    s.terms.erase(std::unique(s.terms.begin(), s.terms.end()), s.terms.end());
    for (const SelectorTerm& t : s.terms) {
      if (!s.text.empty()) s.text += ' ';
      s.text += t.field + ":" + (t.field == "label" ? t.key + "=" : "") + t.pattern;
    }
    return s;
  }
  bool ranged = false;
  std::vector<std::string> elements;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string_view item =
        trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (item.empty()) return invalid(raw, "an empty list element");
    WARDEN_RETURN_IF_ERROR(expand_element(raw, item, s.ids, ranged));
    elements.emplace_back(item);
    if (s.ids.size() > static_cast<std::size_t>(kSelectorRangeMax)) {
      return invalid(raw, "names too many ids");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (!ranged && elements.size() > kSelectorListMax) return invalid(raw, "too many ids in a list");
  std::sort(s.ids.begin(), s.ids.end());
  s.ids.erase(std::unique(s.ids.begin(), s.ids.end()), s.ids.end());
  s.kind = ranged ? Selector::Kind::kRange : Selector::Kind::kList;
  // Canonical text: elements sorted and unique (a range stays written as a range).
  std::sort(elements.begin(), elements.end());
  elements.erase(std::unique(elements.begin(), elements.end()), elements.end());
  for (const std::string& e : elements) {
    if (!s.text.empty()) s.text += ',';
    s.text += e;
  }
  return s;
}

std::vector<std::string> resolve(const Selector& s, const std::vector<InventoryItem>& items,
                                 const Event* event) {
  std::vector<std::string> out;
  switch (s.kind) {
    case Selector::Kind::kList:
    case Selector::Kind::kRange: {
      for (const InventoryItem& item : items) {
        if (std::binary_search(s.ids.begin(), s.ids.end(), item.id)) out.push_back(item.id);
      }
      break;
    }
    case Selector::Kind::kQuery: {
      for (const InventoryItem& item : items) {
        if (std::all_of(s.terms.begin(), s.terms.end(),
                        [&](const SelectorTerm& t) { return item_matches(t, item); })) {
          out.push_back(item.id);
        }
      }
      break;
    }
    case Selector::Kind::kEventSubject: {
      if (event == nullptr || event->subject.empty()) break;
      for (const InventoryItem& item : items) {
        if (item.id == event->subject) out.push_back(item.id);
      }
      break;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace warden::automation
