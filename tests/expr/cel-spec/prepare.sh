#!/usr/bin/env bash
# Test setup for tests/expr (CTest fixture expr_cel_data): installs the pinned @bufbuild/cel-spec
# from the committed lock file and converts its cases for conformance_test.cc.
#
#   prepare.sh <work dir>    installs into <work dir>/node_modules, writes <work dir>/cases
#
# Only this step uses the network (the npm registry), and only when <work dir> does not hold
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
  [[ ! -f "$work/node_modules/@bufbuild/cel-spec/package.json" ]]; then
  rm -f "$work/installed.lock"
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  # The converter reads the package's data modules only, so its peer dependency
  # (@bufbuild/protobuf) is not installed.
  (cd "$work" && npm ci --omit=peer --ignore-scripts --no-audit --no-fund --prefer-offline)
  cp "$here/package-lock.json" "$work/installed.lock"
fi

node "$here/convert.mjs" --package "$work/node_modules/@bufbuild/cel-spec" --out "$work/cases"
