// What an LLM request will use at most, before it is forwarded (TOKEN_LIMIT and BUDGET reserve
// it), and what a usage costs at a model's prices. Joins the adapters' request facts with the
// tokenizer: the prompt is counted with the model's own encoding when it is public (OpenAI
// models: exact), with cl100k_base otherwise (marked estimated, docs/tokenize.md).
#pragma once

#include <cstdint>
#include <optional>

#include "core/amount.h"
#include "gateway/adapters.h"

namespace warden::gateway {

// Prices in micro-units (or any smallest unit) per 1,000 tokens.
struct Prices {
  Amount input_per_1k;
  Amount output_per_1k;
};

struct Estimate {
  std::uint64_t prompt_tokens = 0;
  // The most output the request allows; `default_output_tokens` when it does not say.
  std::uint64_t max_output_tokens = 0;
  bool exact = false;           // the prompt was counted with the model's own encoding
  std::optional<Amount> cost;   // with prices: the cost of prompt + the most output
  std::uint64_t total_tokens() const { return prompt_tokens + max_output_tokens; }
};

// Chat requests are counted as the chat format counts them (per-message overhead, names, the
// reply's priming) plus the tool declarations as text; embedding inputs as text plus the inputs
// given as token ids.
Estimate estimate_request(const RequestFacts& facts, std::uint64_t default_output_tokens,
                          const std::optional<Prices>& prices);

// (prompt × input + completion × output) / 1,000, rounded up: a fraction of the smallest unit is
// charged, never given away. Exact in 256 bits; past 2^256 - 1 it saturates at the maximum
// (no real price and token count come near).
Amount cost_of(std::uint64_t prompt_tokens, std::uint64_t completion_tokens, const Prices& prices);

}  // namespace warden::gateway
