#!/usr/bin/env bash
# Installs a pinned npm project of tests/expr (its package.json and committed lock file) into a
# work dir under the build tree, for the test setups (cel-spec/prepare.sh, diff/prepare.sh).
#
#   npm-install.sh <project dir> <work dir> <package to check> [npm ci flags...]
#
# Only this step uses the network (the npm registry), and only when <work dir> does not hold an
# install of the current lock file yet; the build itself never does.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 <project dir> <work dir> <package> [npm ci flags...]" >&2
  exit 2
fi
project="$1"
work="$2"
package="$3"
shift 3

for tool in node npm; do
  if ! command -v "$tool" > /dev/null; then
    echo "npm-install.sh: '$tool' not found; scripts/install-deps.sh --test installs nodejs and npm" >&2
    exit 1
  fi
done

mkdir -p "$work"
# installed.lock is a copy of the lock file that the last successful `npm ci` installed.
if ! cmp -s "$project/package-lock.json" "$work/installed.lock" ||
  [[ ! -f "$work/node_modules/$package/package.json" ]]; then
  rm -f "$work/installed.lock"
  cp "$project/package.json" "$project/package-lock.json" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline "$@")
  cp "$project/package-lock.json" "$work/installed.lock"
fi
