#!/usr/bin/env bash
# Starts the couic daemon on this machine (as root): installs and builds what is
# missing, then runs the daemon in the foreground. Without arguments it uses the
# embedded default config (working dir /var/lib/couic, socket /run/couic/couic.sock,
# no interface attached); any argument is passed to the daemon (e.g. -c couic.toml).
# It runs through couic-launcher: the daemon drops to couic.toml's user/group
# after startup and only couic-helper keeps CAP_BPF/CAP_NET_ADMIN/CAP_PERFMON
# (docs/deploy.md); the embedded default's user is the one running this
# script, so as root the daemon stays root until a config names another user.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec src/helper/.output/couic-launcher -- node dist/src/daemon/main.js "$@"
