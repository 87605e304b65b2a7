#!/usr/bin/env bash
# Starts the couic daemon on this machine (as root): installs and builds what is
# missing, then runs the daemon in the foreground. Without arguments it uses the
# embedded default config (working dir /var/lib/couic, socket /run/couic/couic.sock,
# no interface attached); any argument is passed to the daemon (e.g. -c couic.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/daemon/main.js "$@"
