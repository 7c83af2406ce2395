// The LLM gateway's proxy: an OpenAI-compatible (and Anthropic, Cohere, Gemini) HTTP front end
// that authenticates gateway keys, decides each call with the decision service, forwards it to
// the model's upstream over HTTP or HTTPS (pooled, with connect, first-byte and idle
// timeouts), streams SSE back chunk by chunk, cuts a metered stream at its reserved output,
// and settles what was used (docs/gateway.md).
#pragma once

#include "gateway/gateway.h"
#include "server/server.h"

namespace warden::gateway {

// The factory run_server() calls once its services are up (ServerOptions::gateway).
server::FrontendFactory proxy_frontend(GatewayOptions options);

}  // namespace warden::gateway
