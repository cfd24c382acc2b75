#!/usr/bin/env bash
# Installs the Debian 12 packages Slotwise needs to build, test and run (compiler, CMake/Ninja,
# libraries including prometheus-cpp for /metrics, gtest/gmock/benchmark, redis-server/redis-tools
# for the integration tests and the quickstart cluster, redis-sentinel and nutcracker (twemproxy,
# the reference for static sharding) for the Sentinel and static-sharding tests, python3-redis for scripts, clang-format/
# clang-tidy 14 for the CI checks). Shared by deploy/quickstart.sh and tests/run.sh.
#
# Usage: deploy/install-deps.sh
# When every package is already installed (checked with dpkg-query) apt is not touched at all.
# Otherwise runs `apt-get update` once and `apt-get install -y` of the whole list, which needs
# root (sudo is used when available and we are not root).
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libuv1-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcivetweb-dev libssl-dev
  prometheus-cpp-dev nlohmann-json3-dev
  redis-server redis-tools redis-sentinel nutcracker python3-redis
  clang libclang-rt-14-dev clang-format clang-tidy prometheus chromium haproxy
)

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
    if [[ "${status}" != "installed" ]]; then
      printf '%s\n' "${pkg}"
    fi
  done
}

main() {
  local missing
  missing="$(missing_packages)"
  if [[ -z "${missing}" ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages are already installed"
    return 0
  fi
  echo "install-deps: missing packages: $(tr '\n' ' ' <<<"${missing}")"
  local -a as_root=()
  if [[ "${EUID}" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-deps: not root and sudo is not available; install them as root" >&2
      return 1
    fi
    as_root=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update
  "${as_root[@]}" apt-get install -y "${PACKAGES[@]}"
}

main "$@"
