#!/usr/bin/env bash
# timed.sh PHASE COMMAND...: runs COMMAND and prints how long PHASE took. When
# LBGUARD_TIMINGS names a file, the phase, its seconds and its result are added
# to it, and `timed.sh --report` prints them all as one table (.ci/run does).
set -uo pipefail
if [[ "${1:-}" == --report ]]; then
  [[ -s "${LBGUARD_TIMINGS:-}" ]] || exit 0
  echo "phase times:"
  awk '{ total += $2; printf "  %-22s %8.1f s  %s\n", $1, $2, $3 } END { printf "  %-22s %8.1f s\n", "total", total }' \
    "$LBGUARD_TIMINGS"
  exit 0
fi
phase=$1
shift
start=$(date +%s.%N)
"$@"
status=$?
seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
result=$([[ $status -eq 0 ]] && echo ok || echo "failed(rc=$status)")
printf '== phase %s: %.1f s, %s\n' "$phase" "$seconds" "$result"
[[ -z "${LBGUARD_TIMINGS:-}" ]] || echo "$phase $seconds $result" >> "$LBGUARD_TIMINGS"
exit $status
