#!/usr/bin/env bash
# Builds the tokenizer's libFuzzer target with clang (ASan + UBSan) outside the normal CMake
# build and runs it for a bounded time. Crashes land in build-fuzz-tokenize/artifacts/.
# Usage: scripts/fuzz-tokenize.sh [seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out=build-fuzz-tokenize
mkdir -p "$out/obj" "$out/artifacts" "$out/corpus"
cxx="${CXX_FUZZ:-clang++-14}"
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc
       "-DWARDEN_TOKENIZE_DATA_DIR=\"$PWD/src/tokenize/data\"" "-DWARDEN_TOKENIZE_DATA_HASHES=\"\"")
sources=(src/tokenize/tokenize.cc src/tokenize/models.cc src/tokenize/pretokenize.cc
         src/tokenize/unicode.cc src/tokenize/embed.cc src/core/status.cc src/core/errors.cc
         fuzz/tokenize_fuzz.cc)
objs=()
for s in "${sources[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  "$cxx" "${flags[@]}" -c "$s" -o "$o" &
  objs+=("$o")
  # Two compilers at a time: the machine is shared.
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n; done
done
wait
"$cxx" "${flags[@]}" "${objs[@]}" -o "$out/tokenize_fuzz" -lboost_json
# Seeds: a few texts of each kind the reference corpus covers.
printf "Hello, World! I'm here.\n\n  " >"$out/corpus/prose"
printf 'int main() {\n\treturn 0;\n}\n' >"$out/corpus/code"
printf '\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 e\xcc\x81 <|endoftext|>' >"$out/corpus/mixed"
printf 'ab\xff\xc3 \xe2\x82 x' >"$out/corpus/invalid"
(cd "$out" && ./tokenize_fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix=artifacts/ -print_final_stats=1 corpus)
