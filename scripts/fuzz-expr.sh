#!/usr/bin/env bash
# Builds the CEL libFuzzer target with clang (ASan + UBSan) outside the normal CMake build and
# runs it for a bounded time on fuzz/corpus/expr. Crashes land in build-fuzz-expr/artifacts/.
# Usage: scripts/fuzz-expr.sh [seconds=60] [jobs=1]. FUZZ_MERGE=1 minimises the corpus after.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
jobs="${2:-1}"
out=build-fuzz-expr
mkdir -p "$out/obj" "$out/artifacts" "$out/new-corpus" fuzz/corpus/expr
cxx="${CXX_FUZZ:-clang++-14}"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc)
sources=(src/expr/checker.cc src/expr/format.cc src/expr/functions.cc src/expr/json_value.cc
         src/expr/net.cc src/expr/parser.cc src/expr/program.cc src/expr/types.cc
         src/expr/value.cc src/core/status.cc src/core/errors.cc fuzz/expr_fuzz.cc)
objs=()
for s in "${sources[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ src/expr/expr.h -nt "$o" ]; then
    "$cxx" "${flags[@]}" -c "$s" -o "$o" &
  fi
  objs+=("$o")
  # Two compilers at a time: the machine is shared.
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
done
wait
"$cxx" "${flags[@]}" "${objs[@]}" -o "$out/expr_fuzz" \
  -lboost_json -lre2 -ldate-tz -lpthread

parallel=()
# With -jobs libFuzzer writes fuzz-N.log into the working directory: keep those in $out.
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
(cd "$out" && ./expr_fuzz -max_total_time="$seconds" -max_len=512 -timeout=10 \
  -rss_limit_mb=2048 "${parallel[@]}" -artifact_prefix=artifacts/ -print_final_stats=1 \
  new-corpus ../fuzz/corpus/expr)

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  mkdir -p "$out/merged"
  rm -f "$out/merged"/*
  "$out/expr_fuzz" -merge=1 -max_len=512 "$out/merged" fuzz/corpus/expr "$out/new-corpus"
  rm -f fuzz/corpus/expr/*
  cp "$out/merged"/* fuzz/corpus/expr/
  echo "corpus: $(ls fuzz/corpus/expr | wc -l) files, $(cat fuzz/corpus/expr/* | wc -c) bytes"
fi
