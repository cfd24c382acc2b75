#!/usr/bin/env bash
# Builds Slotwise and its tests with ASan+UBSan (build-asan/, RelWithDebInfo) and runs every ctest
# test (unit and integration; the integration tests start the sanitized slotwise binary).
#
# Usage: tests/run_sanitized.sh [extra ctest args, e.g. -L unit]     (from anywhere)
# Any sanitizer report fails the run: reports abort the reporting process (halt_on_error). The
# slotwise processes started by the harness write stderr into temporary directories that are
# deleted afterwards, and the harness does not check their exit status, so they are started
# through a wrapper (SLOTWISE_BINARY) that also copies their stderr to
# build-asan/sanitizer-logs/. (ASAN_OPTIONS=log_path is not usable: with GCC 12's combined
# ASan+UBSan runtime the reports still go to stderr.) The script exits non-zero if the build or a
# test fails, or if any sanitizer report appears in the ctest output or the copied logs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD_DIR="${ROOT}/build-asan"
readonly LOG_DIR="${BUILD_DIR}/sanitizer-logs"
# -O1 -g1 instead of RelWithDebInfo's -O2 -g: the reports keep file:line stacks, and the build
# takes about half the time (config_loader.cc alone: 96 s -> 43 s on the CI machine's 2 cores).
# The microbenchmarks are not built here (tests/run.sh builds them in Release).
readonly SANITIZER_OPT_FLAGS="-O1 -g1 -DNDEBUG"

build() {
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="${SANITIZER_OPT_FLAGS}" \
    -DSLOTWISE_BUILD_TESTS=ON -DSLOTWISE_BUILD_BENCH=OFF -DSLOTWISE_SANITIZE=ON
  cmake --build "${BUILD_DIR}" -j2
}

readonly REPORT_PATTERN='ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer'

# Sanitizer settings inherited by the test binaries and the slotwise processes they start.
export_sanitizer_options() {
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:\
strict_init_order=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
}

# Writes the wrapper the harness starts instead of slotwise: same PID (exec), same arguments, and
# stderr both to the harness's log file and to a per-process file under LOG_DIR.
install_proxy_wrapper() {
  rm -rf "${LOG_DIR}"
  mkdir -p "${LOG_DIR}"
  local wrapper="${BUILD_DIR}/slotwise-logged"
  cat >"${wrapper}" <<WRAPPER
#!/usr/bin/env bash
exec "${BUILD_DIR}/slotwise" "\$@" 2> >(tee "${LOG_DIR}/slotwise.\$\$.log" >&2)
WRAPPER
  chmod +x "${wrapper}"
  export SLOTWISE_BINARY="${wrapper}"
}

# Prints every sanitizer report found in the ctest log and the proxy logs; returns non-zero if
# there is any.
check_reports() {
  local hits
  hits="$(grep -lE "${REPORT_PATTERN}" "${BUILD_DIR}/ctest.log" "${LOG_DIR}"/*.log 2>/dev/null \
    || true)"
  local proxies
  proxies="$(find "${LOG_DIR}" -name 'slotwise.*.log' | wc -l)"
  if [[ -z "${hits}" ]]; then
    echo "sanitizer reports: none (ctest output and ${proxies} slotwise process logs checked)"
    return 0
  fi
  echo "sanitizer reports found in:" >&2
  local f
  for f in ${hits}; do
    echo "---- ${f} ----" >&2
    grep -E -A40 "${REPORT_PATTERN}" "${f}" | head -200 >&2
  done
  return 1
}

main() {
  cd "${ROOT}"
  local start="${SECONDS}"
  build
  echo "build: $((SECONDS - start))s"
  export_sanitizer_options
  install_proxy_wrapper
  local test_start="${SECONDS}" status=0
  ctest --test-dir "${BUILD_DIR}" --output-on-failure -j2 --timeout 900 "$@" \
    2>&1 | tee "${BUILD_DIR}/ctest.log" || status=$?
  echo
  echo "==== sanitized ctest: tests $((SECONDS - test_start))s, total $((SECONDS - start))s ===="
  grep -E 'tests passed|tests failed|Total Test time' "${BUILD_DIR}/ctest.log" || true
  sed -n '/The following tests FAILED/,$p' "${BUILD_DIR}/ctest.log"
  check_reports || status=1
  if [[ "${status}" -ne 0 ]]; then
    echo "tests/run_sanitized.sh: FAILED" >&2
  fi
  return "${status}"
}

main "$@"
