#!/usr/bin/env bash
# Runs every native Go fuzz target of the module for a short fixed time,
# one at a time (go test -fuzz takes one target per package run). The
# targets are found with `go test -list`, so new ones are picked up.
# FUZZTIME sets the time per target (default 10s). Exits non-zero if any
# target fails; the failing input is then in the package's testdata/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"

# `go test -list` prints the matching names of a package, then
# "ok  <package> <time>"; collect "<package> <target>" pairs.
list=$(go test -list '^Fuzz' ./...)
targets=$(awk '
  /^Fuzz/ { names[++n] = $1; next }
  /^ok[ \t]/ { for (i = 1; i <= n; i++) print $2, names[i]; n = 0; next }
  { n = 0 }
' <<<"$list")

if [ -z "$targets" ]; then
  echo "no fuzz targets found" >&2
  exit 1
fi

# run_target fuzzes one target. Go's fuzzing engine can report "context
# deadline exceeded" without any failing input when a worker is starved of
# CPU as the time runs out (a shared 2-core machine); that is retried once.
# A real finding names a failing input and is never retried.
run_target() {
  local out status
  for attempt in 1 2; do
    set +e
    out=$(go test -run='^$' -fuzz="^$2\$" -fuzztime="$fuzztime" "$1" 2>&1)
    status=$?
    set -e
    printf '%s\n' "$out"
    if [ "$status" -eq 0 ]; then return 0; fi
    if [[ $out == *"Failing input written"* || $out != *"context deadline exceeded"* ]]; then return 1; fi
    echo "(fuzzing engine timed out without a finding; retrying $2 once)"
  done
  return 1
}

failed=()
while read -r pkg target; do
  printf '== %s %s (%s)\n' "$pkg" "$target" "$fuzztime"
  if ! run_target "$pkg" "$target"; then
    failed+=("$pkg $target")
  fi
done <<<"$targets"

if [ "${#failed[@]}" -gt 0 ]; then
  printf 'fuzz target failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "all fuzz targets passed"
