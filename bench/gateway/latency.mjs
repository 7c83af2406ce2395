// Proxy latency benchmark client (scripts/bench-gateway.sh): per-request latency of OpenAI chat
// completions sent straight to the fake provider (tests/fixtures/llm_upstream.mjs) and through
// each proxy, at each concurrency, streamed and not; prints p50/p99 per target and what each
// proxy adds over the direct call. Node >= 18, node:http only, kept-alive connections.
//
//   node latency.mjs --direct http://127.0.0.1:PORT
//        [--proxy NAME=URL]... [--header NAME='Header: value']...
//        [--concurrency 1,64] [--stream both|on|off] [--requests N] [--warmup N] [--rounds R]
//        [--json FILE]
//
// A proxy's URL is its base: requests go to URL/v1/chat/completions with its --header lines
// (for instance the gateway key, or x-portkey-provider and x-portkey-custom-host). Latency is
// from writing the request to the last body byte; a streamed answer's first byte is reported
// too. The requests of a target and scenario are spread over R interleaved rounds (default 3)
// and pooled. Every answer must be a 200 with the fixture's text, or the run fails.
import http from "node:http";
import { writeFileSync } from "node:fs";

const kDefaults = { concurrency: [1, 64], stream: "both", requests: 2000, warmup: 200, rounds: 3 };
const kPath = "/v1/chat/completions";
const kModel = "gpt-4o-mini";
const kMessages = [{ role: "user", content: "Say hello." }];
const kRequestTimeoutMs = 30_000;

