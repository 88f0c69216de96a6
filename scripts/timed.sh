#!/usr/bin/env bash
# timed.sh PHASE COMMAND...: runs COMMAND and prints how long PHASE took. When
# LBGUARD_TIMINGS names a file, the phase, its seconds and its result are added
# to it, and `timed.sh --report` prints them all as one table (.ci/run does).
# LBGUARD_PHASE_NESTED=1 marks a phase that runs inside another one (a Molecule
# scenario or the unit tests in a lane of scripts/test_lanes.sh): listed, not
# added to the total.
set -uo pipefail
if [[ "${1:-}" == --report ]]; then
  [[ -s "${LBGUARD_TIMINGS:-}" ]] || exit 0
  echo "phase times:"
  awk '{ if ($4 != "nested") total += $2; printf "  %-22s %8.1f s  %s%s\n", $1, $2, $3, ($4 == "nested" ? " (in a lane)" : "") }
       END { printf "  %-22s %8.1f s\n", "total", total }' \
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
nested=$([[ ${LBGUARD_PHASE_NESTED:-} == 1 ]] && echo nested || true)
[[ -z "${LBGUARD_TIMINGS:-}" ]] || echo "$phase $seconds $result $nested" >> "$LBGUARD_TIMINGS"
exit $status
