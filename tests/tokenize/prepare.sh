#!/usr/bin/env bash
# Test setup for the tokenizer's reference test (CTest fixture tokenize_reference_data):
# installs the pinned tiktoken and js-tiktoken from the committed lock file (tests/expr's
# npm-install.sh) and has generate.mjs write the corpus with the reference's ids.
#
#   prepare.sh <work dir>    installs into <work dir>/node_modules, writes <work dir>/cases.tsv
#
# WARDEN_TOKENIZE_SEED (default 1) and WARDEN_TOKENIZE_COUNT (default 1500 per encoding) choose
# the cases. Only the install uses the network, and only when the lock file changed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <work dir>" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
work="$1"

bash "$here/../expr/npm-install.sh" "$here" "$work" tiktoken

node "$here/generate.mjs" --tiktoken "$work/node_modules/tiktoken" \
  --seed "${WARDEN_TOKENIZE_SEED:-1}" --count "${WARDEN_TOKENIZE_COUNT:-1500}" \
  --out "$work/cases.tsv"
