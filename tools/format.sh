#!/usr/bin/env bash
# Formats the C++ sources with clang-format (style: .clang-format at the repository root; Debian's
# clang-format 14, the version the style was tuned for).
#
# Usage: tools/format.sh [--check] [--changed [BASE]] [FILE...]      (from anywhere)
#   (no FILE)         every tracked .h/.cc file, whole files
#   FILE...           only these (.h/.cc files; other paths are ignored), whole files
#   --changed [BASE]  only the lines changed since BASE, in the .h/.cc files changed since BASE
#                     (as `git clang-format`: code a change did not touch is left alone). The
#                     default BASE is chosen by tools/changed_files.sh: merge-base with
#                     origin/main, else HEAD~1 (the last commit)
#   --check           change nothing: list each file that clang-format would change with the
#                     number of lines (removed + added) it would change, print the totals and exit 1
#                     if there is any; exit 0 if everything is formatted
# Without --check the files (or changed lines) are rewritten in place (clang-format -i).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

usage() {
  sed -n '5,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_clang_format() {
  local candidate
  for candidate in clang-format-14 clang-format; do
    if command -v "${candidate}" >/dev/null; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  echo "tools/format.sh: clang-format not found (apt-get install clang-format)" >&2
  return 1
}

# Prints clang-format's --lines=FIRST:LAST options covering the lines of FILE that differ from
# BASE (the new side of each hunk of `git diff -U0`; pure deletions have no lines to format).
line_ranges() {
  local base="$1" file="$2"
  git diff -U0 --no-color --no-ext-diff "${base}" -- "${file}" \
    | sed -nE 's/^@@ -[0-9,]+ \+([0-9]+)(,([0-9]+))? @@.*/\1 \3/p' \
    | while read -r first count; do
        count="${count:-1}"
        if [[ "${count}" -gt 0 ]]; then
          printf -- '--lines=%d:%d\n' "${first}" $((first + count - 1))
        fi
      done
}

# Number of lines that differ between a file and its formatted version (removed + added).
# Extra arguments go to clang-format (--lines=...).
changed_lines() {
  local cf="$1" file="$2"
  shift 2
  "${cf}" --style=file "$@" "${file}" | diff -U0 "${file}" - | grep -vE '^(---|\+\+\+|@@)' \
    | grep -cE '^[-+]' || true
}

main() {
  local check=0 changed=0 base=""
  local -a files=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --check) check=1 ;;
      --changed)
        changed=1
        if [[ $# -gt 1 && "$2" != -* && ! -f "$2" ]]; then
          base="$2"
          shift
        fi
        ;;
      -h | --help) usage ;;
      -*) usage ;;
      *) files+=("$1") ;;
    esac
    shift
  done
  cd "${ROOT}"
  local cf
  cf="$(find_clang_format)"
  if ! "${cf}" --version | grep -q 'version 14\.'; then
    echo "tools/format.sh: warning: $("${cf}" --version) is not clang-format 14;" \
      "its output may differ from CI's" >&2
  fi

  local diff_base=""
  if [[ "${changed}" -eq 1 ]]; then
    diff_base="$(tools/changed_files.sh --print-base ${base:+"${base}"})"
    mapfile -t files < <(tools/changed_files.sh "${diff_base}")
  elif [[ "${#files[@]}" -eq 0 ]]; then
    mapfile -t files < <(git ls-files -- '*.h' '*.cc')
  fi
  local -a sources=()
  local f
  for f in "${files[@]}"; do
    if [[ "${f}" == *.h || "${f}" == *.cc ]] && [[ -f "${f}" ]]; then sources+=("${f}"); fi
  done
  if [[ "${#sources[@]}" -eq 0 ]]; then
    echo "tools/format.sh: no .h/.cc files to format"
    return 0
  fi

  local -a ranges=()
  if [[ "${check}" -eq 0 ]]; then
    if [[ -z "${diff_base}" ]]; then
      "${cf}" --style=file -i "${sources[@]}"
    else
      for f in "${sources[@]}"; do
        mapfile -t ranges < <(line_ranges "${diff_base}" "${f}")
        if [[ "${#ranges[@]}" -gt 0 ]]; then "${cf}" --style=file -i "${ranges[@]}" "${f}"; fi
      done
    fi
    echo "tools/format.sh: formatted ${#sources[@]} files${diff_base:+ (changed lines only)}"
    return 0
  fi
  local n bad=0 lines=0
  for f in "${sources[@]}"; do
    if [[ -n "${diff_base}" ]]; then
      mapfile -t ranges < <(line_ranges "${diff_base}" "${f}")
      if [[ "${#ranges[@]}" -eq 0 ]]; then continue; fi
    fi
    n="$(changed_lines "${cf}" "${f}" "${ranges[@]}")"
    if [[ "${n}" -gt 0 ]]; then
      printf '%6d  %s\n' "${n}" "${f}"
      bad=$((bad + 1))
      lines=$((lines + n))
    fi
  done
  if [[ "${bad}" -eq 0 ]]; then
    echo "tools/format.sh --check: ${#sources[@]} files checked${diff_base:+ (changed lines)}," \
      "all formatted"
    return 0
  fi
  echo "tools/format.sh --check: ${bad} of ${#sources[@]} files need formatting" \
    "(${lines} lines removed + added); run tools/format.sh on them" >&2
  return 1
}

main "$@"
