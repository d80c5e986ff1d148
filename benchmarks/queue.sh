#!/bin/bash
# The long benchmarks of issues 22 and 23, in order, each resumable: the harness keeps what
# a suite has measured and the same command goes on from there. Every step runs from a snapshot of the
# repository (a clone), so edits made while it runs never reach a running benchmark; results are written
# to this checkout's benchmarks/results.
#
#   setsid nohup bash benchmarks/queue.sh 20:40 > queue.log 2>&1 < /dev/null &
#   setsid nohup bash benchmarks/queue.sh 20:40 hc_fix w2d_fix > queue2.log 2>&1 < /dev/null &
#
# Steps named after the time run alone, in the order given (default: every step, in the order below);
# two queues may run at once on different steps (never on the same one: they would share a record).
# No step starts that would end after the time given (the harness's --until; a suite's first step is
# given 30 minutes). Needs `make bench-setup` (and `make data` for the architecture searches). Stop it
# with SIGTERM to the script and every process under it.
set -u
UNTIL=$1
shift
STEPS=${*:-swimmer swimmer_ars ant hc_fix w2d_fix early_stop maze study goal}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${QUEUE_DIR:-/tmp/evoforge-queue}
RES=$ROOT/benchmarks/results
PY=$ROOT/.bench-venv/bin/python
SNAP=$WORK/snapshot-$$
mkdir -p "$WORK"
rm -rf "$SNAP"
git clone -q "$ROOT" "$SNAP"
cd "$SNAP" && export PYTHONPATH="$SNAP"
step() { echo "=== $(date -u +%H:%M:%S) $*"; "$@" --until "$UNTIL"; local rc=$?; echo "=== $(date -u +%H:%M:%S) exit $rc"; }
late() { [ $(($(date +%s) + 1800)) -ge "$(date -d "$UNTIL" +%s)" ]; }
H="$PY benchmarks/harness.py"
L="--results $RES --set steps=5000000"
ALL='methods=[evoforge_ars, evoforge_ars_v1, evoforge_cem_rl, evotorch_snes, pycma, sb3_td3]'
swimmer() { step $H locomotion $L --set task=Swimmer-v5 --set seeds=1 --set first_seed=1 --set "$ALL" --set name=Swimmer; }
swimmer_ars() { step $H locomotion $L --set task=Swimmer-v5 --set seeds=3 --set first_seed=1 \
  --set 'methods=[evoforge_ars, evoforge_ars_v1]' --set name=Swimmer-ars; }
ant() { step $H locomotion $L --set task=Ant-v5 --set seeds=1 --set first_seed=1 \
  --set 'methods=[evoforge_ars, evoforge_ars_shift, evoforge_cem_rl, evotorch_snes, pycma, sb3_td3]' --set name=Ant; }
hc_fix() { step $H locomotion $L --set task=HalfCheetah-v5 --set seeds=3 --set first_seed=1 \
  --set 'methods=[evoforge_cem_rl]' --set name=HalfCheetah-cem-rl-fix; }
w2d_fix() { step $H locomotion $L --set task=Walker2d-v5 --set seeds=3 --set first_seed=1 \
  --set 'methods=[evoforge_cem_rl]' --set name=Walker2d-cem-rl-fix; }
early_stop() { step "$ROOT/.venv/bin/python" benchmarks/harness.py nas_early_stop --results "$RES" \
  --set task=nas-digits --set 'rules=[max_gain, predictor]' --set name=rules-digits; }
maze() { step $H maze --results "$RES" --set name=hard-150k-seeds10 --set maze=hard --set seeds=10 \
  --set first_seed=10 --set evaluations=150000 --set processes=1 --set 'only=[map_elites, open_es, cma_es]'; }
# architecture search at equal wall time: needs the machine alone (4.5 hours; arms of 30 minutes). Every
# seed on the code its seed 0 ran on (90ead9a; the chain space's genome ids changed after it).
study() { git checkout -q 90ead9a && step "$ROOT/.venv/bin/python" benchmarks/harness.py nas_study --results "$RES" --set name=validation2; }
# the Fashion-MNIST goal on the test split (issue 22), 2 hours a seed alone on the 2 cores: plain search;
# ARMS (default: plain alone) is set from the study's seeds by the rule in BENCHMARKS.md. Every seed on
# the code its seed 0 ran on (c8fc26e), so that later changes to the product never mix into the 3 seeds.
goal() { git checkout -q c8fc26e && step "$ROOT/.venv/bin/python" benchmarks/harness.py nas_study --results "$RES" --set name=test \
  --set validation=false --set budget=7200 --set final_in_budget=true --set 'final=--epochs 60' \
  --set "arms=${ARMS:-$PLAIN}"; }
PLAIN='[{name: plain, overrides: [], search_seconds: 3000}]'  # not inside ${...:-...}: its } would end it
for s in $STEPS; do
  late && break
  "$s"
done
rm -rf "$SNAP"
echo "=== queue done or out of time $(date -u)"
