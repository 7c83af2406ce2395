#!/usr/bin/env bash
# Test setup for tests/expr's differential test (CTest fixture expr_cel_diff_data): installs the
# pinned @bufbuild/cel from the committed lock file and has generate.mjs write the cases.
#
#   prepare.sh <work dir>    installs into <work dir>/node_modules, writes <work dir>/cases.tsv
#
# WARDEN_CEL_DIFF_SEED (default 1) and WARDEN_CEL_DIFF_COUNT (default 3000) choose the cases.
# Only the install (npm-install.sh) uses the network, and only when the lock file changed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <work dir>" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
work="$1"

bash "$here/../npm-install.sh" "$here" "$work" @bufbuild/cel

node "$here/generate.mjs" --cel "$work/node_modules/@bufbuild/cel" \
  --seed "${WARDEN_CEL_DIFF_SEED:-1}" --count "${WARDEN_CEL_DIFF_COUNT:-3000}" \
  --out "$work/cases.tsv"
