#!/usr/bin/env bash
# Test setup for tests/expr's differential test (CTest fixture expr_cel_diff_data): installs the
# pinned @bufbuild/cel from the committed lock file and has generate.mjs write the cases.
#
#   prepare.sh <work dir>    installs into <work dir>/node_modules, writes <work dir>/cases.tsv
#
# WARDEN_CEL_DIFF_SEED (default 1) and WARDEN_CEL_DIFF_COUNT (default 3000) choose the cases.
# Only the install uses the network (the npm registry), and only when <work dir> does not hold
# an install of the current lock file yet; the build itself never does.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <work dir>" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
work="$1"

for tool in node npm; do
  if ! command -v "$tool" > /dev/null; then
    echo "prepare.sh: '$tool' not found; scripts/install-deps.sh --test installs nodejs and npm" >&2
    exit 1
  fi
done

mkdir -p "$work"
# installed.lock is a copy of the lock file that the last successful `npm ci` installed.
if ! cmp -s "$here/package-lock.json" "$work/installed.lock" ||
  [[ ! -f "$work/node_modules/@bufbuild/cel/package.json" ]]; then
  rm -f "$work/installed.lock"
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline)
  cp "$here/package-lock.json" "$work/installed.lock"
fi

node "$here/generate.mjs" --cel "$work/node_modules/@bufbuild/cel" \
  --seed "${WARDEN_CEL_DIFF_SEED:-1}" --count "${WARDEN_CEL_DIFF_COUNT:-3000}" \
  --out "$work/cases.tsv"
