#!/usr/bin/env bash
# Proxy latency benchmark: the fake provider (tests/fixtures/llm_upstream.mjs) on loopback, the
# peer gateway @portkey-ai/gateway pinned in bench/gateway/package-lock.json (npm ci into the
# build tree, once) and Warden's gateway in front of it, all measured in one run by
# bench/gateway/latency.mjs: OpenAI chat completions at each concurrency, streamed and not,
# direct and through each proxy; prints p50/p99 and what each proxy adds (docs/benchmarks.md).
# Usage: scripts/bench-gateway.sh [build-dir]   (default: build)
# Knobs: REQUESTS (per target and scenario, 2000), ROUNDS (interleaved, 3), WARMUP (200),
# CONCURRENCY (1,64),
# STREAM (both|on|off), WARDEN (the warden binary, default BUILD/src/cli/warden), JSON (a file
# for the results).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
requests="${REQUESTS:-2000}"
warmup="${WARMUP:-200}"
rounds="${ROUNDS:-3}"
concurrency="${CONCURRENCY:-1,64}"
stream="${STREAM:-both}"
warden="${WARDEN:-$build/src/cli/warden}"
start_timeout_s=20

for tool in node npm curl; do
  command -v "$tool" >/dev/null || {
    echo "bench-gateway.sh: '$tool' not found; scripts/install-deps.sh --test installs it" >&2
    exit 1
  }
done
peers="$build/bench/gateway-peers"
bash tests/expr/npm-install.sh bench/gateway "$peers" @portkey-ai/gateway >/dev/null

# shellcheck source=scripts/lib/bench.sh
. scripts/lib/bench.sh
bench_begin
children=()
stop_children() {
  for p in "${children[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${children[@]}"; do wait "$p" 2>/dev/null || true; done
  children=()
}
trap 'stop_children; daemon_kill; rm -rf "$tmp"' EXIT

# free_port: a loopback port nobody listens on now (portkey takes its port as a flag).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_http URL LOG: until URL answers (any status), or fails showing LOG.
wait_http() {
  for _ in $(seq $((start_timeout_s * 10))); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench-gateway.sh: $1 did not answer within ${start_timeout_s}s" >&2
  cat "$2" >&2
  return 1
}

# ---- the upstream ----
node tests/fixtures/llm_upstream.mjs --port 0 --addr-file "$tmp/upstream.addr" \
  >"$tmp/upstream.log" 2>&1 &
children+=($!)
for _ in $(seq $((start_timeout_s * 10))); do
  [ -s "$tmp/upstream.addr" ] && break
  sleep 0.1
done
upstream="http://$(cat "$tmp/upstream.addr")"
echo "== upstream (fixture): $upstream"

proxy_args=()

# ---- Portkey: provider openai with its custom host pointed at the fixture ----
start_portkey() {
  local port
  port="$(free_port)"
  NODE_ENV=production node "$peers/node_modules/@portkey-ai/gateway/build/start-server.js" \
    --port="$port" --headless >"$tmp/portkey.log" 2>&1 &
  children+=($!)
  wait_http "http://127.0.0.1:$port/" "$tmp/portkey.log"
  local version
  version="$(node -p 'require(require("path").resolve(process.argv[1])).version' \
    "$peers/node_modules/@portkey-ai/gateway/package.json")"
  echo "== portkey $version: http://127.0.0.1:$port"
  proxy_args+=(--proxy "portkey=http://127.0.0.1:$port"
    --header "portkey=x-portkey-provider: openai"
    --header "portkey=x-portkey-custom-host: $upstream/v1")
}

# ---- Warden: its gateway listener in front of the same upstream ----
# A model deployment for the fixture, an agent with a TOKEN_LIMIT (so every call reserves its
# estimate and settles to its usage, the gateway's full path) and the agent's gateway key.
warden_gateway_setup() {
  local api="$1" gateway="$2"
  local master=(-H "X-Master-Password: $WARDEN_MASTER_PASSWORD" -H "content-type: application/json")
  curl -sf "${master[@]}" -X POST "$api/v1/models" -d "{\"name\":\"gpt-4o-mini\",\
\"provider\":\"openai\",\"base_url\":\"$upstream/v1\",\"upstream_model\":\"gpt-4o-mini\",\
\"input_price_micros_per_1k\":\"150\",\"output_price_micros_per_1k\":\"600\",\"currency\":\"USD\",\
\"key_ref\":\"env:BENCH_UPSTREAM_KEY\"}" >"$tmp/model.json"
  local agent key
  agent="$(curl -sf "${master[@]}" -X POST "$api/v1/agents" -d '{"name":"bench-gateway"}' |
    node -pe 'JSON.parse(require("fs").readFileSync(0)).id')"
  curl -sf "${master[@]}" -X POST "$api/v1/policies" -d "{\"agent_id\":\"$agent\",\
\"type\":\"TOKEN_LIMIT\",\"rules\":{\"max_tokens\":1000000000000,\"window\":\"1h\"}}" >/dev/null
  key="$(curl -sf "${master[@]}" -X POST "$api/v1/agents/$agent/api-keys" -d '{}' |
    node -pe 'JSON.parse(require("fs").readFileSync(0)).key')"
  proxy_args+=(--proxy "warden=$gateway" --header "warden=authorization: Bearer $key")
}

start_warden() {
  if [ ! -x "$warden" ]; then
    echo "== warden: skipped ($warden not built: bash scripts/build.sh warden)"
    return 0
  fi
  local port
  port="$(free_port)"
  BENCH_UPSTREAM_KEY="sk-bench-upstream" daemon_start "$warden" "$tmp/warden-data" \
    "$tmp/warden.log" --log-level warn --gateway-listen "127.0.0.1:$port" ${WARDEN_FLAGS:-}
  echo "== warden: api http://$addr, gateway http://127.0.0.1:$port"
  warden_gateway_setup "http://$addr" "http://127.0.0.1:$port"
}

start_portkey
start_warden

echo "== $requests requests per target and scenario in $rounds rounds (after $warmup warm-up), concurrency $concurrency, stream $stream"
json_args=()
[ -n "${JSON:-}" ] && json_args=(--json "$JSON")
node bench/gateway/latency.mjs --direct "$upstream" "${proxy_args[@]}" \
  --concurrency "$concurrency" --stream "$stream" --requests "$requests" --warmup "$warmup" \
  --rounds "$rounds" \
  "${json_args[@]}"

if [ -n "${pid:-}" ]; then daemon_stop; fi
stop_children
echo "== load after: $(uptime | sed 's/.*load average/load average/')"
