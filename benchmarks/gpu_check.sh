#!/usr/bin/env bash
# The GPU path, checked in one command (docs/gpu-check.md):
#
#   bash benchmarks/gpu_check.sh              # on a machine with a CUDA GPU (about 5 minutes)
#   bash benchmarks/gpu_check.sh --dry-run    # the same steps on the CPU, tiny (CI runs this)
#
# Steps, each with its own time limit, run in order; a failed step does not stop the next:
#   install      wheels that this Python lacks, from the wheelhouse .whl/ (gpu_wheelhouse.sh
#                fills it), into a temporary folder put on PYTHONPATH; the package itself is
#                used from this checkout
#   environment  versions, the GPU, the data, and that every tool the steps need imports
#   cuda_tests   pytest -m cuda tests/test_cuda.py (a dry run collects them; they skip)
#   throughput   benchmarks/train_throughput.py --mode train: the d2l recipe and ours in one
#                run, images/s of each, the ratio, peak memory
#   notebook_07  notebooks/07_training.ipynb, full mode (smoke in a dry run), via nbclient
#   notebook_08  notebooks/08_evaluation.ipynb, likewise (it evaluates lesson 07's model)
# Everything measured goes to $OUT/summary.json (and the executed notebooks, logs, the
# benchmark's JSON beside it); OUT defaults to ./gpu-check-out, or a new temporary folder in a
# dry run. Exit status: 0 every step passed (and, on a GPU, every target judged was met),
# 1 a step failed, 3 the steps passed but a target was missed.
#
# Options: --dry-run; --wheelhouse DIR (default .whl; in a dry run, install from it only when
# given); --no-install; --budget SECONDS (for all steps together: 450, 240 in a dry run).
# Environment: PYTHON (default python3), OUT, ALEXNET_LESSON_DATA (else the largest Fashion-MNIST
# found in .whl/data, shared/data, ../shared/data, the user's cache; else synthetic data).
set -euo pipefail

usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
}

dry=0
install=auto
wheelhouse=""
budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --wheelhouse)
      wheelhouse=${2:?--wheelhouse needs a folder}
      shift
      ;;
    --no-install) install=no ;;
    --budget)
      budget=${2:?--budget needs seconds}
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "unknown option: $1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
if [ -z "${OUT:-}" ]; then
  if [ "$dry" = 1 ]; then
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check-out.XXXXXX")
  else
    OUT=$PWD/gpu-check-out
  fi
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
mkdir -p "$OUT/logs" "$OUT/notebooks"
rm -f "$OUT/steps.tsv" "$OUT/summary.json" "$OUT/cuda-tests-record.json"
if [ -z "$budget" ]; then
  budget=$([ "$dry" = 1 ] && echo 240 || echo 450)
fi
if [ -z "$wheelhouse" ]; then
  wheelhouse=$repo/.whl
  [ "$dry" = 1 ] && [ "$install" = auto ] && install=no # a dry run uses what is installed
fi
started=$(date +%s)
deadline=$((started + budget))

# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for pidfile in "$work"/*.kernel.pid; do
    [ -s "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2> /dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cd "$repo"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export ALEXNET_LESSON_RUNS=$work/runs
ALEXNET_LESSON_SMOKE=$([ "$dry" = 1 ] && echo 1 || echo 0)
export ALEXNET_LESSON_SMOKE
export TQDM_DISABLE=1 PYTHONHASHSEED=0 PYDEVD_DISABLE_FILE_VALIDATION=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
export MPLCONFIGDIR=$work/matplotlib IPYTHONDIR=$work/ipython JUPYTER_PLATFORM_DIRS=1
export JUPYTER_RUNTIME_DIR=$work/jupyter/runtime JUPYTER_CONFIG_DIR=$work/jupyter/config
export TRITON_CACHE_DIR=$work/triton TORCHINDUCTOR_CACHE_DIR=$work/inductor
export GPU_CHECK_RECORD=$OUT/cuda-tests-record.json

# ----------------------------------------------------------------------------- the helpers
# In benchmarks/gpu_check/: install.py, pick_data.py, environment.py, run_notebook.py (a wrapper
# of tools/execute_notebooks.py, the one notebook runner), summary.py.

# ----------------------------------------------------------------------------- the steps

# run_step NAME LIMIT COMMAND...: log to $OUT/logs/NAME.log (and the terminal), record the result
run_step() {
  local name=$1 limit=$2
  shift 2
  local now left log rc t0 t1 status
  now=$(date +%s)
  left=$((deadline - now))
  log=$OUT/logs/$name.log
  if [ "$left" -lt 20 ]; then
    echo "=== $name: skipped, the budget of $budget s is spent"
    echo "skipped: the budget of $budget s was spent" > "$log"
    printf '%s\tskipped\t\t0\t0\n' "$name" >> "$OUT/steps.tsv"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit $limit s)"
  t0=$(date +%s%N)
  set +e
  timeout --kill-after=15 "$limit" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  t1=$(date +%s%N)
  case $rc in
    0) status=passed ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  echo "--- $name: $status (exit $rc) in $(((t1 - t0) / 1000000)) ms"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" \
    "$(awk "BEGIN {printf \"%.1f\", ($t1 - $t0) / 1e9}")" "$limit" >> "$OUT/steps.tsv"
}

