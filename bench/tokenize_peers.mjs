// The tokenizer benchmark's corpus and its peers (scripts/bench-tokenize.sh).
//
//   node tokenize_peers.mjs corpus OUT [MB]         writes the fixed mixed corpus (seeded)
//   node tokenize_peers.mjs run NODE_MODULES CORPUS [REPS]
//        encodes CORPUS with tiktoken (WASM) and js-tiktoken, both encodings, and prints one
//        JSON line per (peer, encoding) like bench/tokenize_bench.cc does.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [mode, ...rest] = process.argv.slice(2);

function corpus(out, mb) {
  let state = 20240601;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const words = ("the of and to in is that it was for on are as with his they at be this from have or by " +
    "one had not but what all were when we there can an your which their said if do will each about how up " +
    "out them then she many some so these would other into has more her two like him see time could no make " +
    "than first been its who now people my made over did down only way find use may water long little very " +
    "after words called just where most know policy budget token agent request model stream reserve settle " +
    "Warden OpenAI JSON HTTP don't it's we're they've I'm you'll he'd").split(" ");
  const code = ["function f(x) {\n  return x * 2;\n}\n", "for (let i = 0; i < n; i++) {\n", "    if err != nil {\n        return err\n    }\n",
    "import json\nimport sys\n", "def main():\n    print(\"hello\")\n", "#include <vector>\n", "SELECT id, name FROM users WHERE id = 42;\n",
    "const result = await fetch(url, { method: \"POST\" });\n", "}\n\n", "\t\tx += y;\n"];
  const other = ["今日は良い天気ですね。", "我们今天去公园散步。", "안녕하세요, 반갑습니다. ", "Привет, как дела? ", "¿Dónde está la biblioteca? ",
    "Ünïcödé façade naïve ", "😀👍🏽 ", "👨‍👩‍👧‍👦 ", "नमस्ते दुनिया ", "مرحبا بالعالم "];
  const parts = [];
  let size = 0;
  const target = mb * 1e6;
  while (size < target) {
    const r = rand();
    let s;
    if (r < 0.7) {
      s = "";
      const n = 5 + Math.floor(rand() * 30);
      for (let k = 0; k < n; k++) s += (k === 0 ? "" : " ") + (rand() < 0.1 ? pick(words).toUpperCase() : pick(words));
      s += pick([". ", ".\n", ", ", "! ", "?\n\n", " (" + Math.floor(rand() * 100000) + "). "]);
    } else if (r < 0.9) {
      s = pick(code);
    } else {
      s = pick(other);
    }
    parts.push(s);
    size += Buffer.byteLength(s);
  }
  writeFileSync(out, parts.join(""));
}

function fnv1a(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids) {
    h ^= BigInt(id);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

function run(modules, corpusFile, reps) {
  const require = createRequire(import.meta.url);
  const text = readFileSync(corpusFile, "utf8");
  const bytes = Buffer.byteLength(text);
  const tiktoken = require(join(resolve(modules), "tiktoken/tiktoken.cjs"));
  const js = require(join(resolve(modules), "js-tiktoken/dist/index.cjs"));
  for (const name of ["cl100k_base", "o200k_base"]) {
    const peers = [["tiktoken-wasm", tiktoken.get_encoding(name)], ["js-tiktoken", js.getEncoding(name)]];
    for (const [impl, enc] of peers) {
      const encode = (s) => (impl === "tiktoken-wasm" ? enc.encode_ordinary(s) : enc.encode(s, [], []));
      let ids = encode(text);
      let best = Infinity;
      for (let r = 0; r < reps; r++) {
        const start = process.hrtime.bigint();
        ids = encode(text);
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
      }
      console.log(JSON.stringify({ impl, encoding: name, bytes, tokens: ids.length, seconds: best,
        mb_per_s: bytes / best / 1e6, tokens_per_s: ids.length / best, ids_fnv1a: fnv1a(ids) }));
      if (impl === "tiktoken-wasm") enc.free();
    }
  }
}

if (mode === "corpus") corpus(rest[0], Number(rest[1] ?? 4));
else if (mode === "run") run(rest[0], rest[1], Number(rest[2] ?? 3));
else {
  console.error("usage: tokenize_peers.mjs corpus OUT [MB] | run NODE_MODULES CORPUS [REPS]");
  process.exit(2);
}