function usage(message) {
  process.stderr.write(`latency.mjs: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = { direct: "", proxies: [], headers: {}, json: "", ...kDefaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[++i];
    if (value === undefined) usage(`${arg} needs a value`);
    if (arg === "--direct") out.direct = value;
    else if (arg === "--proxy") {
      const eq = value.indexOf("=");
      if (eq <= 0) usage("--proxy takes NAME=URL");
      out.proxies.push({ name: value.slice(0, eq), url: value.slice(eq + 1) });
    } else if (arg === "--header") {
      const m = /^([^=]+)=([^:]+):\s*(.*)$/.exec(value);
      if (!m) usage("--header takes NAME='Header: value'");
      (out.headers[m[1]] ??= {})[m[2].trim().toLowerCase()] = m[3];
    } else if (arg === "--concurrency") out.concurrency = value.split(",").map(Number);
    else if (arg === "--stream") out.stream = value;
    else if (arg === "--requests") out.requests = Number(value);
    else if (arg === "--warmup") out.warmup = Number(value);
    else if (arg === "--rounds") out.rounds = Number(value);
    else if (arg === "--json") out.json = value;
    else usage(`unknown argument ${arg}`);
  }
  if (!out.direct) usage("--direct URL is required");
  if (!["both", "on", "off"].includes(out.stream)) usage("--stream is both, on or off");
  if (!Number.isInteger(out.rounds) || out.rounds < 1) usage("bad --rounds");
  if (out.concurrency.some((c) => !Number.isInteger(c) || c < 1)) usage("bad --concurrency");
  return out;
}

function requestBody(stream) {
  const body = { model: kModel, messages: kMessages, max_tokens: 16 };
  if (stream) Object.assign(body, { stream: true, stream_options: { include_usage: true } });
  return JSON.stringify(body);
}

const nowNs = () => process.hrtime.bigint();

// One request; resolves with its timings once the body ended.
function once(agent, url, headers, body) {
  return new Promise((resolve, reject) => {
    const t0 = nowNs();
    let firstByteNs = 0n;
    const req = http.request(url, { method: "POST", agent, headers, timeout: kRequestTimeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => {
        if (firstByteNs === 0n) firstByteNs = nowNs() - t0;
        chunks.push(c);
      });
      res.on("end", () =>
        resolve({ status: res.statusCode, totalNs: nowNs() - t0, firstByteNs, text: Buffer.concat(chunks).toString() }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${kRequestTimeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

// The fixture's default answer is five words "hello"; a streamed one ends with [DONE].
function check(result, stream) {
  if (result.status !== 200) return `HTTP ${result.status}: ${result.text.slice(0, 300)}`;
  if (!result.text.includes("hello")) return `no answer text: ${result.text.slice(0, 300)}`;
  if (stream && !result.text.includes("[DONE]")) return `stream without [DONE]: ${result.text.slice(-300)}`;
  return "";
}

async function run(target, concurrency, stream, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(target.url.replace(/\/+$/, "") + kPath);
  const body = requestBody(stream);
  const headers = {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    authorization: "Bearer sk-bench",
    ...target.headers,
  };
  const totals = [];
  const firsts = [];
  let next = 0;
  let failure = "";
  const t0 = nowNs();
  const worker = async () => {
    while (next < count && !failure) {
      next++;
      try {
        const r = await once(agent, url, headers, body);
        const bad = check(r, stream);
        if (bad) failure = bad;
        totals.push(Number(r.totalNs) / 1e3);
        firsts.push(Number(r.firstByteNs) / 1e3);
      } catch (err) {
        failure = String(err.message || err);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = Number(nowNs() - t0) / 1e9;
  agent.destroy();
  if (failure) throw new Error(`${target.name} (concurrency ${concurrency}, stream ${stream}): ${failure}`);
  return { totals, firsts, rps: totals.length / elapsedS };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean, n: samples.length };
}

const fmtUs = (us) => (Number.isFinite(us) ? us.toFixed(0).padStart(9) : "        -");

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const targets = [{ name: "direct", url: args.direct, headers: args.headers.direct ?? {} }].concat(
    args.proxies.map((p) => ({ name: p.name, url: p.url, headers: args.headers[p.name] ?? {} })),
  );
  const streams = args.stream === "both" ? [false, true] : [args.stream === "on"];
  // Rounds interleave the targets so that a neighbour's burst on a shared machine falls on all
  // of them alike; each target's samples of all rounds are pooled.
  const pooled = new Map();
  const perRound = Math.max(1, Math.ceil(args.requests / args.rounds));
  for (let round = 0; round < args.rounds; round++) {
    for (const concurrency of args.concurrency) {
      for (const stream of streams) {
        for (const target of targets) {
          // Warm-up opens the kept-alive connections and lets the JITs settle; not measured.
          const warmup = round === 0 ? Math.max(args.warmup, concurrency) : concurrency;
          await run(target, concurrency, stream, warmup);
          const r = await run(target, concurrency, stream, perRound);
          const key = `${target.name}/${concurrency}/${stream}`;
          const acc = pooled.get(key) ?? { target: target.name, concurrency, stream, totals: [], firsts: [], seconds: 0 };
          acc.totals.push(...r.totals);
          acc.firsts.push(...r.firsts);
          acc.seconds += r.totals.length / r.rps;
          pooled.set(key, acc);
        }
      }
    }
  }
  const rows = [...pooled.values()].map((a) => ({
    target: a.target,
    concurrency: a.concurrency,
    stream: a.stream,
    total_us: summarize(a.totals),
    first_byte_us: summarize(a.firsts),
    requests_per_s: a.totals.length / a.seconds,
  }));

  console.log("latency per request in µs (last byte; first byte for streams)");
  console.log(
    `${"target".padEnd(10)} ${"conc".padStart(4)} ${"stream".padEnd(6)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"mean".padStart(9)} ${"ttfb p50".padStart(9)} ${"req/s".padStart(9)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.target.padEnd(10)} ${String(r.concurrency).padStart(4)} ${(r.stream ? "yes" : "no").padEnd(6)} ${fmtUs(r.total_us.p50)} ${fmtUs(r.total_us.p99)} ${fmtUs(r.total_us.mean)} ${r.stream ? fmtUs(r.first_byte_us.p50) : "        -"} ${r.requests_per_s.toFixed(0).padStart(9)}`,
    );
  }
  const added = [];
  for (const r of rows) {
    if (r.target === "direct") continue;
    const base = rows.find((d) => d.target === "direct" && d.concurrency === r.concurrency && d.stream === r.stream);
    added.push({
      proxy: r.target,
      concurrency: r.concurrency,
      stream: r.stream,
      added_p50_us: r.total_us.p50 - base.total_us.p50,
      added_p99_us: r.total_us.p99 - base.total_us.p99,
    });
  }
  if (added.length > 0) {
    console.log("\nadded latency over direct in µs (proxy percentile − direct percentile)");
    console.log(`${"proxy".padEnd(10)} ${"conc".padStart(4)} ${"stream".padEnd(6)} ${"p50".padStart(9)} ${"p99".padStart(9)}`);
    for (const a of added) {
      console.log(
        `${a.proxy.padEnd(10)} ${String(a.concurrency).padStart(4)} ${(a.stream ? "yes" : "no").padEnd(6)} ${fmtUs(a.added_p50_us)} ${fmtUs(a.added_p99_us)}`,
      );
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ requests: args.requests, rounds: args.rounds, rows, added }, null, 2) + "\n");
}

main().catch((err) => {
  process.stderr.write(`latency.mjs: ${err.message || err}\n`);
  process.exit(1);
});
