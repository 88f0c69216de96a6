#!/usr/bin/env bash
# test_lanes.sh [--with-unit] SCENARIO...: `molecule test` of every scenario, in
# two lanes at once: the longest scenario (LBGUARD_MOLECULE_SOLO, default
# pipeline) in one, the others one after the other in the second, after the unit
# tests when --with-unit is given (make test). The scenarios share nothing (own
# containers, network and Molecule folder), and most of their time is spent
# waiting on SSH, reloads and traffic, so two lanes use the machine's two cores.
# The unit tests print as they run; each scenario writes its own log, printed
# whole once both lanes ended, so the output reads as if they ran in turn.
# Everything runs even when one part fails; the run then fails, naming them,
# and writes the lines that say why to $logs/failures.txt (.ci/run prints it
# last, where a truncated CI log still shows it).
set -uo pipefail
cd "$(dirname "$0")/.."
with_unit=false
if [[ ${1:-} == --with-unit ]]; then with_unit=true; shift; fi
solo=${LBGUARD_MOLECULE_SOLO:-pipeline}
logs=.cache/molecule-logs
mkdir -p "$logs"
rm -f "$logs/failures.txt"
# The checkout is lbguard.core (collections/); a copy an earlier ansible-lint or
# Molecule run installed into Ansible's home would shadow it.
rm -rf "$ANSIBLE_HOME/collections/ansible_collections/lbguard"

run() {  # run SCENARIO: one scenario, timed, its output in its log
  LBGUARD_PHASE_NESTED=1 scripts/timed.sh "molecule-$1" molecule test -s "$1" > "$logs/$1.log" 2>&1
}

lane_solo=() lane_rest=()
for scenario in "$@"; do
  if [[ $scenario == "$solo" ]]; then lane_solo+=("$scenario"); else lane_rest+=("$scenario"); fi
done

failed=()
declare -A pids
for scenario in "${lane_solo[@]}"; do run "$scenario" & pids[$scenario]=$!; done
if $with_unit; then
  LBGUARD_PHASE_NESTED=1 scripts/timed.sh unit pytest -q -r fE tests/unit tests/integration 2>&1 | tee "$logs/unit.log"
  (( PIPESTATUS[0] == 0 )) || failed+=(unit)
fi
for scenario in "${lane_rest[@]}"; do
  echo "molecule: $scenario (beside ${lane_solo[*]:-nothing})"
  run "$scenario" || failed+=("$scenario")
done
for scenario in "${!pids[@]}"; do wait "${pids[$scenario]}" || failed+=("$scenario"); done

for scenario in "$@"; do
  echo "======================== molecule test -s $scenario ========================"
  cat "$logs/$scenario.log"
done

why() {  # why PART: its failed tests and their first assertion lines, or its failed tasks when no test failed
  local text tests
  text=$(sed 's/\x1b\[[0-9;]*m//g' "$logs/$1.log")
  tests=$(grep -E -A2 '(^|[│ ])(FAILED|ERROR)( [a-z]|$)' <<< "$text" | grep -v '^--$' | tail -n 9)
  if [[ -n $tests ]]; then
    echo "$tests"
    grep -E '(^|│ )E  ' <<< "$text" | head -n 4
  else
    grep -E -A1 'fatal: \[' <<< "$text" | grep -v '^--$' | tail -n 6
  fi | cut -c1-200
}
if (( ${#failed[@]} )); then
  for part in "${failed[@]}"; do echo "== why $part failed:"; why "$part"; done > "$logs/failures.txt"
  echo "failed: ${failed[*]}"
  exit 1
fi
