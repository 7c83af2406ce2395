#!/usr/bin/env bash
# Configures (CMake + Ninja, Release, ccache) and builds into build/. Extra arguments go to
# ninja (for example a target name).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir="${WARDEN_BUILD_DIR:-build}"
# Relative paths in ccache's keys let every checkout of the repo share one cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
if [[ ! -f "$build_dir/build.ninja" ]]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWARDEN_BUILD_TESTS=ON
else
  cmake -S . -B "$build_dir" -DWARDEN_BUILD_TESTS=ON > /dev/null
fi
ninja -C "$build_dir" -j"${WARDEN_JOBS:-2}" "$@"
