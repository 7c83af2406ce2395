#!/usr/bin/env bash
# Tokenizer benchmark: builds bench/tokenize_bench, installs the peers tiktoken (WASM) and
# js-tiktoken pinned in tests/tokenize/package-lock.json (npm registry, once), writes the fixed
# mixed corpus, runs Warden and both peers on it in the same run, checks that every side
# produced the same ids (count and hash), and prints MB/s, tokens/s and Warden's speed-up over
# the faster peer. Each side reports its fastest of REPS rounds.
# Usage: scripts/bench-tokenize.sh [build-dir]   (default: build); CORPUS_MB (4), REPS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
reps="${REPS:-5}"

if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$build" -j2 tokenize_bench >/dev/null
peers="$build/bench/tokenize-peers"
bash tests/expr/npm-install.sh tests/tokenize "$peers" tiktoken >/dev/null

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node bench/tokenize_peers.mjs corpus "$tmp/corpus.txt" "${CORPUS_MB:-4}"
# Warden runs before and after the peers and keeps its faster run, as each side keeps its fastest
# round: on a shared machine a neighbour's burst should not decide the ratio.
"$build/bench/tokenize_bench" "$tmp/corpus.txt" "$reps" >"$tmp/results.jsonl"
node bench/tokenize_peers.mjs run "$peers/node_modules" "$tmp/corpus.txt" "$reps" >>"$tmp/results.jsonl"
"$build/bench/tokenize_bench" "$tmp/corpus.txt" "$reps" >>"$tmp/results.jsonl"

python3 - "$tmp/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = True
print(f"corpus: {rows[0]['bytes']:,} bytes")
print(f"{'encoding':12} {'impl':14} {'MB/s':>8} {'Mtokens/s':>10} {'tokens':>10}  ids")
for enc in ("cl100k_base", "o200k_base"):
    mine = max((r for r in rows if r["impl"] == "warden" and r["encoding"] == enc),
               key=lambda r: r["mb_per_s"])
    ok &= len({(r["tokens"], r["ids_fnv1a"]) for r in rows if r["encoding"] == enc}) == 1
    peers = [r for r in rows if r["impl"] != "warden" and r["encoding"] == enc]
    for r in [mine] + peers:
        same = r["tokens"] == mine["tokens"] and r["ids_fnv1a"] == mine["ids_fnv1a"]
        ok &= same
        print(f"{enc:12} {r['impl']:14} {r['mb_per_s']:8.2f} {r['tokens_per_s']/1e6:10.2f} {r['tokens']:10,}  {'same' if same else 'DIFFERENT'}")
    best = max(peers, key=lambda r: r["mb_per_s"])
    print(f"{enc:12} speed-up over the faster peer ({best['impl']}): {mine['mb_per_s']/best['mb_per_s']:.1f}x")
sys.exit(0 if ok else 1)
PY
