// Target selectors (docs/automation.md, "Selectors"): which inventory items of a host an
// action applies to. Four forms:
//   list      "a,b,c"                       those ids
//   range     "trader-[01-20]"              prefix + zero-padded numbers + suffix
//   query     "label:env=prod name:db*"     every term must hold (AND); '*' is a wildcard
//   subject   "{{event.subject}}"           the triggering event's subject
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "automation/types.h"
#include "core/status.h"

namespace warden::automation {

inline constexpr std::size_t kSelectorBytesMax = 1024;
inline constexpr std::size_t kSelectorListMax = 256;       // ids in a list
inline constexpr std::int64_t kSelectorRangeMax = 10'000;  // ids a range can name
inline constexpr std::string_view kSubjectSelector = "{{event.subject}}";

struct SelectorTerm {
  // "id", "name", "kind" or "label" (key in `key`); `pattern` may hold '*' wildcards.
  std::string field;
  std::string key;
  std::string pattern;
  friend bool operator==(const SelectorTerm&, const SelectorTerm&) = default;
};

struct Selector {
  enum class Kind { kList, kRange, kQuery, kEventSubject } kind = Kind::kList;
  std::vector<std::string> ids;     // kList (sorted, unique), kRange (expanded, sorted)
  std::vector<SelectorTerm> terms;  // kQuery
  std::string text;                 // canonical text (list sorted, query terms sorted)
};

// SELECTOR_INVALID (VALIDATION_INVALID_VALUE status) with a message naming the problem.
Result<Selector> parse_selector(std::string_view text);

// The ids of `items` the selector picks, sorted and unique. A list or range picks only ids
// present in `items`; a subject selector picks the event's subject when it is an item's id
// (no event: nothing).
std::vector<std::string> resolve(const Selector& s, const std::vector<InventoryItem>& items,
                                 const Event* event);

// '*' matches any run of characters (possibly empty); everything else literally.
bool wildcard_match(std::string_view pattern, std::string_view text);

}  // namespace warden::automation
