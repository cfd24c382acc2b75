#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, in build-fuzz/) if needed and runs each one
# for a bounded time on a copy of its checked-in seed corpus.
#
# Usage: tests/fuzz/run.sh [seconds-per-target]     (default 60; from anywhere)
# Prints one summary line per target (executions, crashes) and exits non-zero if any target
# crashed, leaked, timed out or broke an invariant. Crash inputs are kept in
# build-fuzz/fuzz-run/<target>/artifacts/; replay one with build-fuzz/tests/fuzz/<target> <file>.
# Needs clang++ with compiler-rt (Debian: apt-get install clang libclang-rt-14-dev).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT
readonly BUILD_DIR="${ROOT}/build-fuzz"
readonly RUN_DIR="${BUILD_DIR}/fuzz-run"
readonly TARGETS=(fuzz_request_parser fuzz_reply_scanner fuzz_routing)

build() {
  if ! command -v clang++ >/dev/null; then
    echo "tests/fuzz/run.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
    return 1
  fi
  if [[ ! -f "${BUILD_DIR}/build.ninja" ]]; then
    cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER=clang++ -DSLOTWISE_FUZZ=ON -DSLOTWISE_SANITIZE=ON \
      -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link
  fi
  cmake --build "${BUILD_DIR}" --target slotwise_fuzzers -j2
}

# Runs one target for $2 seconds; prints its summary line; returns non-zero on a crash.
run_target() {
  local target="$1" seconds="$2"
  local work="${RUN_DIR}/${target}"
  rm -rf "${work}"
  mkdir -p "${work}/artifacts"
  cp -r "${ROOT}/tests/fuzz/corpus/${target}" "${work}/corpus"
  local status=0
  "${BUILD_DIR}/tests/fuzz/${target}" "${work}/corpus" -max_total_time="${seconds}" \
    -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="${work}/artifacts/" >"${work}/log" 2>&1 || status=$?
  local execs crashes
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${work}/log" | tail -1)"
  crashes="$(find "${work}/artifacts" -type f | wc -l)"
  printf '%-22s execs=%-10s crashes=%s exit=%s corpus=%s\n' "${target}" "${execs:-?}" \
    "${crashes}" "${status}" "$(find "${work}/corpus" -type f | wc -l)"
  if [[ "${status}" -ne 0 || "${crashes}" -ne 0 ]]; then
    local pattern='invariant violated|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)'
    grep -m1 -E "${pattern}|runtime error" "${work}/log" >&2 || true
    echo "  log: ${work}/log; inputs: ${work}/artifacts/" >&2
    return 1
  fi
}

main() {
  local seconds="${1:-60}"
  if ! [[ "${seconds}" =~ ^[0-9]+$ ]] || [[ "${seconds}" -eq 0 ]]; then
    echo "usage: tests/fuzz/run.sh [seconds-per-target > 0]" >&2
    return 2
  fi
  build
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
  local failed=0 target
  echo "==== fuzzing ${#TARGETS[@]} targets, ${seconds}s each ===="
  for target in "${TARGETS[@]}"; do
    run_target "${target}" "${seconds}" || failed=1
  done
  if [[ "${failed}" -ne 0 ]]; then
    echo "tests/fuzz/run.sh: FAILED (a target crashed; see above)" >&2
  fi
  return "${failed}"
}

main "$@"
