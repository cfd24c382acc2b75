#!/usr/bin/env bash
# Installs the dependencies, builds Slotwise with its tests (Release) and runs every test (unit
# and integration, the latter against real redis-server processes) with ctest.
#
# Usage: tests/run.sh        (from anywhere; works in the repository root)
# Exits non-zero if the install, the build or any test fails. ctest's full output is kept in
# build/ctest.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD_DIR="${ROOT}/build"

main() {
  cd "${ROOT}"
  deploy/install-deps.sh
  cmake -S . -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLOTWISE_BUILD_TESTS=ON
  cmake --build "${BUILD_DIR}" -j2

  local status=0
  ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 --timeout 600 \
    2>&1 | tee "${BUILD_DIR}/ctest.log" || status=$?

  echo
  echo "==== ctest summary ===="
  grep -E 'tests passed|tests failed|Total Test time' "${BUILD_DIR}/ctest.log" || true
  sed -n '/The following tests FAILED/,$p' "${BUILD_DIR}/ctest.log"
  if [[ "${status}" -ne 0 ]]; then
    echo "tests/run.sh: FAILED (ctest exit status ${status})" >&2
  fi
  return "${status}"
}

main "$@"
