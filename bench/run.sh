#!/usr/bin/env bash
# One-command benchmark: Slotwise vs its reference in the same run.
#   bench/run.sh [--mode cluster|static|sentinel] [--tls] [--workers N] [--rounds N] [--quick] [--out FILE]
# Builds Release if needed, starts its own backends (3-master cluster; 3 servers + twemproxy;
# master + replica + sentinel) and the proxy on free loopback ports, runs redis-benchmark against
# each, prints a table and writes it to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x build/slotwise ]] || [[ -n "$(find proxy router resp config -newer build/slotwise -name '*.cc' -o -newer build/slotwise -name '*.h' | head -1)" ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target slotwise -j2
fi
exec /usr/bin/python3 bench/bench.py --binary build/slotwise "$@"
