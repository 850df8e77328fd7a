#!/usr/bin/env bash
# The GPU checks, in one call for the day a device is lent (at most 8 minutes on one H100): the CUDA tests, the
# scoring benchmark in bfloat16 on the card, and the real-data grid at GPU scale (CSV under $RESULTS, resumable).
# Run: scripts/device_check.sh [RESULTS]; DEVICE_CHECK_SCALE=toy runs the same steps at toy size on any machine.
#   ELAD_STUDENT  student.path (default student:smollm2-135m; at toy size, give a small pretrained-shaped folder)
#   ELAD_DATA     folder with GSM8K's train.jsonl and test.jsonl (default ../shared/datasets/gsm8k)
# Packages the device image lacks travel as wheels in .whl (`make device-wheels`) and are installed first.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:-benchmarks/results/device}
SCALE=${DEVICE_CHECK_SCALE:-gpu}
STUDENT=${ELAD_STUDENT:-student:smollm2-135m}
DATA=${ELAD_DATA:-../shared/datasets/gsm8k}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$RESULTS"
LOG="$RESULTS/device_check.log"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
if [ "$SCALE" = toy ]; then
  POOL=12 TEST=6 WARMUP=4 BUDGET=4 SEEDS=0 QUESTIONS=2 LIMITS=(120 300 300)
  DATA_ARGS=(--data tests/data/gsm8k_sample.jsonl --preset gsm8k)
  FAST=(--set student.max_new_tokens=24 student.probe_max_tokens=3 uncertainty.samples=2 training.epochs=1
        training.batch_size=4 student.few_shot=1)
else
  POOL=1000 TEST=1000 WARMUP=32 BUDGET=64 SEEDS=0,1,2 QUESTIONS=24 LIMITS=(100 100 240)
  DATA_ARGS=(--data "$DATA/train.jsonl" --test-data "$DATA/test.jsonl" --preset gsm8k)
  FAST=()
fi

if ls .whl/*.whl >/dev/null 2>&1; then  # the device image's missing packages, carried
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/elad-site \
    .whl/*.whl && export PYTHONPATH=/tmp/elad-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ! "$PY" -c "import elad_engine.student.explain, elad_engine.rounds.loop, sqlite_utils, peft" 2>>"$LOG"; then
  say "FAILED: the engine does not import here (a package is missing: make device-wheels, then carry .whl)"
  exit 2
fi
"$PY" - <<'EOF' | tee -a "$LOG"
import platform, torch
cuda = torch.cuda.is_available()
print(f"device check: {platform.node()}, torch {torch.__version__}, "
      + (f"CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}" if cuda else "no CUDA device (toy run?)"))
EOF

status=0
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log it, remember a failure and go on
  local name=$1 limit=$2; shift 2
  say "== $name (at most ${limit} s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  say "== $name: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || status=1
}

step "CUDA tests" "${LIMITS[0]}" "$PY" -m pytest -q -m cuda tests/test_cuda.py -rs
step "scoring benchmark" "${LIMITS[1]}" "$PY" -m benchmarks.scoring --student "$STUDENT" \
  --questions "$QUESTIONS" --engine-runs 1 --dtypes bfloat16
step "real-data grid" "${LIMITS[2]}" "$PY" -m benchmarks.efficiency "${DATA_ARGS[@]}" --student "$STUDENT" \
  --teacher reference --pool "$POOL" --test "$TEST" --rounds 1 --warmup "$WARMUP" --budget "$BUDGET" \
  --seeds "$SEEDS" --runs elad:revision,random:revision,random:full --out "$RESULTS/grid" --resume \
  ${FAST[@]+"${FAST[@]}"}
say "device check: $( [ $status = 0 ] && echo passed || echo 'a step failed (see above)' ); results in $RESULTS"
exit $status
