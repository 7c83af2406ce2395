#!/usr/bin/env bash
# Installs the Debian (bookworm) packages Warden builds and tests with; skips apt when all are
# already present.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libssl-dev libsqlite3-dev sqlite3 libpq-dev
  libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev libhowardhinnant-date-dev tzdata
  libargon2-dev libre2-dev libhiredis-dev libjemalloc-dev libyaml-cpp-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
if [[ "${1:-}" == "--test" ]]; then
  # openssl: the gateway tests make a certificate for an HTTPS upstream.
  # postgresql: the tests of the PostgreSQL schema start a server of their own (scripts/pg.sh).
  packages+=(clang libclang-rt-14-dev curl openssl ca-certificates postgresql)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The CEL conformance data comes from npm (tests/expr/cel-spec/prepare.sh). Any node with its npm
# will do, also one installed outside apt (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package), so these are checked by command rather than by package.
if [[ "${1:-}" == "--test" ]]; then
  command -v node > /dev/null || missing+=(nodejs)
  command -v npm > /dev/null || missing+=(npm)
fi
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ "$(id -u)" -ne 0 ]]; then sudo="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
