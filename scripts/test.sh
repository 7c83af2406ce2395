#!/usr/bin/env bash
# Set up and test: installs missing Debian packages, builds everything and runs every test
# through CTest (unit, conformance, policy files and integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test
bash scripts/build.sh
cd build
ctest --output-on-failure -j2 --timeout 900
