#!/usr/bin/env bash
# Set up and run: installs missing Debian packages, builds, creates ./data with `warden init`
# on first run, then serves on 127.0.0.1:8787 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh warden

data_dir="${WARDEN_DATA_DIR:-$PWD/data}"
if [[ ! -f "$data_dir/warden.db" ]]; then
  ./build/src/cli/warden init --data-dir "$data_dir"
  if [[ -z "${WARDEN_MASTER_PASSWORD:-}" ]]; then
    echo "The master password (X-Master-Password header) is in $data_dir/master-password"
  fi
fi
exec ./build/src/cli/warden serve --data-dir "$data_dir" --listen "${WARDEN_LISTEN:-127.0.0.1:8787}" "$@"
