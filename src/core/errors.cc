// Lookup tables generated from the error catalogue.
#include "core/errors.h"

#include <array>

namespace warden {
namespace {

struct Entry {
  std::string_view name;
  int http_status;
  std::string_view en;
  std::string_view ko;
};

constexpr std::array kEntries = {
#define WARDEN_ERROR_ENTRY(code, http, en, ko) Entry{#code, http, en, ko},
    WARDEN_ERROR_CODES(WARDEN_ERROR_ENTRY)
#undef WARDEN_ERROR_ENTRY
};

const Entry& entry(ErrorCode code) { return kEntries[static_cast<std::size_t>(code)]; }

}  // namespace

std::string_view error_code_name(ErrorCode code) { return entry(code).name; }
int error_http_status(ErrorCode code) { return entry(code).http_status; }

std::string_view error_message(ErrorCode code, Language lang) {
  return lang == Language::kKorean ? entry(code).ko : entry(code).en;
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kEntries.size(); ++i) {
    if (kEntries[i].name == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

Language language_from_accept(std::string_view accept) {
  // The first listed language wins; q-values beyond order are not needed for two languages.
  while (!accept.empty() && (accept.front() == ' ' || accept.front() == '\t')) {
    accept.remove_prefix(1);
  }
  if (accept.size() >= 2 && (accept[0] == 'k' || accept[0] == 'K') &&
      (accept[1] == 'o' || accept[1] == 'O') &&
      (accept.size() == 2 || accept[2] == '-' || accept[2] == ';' || accept[2] == ',')) {
    return Language::kKorean;
  }
  return Language::kEnglish;
}

}  // namespace warden
