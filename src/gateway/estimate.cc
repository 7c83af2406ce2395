// Request estimates and usage costs (estimate.h).
#include "gateway/estimate.h"

#include <vector>

#include "tokenize/tokenize.h"

namespace warden::gateway {

namespace {

Amount saturating(const Result<Amount>& r) { return r.ok() ? *r : Amount::max(); }

}  // namespace

Amount cost_of(std::uint64_t prompt_tokens, std::uint64_t completion_tokens,
               const Prices& prices) {
  const Amount in = saturating(Amount(prompt_tokens).checked_mul(prices.input_per_1k));
  const Amount out = saturating(Amount(completion_tokens).checked_mul(prices.output_per_1k));
  const Amount sum = saturating(in.checked_add(out));
  // ceil(sum / 1000) without overflow: sum / 1000, plus one when a remainder is left.
  const Amount::Rep thousand(1000);
  Amount::Rep whole = sum.rep() / thousand;
  if (sum.rep() % thousand != 0) whole += 1;
  return Amount::parse(whole.str()).value();
}

Estimate estimate_request(const RequestFacts& facts, std::uint64_t default_output_tokens,
                          const std::optional<Prices>& prices) {
  Estimate e;
  bool estimated = false;
  if (!facts.messages.empty()) {
    std::vector<tokenize::ChatMessage> chat;
    chat.reserve(facts.messages.size());
    for (const MessageText& m : facts.messages) chat.push_back({m.role, m.text, m.name});
    const tokenize::TokenCount c = tokenize::count_chat(facts.model, chat);
    e.prompt_tokens += c.tokens;
    estimated = estimated || c.estimated;
  }
  if (!facts.tools_text.empty()) {
    const tokenize::TokenCount c = tokenize::count_text(facts.model, facts.tools_text);
    e.prompt_tokens += c.tokens;
    estimated = estimated || c.estimated;
  }
  for (const std::string& input : facts.inputs) {
    const tokenize::TokenCount c = tokenize::count_text(facts.model, input);
    e.prompt_tokens += c.tokens;
    estimated = estimated || c.estimated;
  }
  e.prompt_tokens += static_cast<std::uint64_t>(facts.input_token_ids);
  e.exact = !estimated;
  e.max_output_tokens = facts.max_output_tokens
                            ? static_cast<std::uint64_t>(*facts.max_output_tokens)
                            : default_output_tokens;
  if (prices) e.cost = cost_of(e.prompt_tokens, e.max_output_tokens, *prices);
  return e;
}

}  // namespace warden::gateway
