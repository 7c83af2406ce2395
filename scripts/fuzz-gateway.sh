#!/usr/bin/env bash
# Builds the provider adapters' libFuzzer target (fuzz/gateway_fuzz.cc) with clang (ASan + UBSan)
# outside the normal CMake build and runs it for a bounded time on fuzz/corpus/gateway. Crashes
# land in build-fuzz-gateway/artifacts/.
# Usage: scripts/fuzz-gateway.sh [seconds=60] [jobs=1]. FUZZ_MERGE=1 minimises the corpus after.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${2:-1}"
out=build-fuzz-gateway
mkdir -p "$out/obj" "$out/artifacts" "$out/new-corpus" fuzz/corpus/gateway
cxx="${CXX_FUZZ:-clang++-14}"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc)
sources=(src/gateway/json_read.cc src/gateway/request.cc src/gateway/response.cc
         src/gateway/sse.cc src/gateway/stream.cc src/core/json.cc src/core/status.cc
         src/core/errors.cc src/core/sha256.cc src/core/clock.cc fuzz/gateway_fuzz.cc)
objs=()
for s in "${sources[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ src/gateway/adapters.h -nt "$o" ]; then
    "$cxx" "${flags[@]}" -c "$s" -o "$o" &
  fi
  objs+=("$o")
  # Two compilers at a time: the machine is shared.
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
done
wait
"$cxx" "${flags[@]}" "${objs[@]}" -o "$out/gateway_fuzz" \
  -lboost_json -lcrypto -lpthread

parallel=()
# With -jobs libFuzzer writes fuzz-N.log into the working directory: keep those in $out.
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
(cd "$out" && ./gateway_fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 "${parallel[@]}" -artifact_prefix=artifacts/ -print_final_stats=1 \
  new-corpus ../fuzz/corpus/gateway)

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  mkdir -p "$out/merged"
  rm -f "$out/merged"/*
  "$out/gateway_fuzz" -merge=1 -max_len=4096 "$out/merged" fuzz/corpus/gateway "$out/new-corpus"
  rm -f fuzz/corpus/gateway/*
  cp "$out/merged"/* fuzz/corpus/gateway/
  echo "corpus: $(ls fuzz/corpus/gateway | wc -l) files, $(cat fuzz/corpus/gateway/* | wc -c) bytes"
fi
