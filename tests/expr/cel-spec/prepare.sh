#!/usr/bin/env bash
# Test setup for tests/expr (CTest fixture expr_cel_data): installs the pinned @bufbuild/cel-spec
# from the committed lock file and converts its cases for conformance_test.cc.
#
#   prepare.sh <work dir>    installs into <work dir>/node_modules, writes <work dir>/cases
#
# Only the install (npm-install.sh) uses the network, and only when the lock file changed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 <work dir>" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
work="$1"

# The converter reads the package's data modules only, so its peer dependency
# (@bufbuild/protobuf) is not installed.
bash "$here/../npm-install.sh" "$here" "$work" @bufbuild/cel-spec --omit=peer

node "$here/convert.mjs" --package "$work/node_modules/@bufbuild/cel-spec" --out "$work/cases"
