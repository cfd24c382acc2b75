#!/usr/bin/env bash
# Prints the files changed since a base commit, one path per line relative to the repository
# root: added, copied, modified or renamed files that still exist (deleted ones are left out),
# including uncommitted changes to tracked files. Shared by tools/format.sh and
# tools/tidy_changed.sh.
#
# Usage: tools/changed_files.sh [--print-base] [BASE]            (from anywhere)
# BASE defaults to the merge-base of HEAD with origin/main when that remote branch exists and is
# not HEAD itself, else HEAD~1 (the last commit's changes: CI without a remote, or building
# origin/main itself), else the empty tree (a first commit: every file). The base that was used
# goes to stderr; with --print-base only that commit is printed, to stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

# Prints the commit (or tree) to diff against; returns 2 for an unknown explicit BASE.
pick_base() {
  local requested="$1"
  if [[ -n "${requested}" ]]; then
    if ! git rev-parse --verify --quiet "${requested}^{commit}"; then
      echo "changed_files: unknown base '${requested}'" >&2
      return 2
    fi
    return 0
  fi
  local head merge_base
  head="$(git rev-parse HEAD)"
  if git rev-parse --verify --quiet 'origin/main^{commit}' >/dev/null; then
    merge_base="$(git merge-base HEAD origin/main 2>/dev/null || true)"
    if [[ -n "${merge_base}" && "${merge_base}" != "${head}" ]]; then
      printf '%s\n' "${merge_base}"
      return 0
    fi
  fi
  if git rev-parse --verify --quiet 'HEAD~1^{commit}'; then return 0; fi
  git hash-object -t tree /dev/null  # the empty tree: a repository's first commit
}

main() {
  local print_base=0
  if [[ "${1:-}" == "--print-base" ]]; then
    print_base=1
    shift
  fi
  cd "${ROOT}"
  local base
  base="$(pick_base "${1:-}")"
  if [[ "${print_base}" -eq 1 ]]; then
    printf '%s\n' "${base}"
    return 0
  fi
  echo "changed_files: changes since ${base:0:12} ($(git log -1 --format=%s "${base}" 2>/dev/null \
    || echo 'empty tree'))" >&2
  git diff --name-only --diff-filter=ACMR "${base}" -- | sort -u | while IFS= read -r f; do
    if [[ -f "${f}" ]]; then printf '%s\n' "${f}"; fi
  done
}

main "$@"
