#!/usr/bin/env bash
# Builds Slotwise, the proxy unit tests and the integration tests with ThreadSanitizer
# (build-tsan/, RelWithDebInfo, -DSLOTWISE_TSAN=ON) and runs the proxy unit tests plus the
# integration suites that exercise the worker threads, the control thread and the admin HTTP
# threads together (the integration tests start the TSan-built slotwise binary).
#
# Usage: tests/run_tsan.sh [extra ctest args, e.g. --repeat until-fail:3]     (from anywhere)
# The extra arguments go to both ctest runs (unit, then integration); each run fails if it selects
# no test, so narrow with care (-R applies to the unit run too).
# Any ThreadSanitizer report fails the run. Reports do not stop the process (halt_on_error=0), so
# one run shows every race it saw; a process that reported exits with status 66. The slotwise
# processes started by the harness write stderr into temporary directories that are deleted
# afterwards, and the harness does not check their exit status, so they are started through a
# wrapper (SLOTWISE_BINARY) that also copies their stderr to build-tsan/tsan-logs/. The script
# exits non-zero if the build or a test fails, or if "WARNING: ThreadSanitizer" (or any other
# TSan report) appears in the ctest output or the copied logs. Known false positives (inside
# third-party code only) are suppressed in tests/tsan.supp, each with its reason.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD_DIR="${ROOT}/build-tsan"
readonly LOG_DIR="${BUILD_DIR}/tsan-logs"

# Unit tests: those of proxy/ (label unit_proxy: the admin HTTP server's civetweb threads, metric
# shards written by two threads while rendered). resp/, router/ and config/ start no thread and
# share nothing between threads (their results reach the workers as immutable snapshots), so TSan
# cannot find anything in their unit tests; building them with TSan would add about a fifth to
# this build. ASan+UBSan and Release run them.
# Integration tests: the suites that drive the threads: client traffic on the workers (basic,
# redirects, fan-out, transactions and blocking commands, pub/sub), accepted sockets handed from
# the control thread to the workers or accepted by each worker (AcceptModes), the control
# thread's topology refreshes, replica probes and SIGHUP reload reaching the workers, and the
# admin HTTP server's threads reading the workers' stats and the slow log while clients run. The
# other integration suites (bad input, RESP3, auth, harness, command table, dashboard, haproxy)
# run the same code paths for protocol details; they are left to the ASan and Release runs to
# keep this one near two minutes on 2 cores. (They were run under TSan once with no report;
# ProxyBadInputTest's RSS bounds do not hold under TSan's shadow memory.)
readonly UNIT_TARGETS=(unit_proxy_tests)
readonly INTEGRATION_SUITES=(ProxyBasicTest AcceptModes/ProxyAcceptModeTest ProxyRedirectTest
  ProxyFanOutTest ProxyAdminCommandsTest ProxyTxnTest ProxyPubSubTest ProxyReplicaReadTest
  ProxyAdminTest ProxyReloadTest ProxySlowlogTest ProxyLocalTest ProxyObserveTest)

build() {
  # -O1 -g1: file:line in the reports at about half the compile time of -O2 -g.
  cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DSLOTWISE_BUILD_TESTS=ON -DSLOTWISE_BUILD_BENCH=OFF -DSLOTWISE_TSAN=ON
  cmake --build "${BUILD_DIR}" -j2 --target slotwise integration_tests "${UNIT_TARGETS[@]}"
}

readonly REPORT_PATTERN='(WARNING|ERROR|SUMMARY|FATAL): ThreadSanitizer'

# Settings inherited by the test binaries and the slotwise processes they start.
export_tsan_options() {
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:\
suppressions=${ROOT}/tests/tsan.supp"
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

# Prints every TSan report found in the ctest log and the proxy logs; returns non-zero if there
# is any.
check_reports() {
  local hits
  hits="$(grep -lE "${REPORT_PATTERN}" "${BUILD_DIR}/ctest.log" "${LOG_DIR}"/*.log 2>/dev/null \
    || true)"
  local proxies
  proxies="$(find "${LOG_DIR}" -name 'slotwise.*.log' | wc -l)"
  if [[ -z "${hits}" ]]; then
    echo "ThreadSanitizer reports: none (ctest output and ${proxies} slotwise process logs checked)"
    return 0
  fi
  echo "ThreadSanitizer reports found in:" >&2
  local f
  for f in ${hits}; do
    echo "---- ${f} ----" >&2
    grep -E -A60 "${REPORT_PATTERN}" "${f}" | head -300 >&2
  done
  return 1
}

main() {
  cd "${ROOT}"
  local start="${SECONDS}"
  build
  echo "build: $((SECONDS - start))s"
  export_tsan_options
  install_proxy_wrapper
  local suites
  suites="$(IFS='|'; echo "${INTEGRATION_SUITES[*]}")"
  local test_start="${SECONDS}" status=0
  # Two ctest runs into one log: the proxy unit tests, then the chosen integration suites (ctest
  # names them Suite.Test).
  (
    local -a ctest_args=(--test-dir "${BUILD_DIR}" --output-on-failure --no-tests=error -j2
      --timeout 900)
    rc=0
    ctest "${ctest_args[@]}" -L '^unit_proxy$' "$@" || rc=1
    ctest "${ctest_args[@]}" -L integration -R "^(${suites})\\." "$@" || rc=1
    exit "${rc}"
  ) 2>&1 | tee "${BUILD_DIR}/ctest.log" || status=$?
  echo
  echo "==== TSan ctest: tests $((SECONDS - test_start))s, total $((SECONDS - start))s ===="
  grep -E 'tests passed|tests failed|Total Test time' "${BUILD_DIR}/ctest.log" || true
  sed -n '/The following tests FAILED/,$p' "${BUILD_DIR}/ctest.log"
  check_reports || status=1
  if [[ "${status}" -ne 0 ]]; then
    echo "tests/run_tsan.sh: FAILED" >&2
  fi
  return "${status}"
}

main "$@"
