#!/usr/bin/env bash
# Runs clang-tidy (checks: .clang-tidy at the repository root; Debian's clang-tidy 14) on the
# product sources (.cc under proxy/ router/ resp/ config/ common/) changed since a base commit,
# with every enabled check an error. Findings in the project headers they include are reported
# too; tests and third-party headers are not checked.
#
# Usage: tools/tidy_changed.sh [--all] [BASE]        (from anywhere)
#   BASE   default: chosen by tools/changed_files.sh (merge-base with origin/main, else HEAD~1,
#          i.e. the last commit)
#   --all  every product .cc file instead of the changed ones
# Needs a configured build with compile_commands.json (CMAKE_EXPORT_COMPILE_COMMANDS is ON):
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release      (configuring is enough)
# SLOTWISE_TIDY_BUILD_DIR picks another build directory (default build/); SLOTWISE_TIDY_JOBS the
# number of parallel clang-tidy processes (default: the number of CPUs).
# Prints each finding once, then a count per check; exits 1 if there is any finding (or if
# clang-tidy could not compile a file), 0 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly PRODUCT_DIRS='proxy|router|resp|config|common'

find_clang_tidy() {
  local candidate
  for candidate in clang-tidy-14 clang-tidy; do
    if command -v "${candidate}" >/dev/null; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  echo "tools/tidy_changed.sh: clang-tidy not found (apt-get install clang-tidy)" >&2
  return 1
}

main() {
  local all=0
  if [[ "${1:-}" == "--all" ]]; then
    all=1
    shift
  fi
  cd "${ROOT}"
  local build_dir="${SLOTWISE_TIDY_BUILD_DIR:-${ROOT}/build}"
  if [[ ! -f "${build_dir}/compile_commands.json" ]]; then
    echo "tools/tidy_changed.sh: ${build_dir}/compile_commands.json not found; configure first:" \
      "cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release" >&2
    return 2
  fi
  local tidy
  tidy="$(find_clang_tidy)"

  local -a files=()
  if [[ "${all}" -eq 1 ]]; then
    mapfile -t files < <(git ls-files -- '*.cc' | grep -E "^(${PRODUCT_DIRS})/" || true)
  else
    mapfile -t files < <(tools/changed_files.sh "$@" | grep -E "^(${PRODUCT_DIRS})/.*\.cc$" \
      || true)
  fi
  if [[ "${#files[@]}" -eq 0 ]]; then
    echo "tools/tidy_changed.sh: no product .cc file to check"
    return 0
  fi
  echo "tools/tidy_changed.sh: ${#files[@]} files: ${files[*]}"

  local out
  out="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: out is local
  trap "rm -rf '${out}'" EXIT
  local jobs="${SLOTWISE_TIDY_JOBS:-$(nproc)}" status=0
  # One clang-tidy per file, output kept per file. -Wno-unknown-warning-option: the compile
  # commands come from GCC and may carry GCC-only warning flags (-Wno-restrict).
  # shellcheck disable=SC2016  # the inner script expands its own positional parameters
  printf '%s\n' "${files[@]}" | xargs -P "${jobs}" -I{} sh -c '
    log="$1/$(printf %s "$2" | tr / _).log"
    "$3" -p "$4" --quiet --warnings-as-errors="*" \
      --header-filter="^$5/($6)/" --extra-arg=-Wno-unknown-warning-option "$2" >"${log}" 2>&1 \
      || echo "$2" >>"$1/failed"' _ "${out}" {} "${tidy}" "${build_dir}" "${ROOT}" \
    "${PRODUCT_DIRS}"

  # A header's findings come once per .cc including it: print each distinct finding once.
  local findings="${out}/findings"
  local generated='^[0-9]+ (warning|error)s? (and [0-9]+ (warning|error)s? )?generated\.$'
  cat "${out}"/*.log | grep -vE "${generated}" \
    | awk '/^\// { key = $0; seen_block = (key in seen); seen[key] = 1 }
           !seen_block { print }' | sed "s|${ROOT}/||" >"${findings}" || true
  cat "${findings}"
  local count
  count="$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: (warning|error): ' "${findings}" || true)"
  echo
  echo "==== clang-tidy: ${count} findings in ${#files[@]} files ===="
  grep -oE '^[^ ].*:[0-9]+:[0-9]+: (warning|error): .*\[[a-z0-9.,-]+\]$' "${findings}" \
    | grep -oE '\[[a-z0-9.,-]+\]$' | sed 's/,-warnings-as-errors//' | sort | uniq -c | sort -rn \
    || true
  if [[ -f "${out}/failed" ]]; then
    echo "tools/tidy_changed.sh: FAILED (findings or compile errors) in:" \
      "$(sort "${out}/failed" | tr '\n' ' ')" >&2
    status=1
  fi
  return "${status}"
}

main "$@"
