// libFuzzer target for the provider adapters: the first byte picks the provider and what is
// parsed (request, response or SSE stream), the second the chunk size a stream is fed in; the
// rest is the body. A stream fed whole and in chunks must give the same answer.
// Built only by scripts/fuzz-gateway.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/adapters.h"

namespace {

using namespace warden::gateway;

constexpr Provider kProviders[] = {Provider::kOpenAI, Provider::kAzureOpenAI, Provider::kAnthropic,
                                   Provider::kCohere, Provider::kGemini};

warden::Result<StreamSummary> run_stream(Provider p, std::string_view body, std::size_t chunk) {
  StreamParser parser(p);
  for (std::size_t from = 0; from < body.size(); from += chunk) {
    warden::Status s = parser.feed(body.substr(from, chunk), nullptr);
    if (!s.ok()) return s;
  }
  return parser.finish();
}

void check_usage(const std::optional<Usage>& u) {
  if (u && (u->prompt_tokens < 0 || u->completion_tokens < 0 || u->total_tokens < 0)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Provider provider = kProviders[data[0] % std::size(kProviders)];
  const int mode = (data[0] / std::size(kProviders)) % 4;
  const std::size_t chunk = 1 + data[1] % 64;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  if (mode == 0 || mode == 1) {
    RequestTarget target;
    target.provider = provider;
    target.path_model =
        provider == Provider::kGemini || provider == Provider::kAzureOpenAI ? "m" : "";
    target.operation =
        mode == 1 && (provider == Provider::kOpenAI || provider == Provider::kAzureOpenAI)
            ? Operation::kEmbeddings
            : Operation::kChat;
    auto r = parse_request(target, body);
    if (r.ok() && r->body_bytes != body.size()) __builtin_trap();
    return 0;
  }
  if (mode == 2) {
    auto r = parse_response(provider, Operation::kChat, body);
    if (r.ok()) check_usage(r->usage);
    return 0;
  }
  auto whole = run_stream(provider, body, body.size() + 1);
  auto split = run_stream(provider, body, chunk);
  if (whole.ok() != split.ok()) __builtin_trap();
  if (!whole.ok()) {
    if (whole.status().code() != split.status().code()) __builtin_trap();
    return 0;
  }
  check_usage(whole->usage);
  if (whole->usage != split->usage || whole->text != split->text ||
      whole->events != split->events || whole->truncated != split->truncated) {
    __builtin_trap();
  }
  return 0;
}