mode=$([ "$dry" = 1 ] && echo dry-run || echo gpu)
echo "gpu_check: $mode, output in $OUT, budget $budget s, python: $(command -v "$py")"

site=$work/site
if [ "$install" = no ]; then
  echo "=== install: skipped (a dry run uses what is installed; --wheelhouse DIR installs)"
else
  run_step install 120 "$py" "$repo/benchmarks/gpu_check/install.py" "$wheelhouse" "$site" "$OUT/install.json"
  export PYTHONPATH="$repo:$site${PYTHONPATH#"$repo"}"
  export PATH="$site/bin:$PATH"
fi

data_root=$(timeout 60 "$py" "$repo/benchmarks/gpu_check/pick_data.py" "$repo" 2> /dev/null | tail -1 || true)
if [ -n "$data_root" ]; then
  export ALEXNET_LESSON_DATA=$data_root
else
  export ALEXNET_LESSON_DATA=$work/data # the lessons write synthetic data there
fi
echo "data: $ALEXNET_LESSON_DATA"

run_step environment 90 "$py" "$repo/benchmarks/gpu_check/environment.py" "$OUT/environment.json" "$mode"

MPLBACKEND=Agg run_step cuda_tests 180 "$py" -m pytest -o addopts= -p no:cacheprovider -rs -q \
  -m cuda tests/test_cuda.py --junitxml="$OUT/cuda-tests.xml" --basetemp="$work/pytest"

if [ "$dry" = 1 ]; then
  bench=(--device cpu --steps 1 --warmup 1 --rounds 1 --batch-size 4 --workers 2)
else
  bench=(--device cuda)
fi
MPLBACKEND=Agg run_step throughput 150 "$py" benchmarks/train_throughput.py --mode train \
  "${bench[@]}" --json "$OUT/throughput.json"

for nb in 07_training 08_evaluation; do
  limit=$([ "$nb" = 07_training ] && echo 240 || echo 180)
  [ "$dry" = 1 ] && limit=$([ "$nb" = 07_training ] && echo 180 || echo 120)  # 07 trains three times
  MPLBACKEND=module://matplotlib_inline.backend_inline \
    run_step "notebook_${nb%%_*}" "$limit" "$py" "$repo/benchmarks/gpu_check/run_notebook.py" "notebooks/$nb.ipynb" \
    "$OUT/notebooks/$nb.ipynb" "$OUT/notebooks/$nb.json" "$limit" "$work/$nb.kernel.pid"
  if [ -s "$work/$nb.kernel.pid" ] && kill -0 "$(cat "$work/$nb.kernel.pid")" 2> /dev/null; then
    kill "$(cat "$work/$nb.kernel.pid")" 2> /dev/null || true # a kernel left by a killed runner
  fi
done

set +e
timeout 60 "$py" "$repo/benchmarks/gpu_check/summary.py" "$OUT" "$repo" "$mode" "$started" "$ALEXNET_LESSON_RUNS"
rc=$?
set -e
[ -f "$OUT/summary.json" ] || rc=1
exit "$rc"
