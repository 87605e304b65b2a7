#!/usr/bin/env bash
# Installs what couic needs on a fresh Debian 12 machine (as root), then builds it.
# Idempotent: packages already present are not reinstalled; the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make gcc pkg-config nats-server
      iproute2 iputils-ping ethtool socat curl fail2ban iptables ipset nftables
      util-linux bpftool podman runc debootstrap systemd
      libclang-rt-14-dev  # libFuzzer + sanitizer runtimes: test/helper/fuzz.test.ts
      dpkg-dev podman-compose prometheus nginx openssl
      faketime)  # libfaketime: test/daemon/logging.test.ts drives the log rotation clock
# (prometheus and nginx are for test/monitoring, which runs its own instances on
# ephemeral loopback ports; on a host booted with systemd, disable their services.)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs is needed for pinning; mount it if the host did not.
if ! mount | grep -q 'type bpf'; then
  mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf || echo "setup: warning: could not mount bpffs"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# The helper's Makefile is incremental; the TypeScript build is skipped when
# nothing it compiles changed since the last one.
make -s -C src/helper
make -s -C bench/traffic   # the traffic bench's frame generator
stamp=dist/.build-stamp
if [ ! -f "$stamp" ] || [ -n "$(find src test bench tsconfig.json package.json -newer "$stamp" -print -quit)" ]; then
  npm run --silent build:ts
  touch "$stamp"
fi
