#!/usr/bin/env bash
# The whole test suite: setup (packages + build), then every test with node's runner.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist            # no stale compiled test survives a renamed source
bash scripts/setup.sh
# The crash soak's kill -9 cycles (test/reliability/crash-soak.test.ts): CI's short, bounded run.
export COUIC_SOAK_CYCLES="${COUIC_SOAK_CYCLES:-20}"
# Files run one at a time: several tests own network namespaces, bpffs pins and the CPU.
exec node --test --test-concurrency=1 --test-reporter=spec $(find dist/test -name '*.test.js' | sort)
