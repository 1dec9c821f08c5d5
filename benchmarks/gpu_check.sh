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

cat > "$work/install.py" << 'EOF'
"""Install into SITE the wheels of WHEELHOUSE that this Python lacks (never the package itself).

pip decides what is missing (``pip install --dry-run --report`` against what is installed, from
the wheelhouse alone); without a pip that can, every wheel whose distribution is not installed
goes in. The wheels are installed with --no-deps (d2l's pins would downgrade numpy and pandas).
"""
import importlib.metadata as md
import json
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

wheelhouse, site, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
TOOLS = ["nbclient", "nbformat", "nbconvert", "ipykernel", "jupyter_client", "jupyter_core",
         "ipython", "nbval", "ipywidgets", "torchinfo", "matplotlib-inline"]
OWN = "alexnet-lesson"
start = time.time()


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


wheels = {norm(w.name.split("-")[0]): w for w in sorted(wheelhouse.glob("*.whl"))}
record = {"wheelhouse": str(wheelhouse), "site": str(site), "wheels_available": len(wheels)}
if not wheels:
    record.update(status="failed", error=f"no wheels in {wheelhouse}: run gpu_wheelhouse.sh")
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(record["error"])
    sys.exit(1)


def installed(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


chosen, how = [], "pip --dry-run --report"
with tempfile.TemporaryDirectory() as tmp:
    report = Path(tmp) / "report.json"
    tools = [t for t in TOOLS if norm(t) in wheels]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-index",
           "--find-links", str(wheelhouse), "--report", str(report), *tools]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode == 0 and report.is_file():
        for item in json.loads(report.read_text()).get("install", []):
            name = norm(item["metadata"]["name"])
            if name in wheels and name != OWN:
                chosen.append(name)
    else:
        how = "every wheel whose distribution is not installed"
        record["pip_dry_run_error"] = (run.stderr or run.stdout)[-2000:]
        chosen = [n for n in wheels if n != OWN and installed(n) is None]
if "d2l" in wheels and installed("d2l") is None and "d2l" not in chosen:
    chosen.append("d2l")  # always without its dependencies

site.mkdir(parents=True, exist_ok=True)
files = [str(wheels[n]) for n in chosen]
status = "passed"
if files:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
           "--no-compile", "--target", str(site), *files]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:  # no usable pip: a wheel is a zip file of what goes in site-packages
        record["pip_install_error"] = (run.stderr or run.stdout)[-2000:]
        how += "; unpacked with zipfile (pip install failed)"
        for f in files:
            with zipfile.ZipFile(f) as z:
                z.extractall(site, [m for m in z.namelist() if not m.split("/")[0].endswith(".data")])
record.update(
    status=status,
    resolved_by=how,
    installed=[wheels[n].name for n in chosen],
    seconds=round(time.time() - start, 1),
)
out.write_text(json.dumps(record, indent=2) + "\n")
print(f"installed {len(chosen)} wheel(s) into {site} ({how}):")
print("  " + "\n  ".join(record["installed"]) if chosen else "  nothing was missing")
EOF

cat > "$work/pick_data.py" << 'EOF'
"""Print the Fashion-MNIST folder to use: $ALEXNET_LESSON_DATA when it holds real images, else
the candidate with the most training images, else nothing."""
import os
import sys
from pathlib import Path

from alexnet_lesson import data

repo = Path(sys.argv[1])
candidates = [repo / ".whl" / "data", repo / "shared" / "data" / "fashion-mnist",
              repo / "shared" / "data" / "fashion-mnist-sample",
              repo.parent / "shared" / "data" / "fashion-mnist-sample", data.data_dir()]
if os.environ.get(data.DATA_VAR):
    candidates = [os.environ[data.DATA_VAR]]
best = None
for root in filter(None, candidates):
    try:
        files = data.open_fashion_mnist(root, download=False)
    except Exception:  # noqa: BLE001 (missing, unreadable, or not IDX: try the next one)
        continue
    if files.kind != "synthetic" and (best is None or files.n_train > best.n_train):
        best = files
print(best.root if best else "")
EOF

cat > "$work/environment.py" << 'EOF'
"""Versions, the device, the data, and whether every tool the steps use imports; as JSON."""
import importlib
import importlib.metadata as md
import json
import platform
import shutil
import subprocess
import sys

out, mode = sys.argv[1], sys.argv[2]
info = {"python": platform.python_version(), "executable": sys.executable,
        "platform": platform.platform(), "mode": mode}
versions, missing = {}, []
for module, dist in [("torch", "torch"), ("torchvision", "torchvision"), ("numpy", "numpy"),
                     ("pandas", "pandas"), ("matplotlib", "matplotlib"), ("pytest", "pytest"),
                     ("nbclient", "nbclient"), ("nbformat", "nbformat"),
                     ("ipykernel", "ipykernel"), ("jupyter_client", "jupyter_client"),
                     ("IPython", "ipython"), ("ipywidgets", "ipywidgets"),
                     ("torchinfo", "torchinfo"), ("d2l", "d2l"), ("onnx", "onnx"),
                     ("onnxruntime", "onnxruntime"), ("onnxscript", "onnxscript"),
                     ("nbconvert", "nbconvert"), ("alexnet_lesson", "alexnet-lesson")]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001
        versions[dist] = None
        missing.append(f"{module} ({type(exc).__name__}: {exc})")
        continue
    try:
        versions[dist] = md.version(dist)
    except md.PackageNotFoundError:
        versions[dist] = getattr(mod, "__version__", "importable")
    versions[dist + "_from"] = getattr(mod, "__file__", None)
info["versions"] = versions
optional = {"nbconvert", "onnx", "onnxruntime", "onnxscript"}
info["missing"] = missing
info["missing_required"] = [m for m in missing if m.split(" ")[0] not in optional]

import torch  # noqa: E402

cuda = torch.cuda.is_available()
info["cuda_available"] = cuda
info["torch_cuda"] = torch.version.cuda
info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
if cuda:
    props = torch.cuda.get_device_properties(0)
    info["gpu"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                   "memory_gib": round(props.total_memory / 2**30, 1),
                   "count": torch.cuda.device_count(),
                   "is_bf16_supported": torch.cuda.is_bf16_supported()}
    from alexnet_lesson.train import amp_dtype

    info["gpu"]["auto_amp"] = str(amp_dtype("cuda")).replace("torch.", "")
if shutil.which("nvidia-smi"):
    q = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    smi = subprocess.run(q, capture_output=True, text=True)
    info["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
from alexnet_lesson import data  # noqa: E402

files = data.open_fashion_mnist(fallback="synthetic", timeout=2.0)
info["data"] = {"root": str(files.root), "kind": files.kind, "n_train": files.n_train,
                "n_test": files.n_test, "describe": files.describe()}
with open(out, "w") as f:
    json.dump(info, f, indent=2)
    f.write("\n")
print(json.dumps({k: info[k] for k in ("python", "cuda_available", "torch_cuda")}))
print("gpu:", info.get("gpu"), "| nvidia-smi:", info.get("nvidia_smi"))
print("versions:", {k: v for k, v in versions.items() if not k.endswith("_from")})
print("data:", info["data"]["describe"], "at", info["data"]["root"])
if info["missing_required"]:
    print("MISSING:", "; ".join(info["missing_required"]))
if mode == "gpu" and not cuda:
    print("NO CUDA GPU visible to torch: the GPU steps will fail or skip")
if info["missing_required"] or (mode == "gpu" and not cuda):
    sys.exit(1)
EOF

cat > "$work/run_notebook.py" << 'EOF'
"""Execute one notebook with nbclient in a fresh kernel; write it and a JSON record.

Stops by itself before LIMIT seconds (the cell that runs then times out), so that the kernel
is shut down cleanly; the kernel's pid goes to PIDFILE for the shell to kill if all else fails.
"""
import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

src, dst, out, limit, pidfile = sys.argv[1:6]
start = time.time()
deadline = start + float(limit) - 25  # time to write the results and stop the kernel
nb = nbformat.read(src, as_version=4)
for cell in nb.cells:  # no stored output may pass for this run's
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
pid_written = False
# A kernel spec of our own, first on JUPYTER_PATH: the kernel runs this very interpreter (and
# inherits PYTHONPATH), whatever kernel specs the machine has or lacks.
spec = Path(os.environ["JUPYTER_RUNTIME_DIR"]).parent / "path" / "kernels" / "python3"
spec.mkdir(parents=True, exist_ok=True)
argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
(spec / "kernel.json").write_text(json.dumps(kernel))
os.environ["JUPYTER_PATH"] = str(spec.parent.parent)


last_cell = None


def on_cell_start(cell_index=None, **kwargs):
    global pid_written, last_cell
    last_cell = cell_index
    if pid_written:
        return
    prov = getattr(client.km, "provisioner", None)
    pid = getattr(prov, "pid", None) or getattr(getattr(prov, "process", None), "pid", None)
    if pid:
        Path(pidfile).write_text(str(pid))
        pid_written = True


def on_term(signum, frame):
    raise KeyboardInterrupt("terminated")


client = NotebookClient(
    nb,
    timeout=600,
    timeout_func=lambda cell: max(5, int(deadline - time.time())),
    kernel_name="python3",
    resources={"metadata": {"path": str(Path(src).parent)}},
    on_cell_start=on_cell_start,
    shutdown_kernel="immediate",  # after a timeout the kernel may be busy for minutes
)
signal.signal(signal.SIGTERM, on_term)
record = {"notebook": src, "executed": dst, "status": "passed",
          "smoke": os.environ.get("ALEXNET_LESSON_SMOKE")}
try:
    client.execute()
except CellTimeoutError as exc:
    record.update(status="timeout", error=str(exc)[-1500:])
except CellExecutionError as exc:
    record.update(status="failed", error=f"{exc.ename}: {exc.evalue}"[-1500:])
except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 (a dead kernel, a signal, …)
    record.update(status="failed", error=f"{type(exc).__name__}: {exc}"[-1500:])
record["seconds"] = round(time.time() - start, 1)
code = [c for c in nb.cells if c.cell_type == "code"]
record["cells"] = len(code)
record["cells_run"] = sum(1 for c in code if c.get("execution_count"))
record["last_cell_started"] = last_cell
for i, cell in enumerate(nb.cells):
    if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
        record["error_cell"] = i
        break
Path(dst).parent.mkdir(parents=True, exist_ok=True)
nbformat.write(nb, dst)
Path(out).write_text(json.dumps(record, indent=2) + "\n")
print(f"{Path(src).name}: {record['status']} in {record['seconds']} s, "
      f"{record['cells_run']}/{record['cells']} code cells run")
if record.get("error"):
    print(record["error"])
sys.exit(0 if record["status"] == "passed" else 1)
EOF

cat > "$work/summary.py" << 'EOF'
"""Gather every step's results into OUT/summary.json; print the essentials; exit 0, 1 or 3."""
import csv
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

out, repo, mode, started, runs = (Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3],
                                  float(sys.argv[4]), Path(sys.argv[5]))
TARGET_RATIO, TARGET_H200 = 10.0, 40_000


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def texts(nb):
    """Every cell's text outputs (streams, plain text, markdown), one string per cell."""
    result = []
    for cell in nb.get("cells", []):
        parts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                parts.append("".join(o.get("text", "")))
            for key in ("text/markdown", "text/plain"):
                v = o.get("data", {}).get(key)
                if v:
                    parts.append("".join(v))
        result.append("\n".join(parts))
    return "\n".join(result)


def find(pattern, text, cast=float):
    m = re.search(pattern, text or "", re.S)
    return cast(m.group(1)) if m else None


def flag(text):
    return text == "True"


ACC07 = r"d2l's recipe reaches test accuracy \*\*([\d.]+)\*\*, ours\s*\*\*([\d.]+)\*\*"
RATIO07 = r"ours runs at ([\d.]+)\S* d2l's images per\s*second"

steps = {}
for row in csv.reader((out / "steps.tsv").open(), delimiter="\t"):
    name, status, rc, seconds, limit = row[:5]
    steps[name] = {"status": status, "rc": int(rc) if rc else None, "seconds": float(seconds),
                   "limit_s": int(limit), "log": f"logs/{name}.log"}
summary = {"check": "benchmarks/gpu_check.sh", "mode": mode,
           "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
           "wall_s": round(time.time() - started, 1), "steps": steps,
           "environment": load(out / "environment.json"), "install": load(out / "install.json")}
env = summary["environment"] or {}

tests = {"junit": "cuda-tests.xml"}
try:
    root = ET.parse(out / "cuda-tests.xml").getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for key in ("tests", "failures", "errors", "skipped"):
        tests[key] = sum(int(s.get(key, 0)) for s in suites)
    tests["passed"] = tests["tests"] - tests["failures"] - tests["errors"] - tests["skipped"]
    tests["not_passed"] = [
        {"test": c.get("name"), "message": (c.find("failure") if c.find("failure") is not None
                                            else c.find("error")).get("message", "")[:500]}
        for c in root.iter("testcase") if c.find("failure") is not None or c.find("error") is not None
    ]
except (OSError, ET.ParseError):
    tests["error"] = "no junit report"
tests["measured"] = load(out / "cuda-tests-record.json")
summary["cuda_tests"] = tests
summary["throughput"] = load(out / "throughput.json")

notebooks = {}
for name in ("07_training", "08_evaluation"):
    rec = load(out / "notebooks" / f"{name}.json") or {"status": "not run"}
    executed = load(out / "notebooks" / f"{name}.ipynb")
    text = texts(executed) if executed else ""
    if name == "07_training":
        m = re.search(ACC07, text, re.S)
        rec["d2l_test_acc"], rec["ours_test_acc"] = (float(m[1]), float(m[2])) if m else (None, None)
        rec["ours_over_d2l_images_per_s"] = find(RATIO07, text)
        rec["plan"] = find(r"This run: the (.+?) plan", text, str)
        rec["resume_same_history"] = find(r"same history: (True|False)", text, flag)
        rec["checkpoint_accuracy_as_stored"] = find(r"test accuracy as stored: (True|False)", text, flag)
        for csv_path in sorted(runs.glob("lesson07-*/history.csv")):
            rows = list(csv.DictReader(csv_path.open()))
            if rows:
                rates = [float(r["images_per_s"]) for r in rows]
                rec["history"] = {
                    "epochs": len(rows), "final_test_acc": float(rows[-1]["test_acc"]),
                    "best_test_acc": max(float(r["test_acc"]) for r in rows),
                    "train_images_per_s_median": sorted(rates)[len(rates) // 2],
                    "train_images_per_s_max": max(rates),
                    "seconds_total": round(sum(float(r["seconds"]) for r in rows), 1)}
    else:
        rec["test_acc"] = find(r"accuracy ([\d.]+), top-2 accuracy", text)
        rec["top2_acc"] = find(r"top-2 accuracy ([\d.]+)", text)
        rec["used_lesson07_model"] = "Loaded lesson 07's model" in text
        rec["onnx_installed"] = find(r"ONNX extra installed: (True|False)", text, flag)
    notebooks[name] = rec
summary["notebooks"] = notebooks

# the targets, judged on a GPU only
targets = {}
if mode == "gpu":
    tp = summary["throughput"] or {}
    ratio = tp.get("ratio")
    targets["ratio_to_d2l"] = {"target": f">= {TARGET_RATIO:g}", "measured": ratio,
                               "met": None if ratio is None else ratio >= TARGET_RATIO}
    gpu = (env.get("gpu") or {}).get("name", "")
    ours = (tp.get("ours") or {})
    h200 = {"target": f">= {TARGET_H200:,} training images/s, d2l variant at 224, bf16, on an H200",
            "measured": ours.get("images_per_s"), "amp": ours.get("amp"), "gpu": gpu}
    if "H200" in gpu and ours.get("images_per_s") is not None:
        h200["met"] = ours["images_per_s"] >= TARGET_H200 and ours.get("amp") == "bfloat16"
    else:
        h200["met"] = None
        h200["note"] = "judged on an H200 only"
    targets["h200_images_per_s"] = h200
    stored = json.loads((repo / "notebooks" / "07_training.ipynb").read_text())
    m = re.search(ACC07, texts(stored), re.S)
    reference = float(m[2]) if m else None
    got = notebooks["07_training"].get("ours_test_acc")
    real = (env.get("data") or {}).get("kind") in ("sample", "full")
    targets["accuracy_vs_cpu_run"] = {
        "target": "ten epochs at >= the CPU run's test accuracy (lesson 07's stored outputs)",
        "measured": got, "cpu_reference": reference,
        "epochs": (notebooks["07_training"].get("history") or {}).get("epochs"),
        "cpu_reference_plan": find(r"This run: the (.+?) plan", texts(stored), str),
        "data": (env.get("data") or {}).get("describe"),
        "met": (got >= reference) if (got is not None and reference is not None and real) else None}
summary["targets"] = targets

failed = [n for n, s in steps.items() if s["status"] != "passed"]
missed = [n for n, t in targets.items() if t.get("met") is False]
summary["ok"] = not failed
summary["failed_steps"] = failed
summary["missed_targets"] = missed
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

print(f"=== summary ({mode}), {summary['wall_s']} s in all: {out / 'summary.json'}")
for n, s in steps.items():
    print(f"  {n:12} {s['status']:8} {s['seconds']:7.1f} s  (limit {s['limit_s']} s)")
t = summary["cuda_tests"]
if "tests" in t:
    print(f"  cuda tests: {t['passed']} passed, {t['failures'] + t['errors']} failed, "
          f"{t['skipped']} skipped")
tp = summary["throughput"] or {}
if tp.get("ratio"):
    print(f"  throughput: d2l {tp['d2l']['images_per_s']:,.0f} images/s, ours "
          f"{tp['ours']['images_per_s']:,.0f} ({tp['ours']['amp']}), ratio {tp['ratio']:.2f}x, "
          f"peak {tp['ours']['peak_mib']:,.0f} MiB")
for n, t in targets.items():
    print(f"  target {n}: measured {t.get('measured')}, met: {t.get('met')}")
sys.exit(1 if failed else 3 if missed else 0)
EOF

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
  run_step install 120 "$py" "$work/install.py" "$wheelhouse" "$site" "$OUT/install.json"
  export PYTHONPATH="$repo:$site${PYTHONPATH#"$repo"}"
  export PATH="$site/bin:$PATH"
fi

data_root=$(timeout 60 "$py" "$work/pick_data.py" "$repo" 2> /dev/null | tail -1 || true)
if [ -n "$data_root" ]; then
  export ALEXNET_LESSON_DATA=$data_root
else
  export ALEXNET_LESSON_DATA=$work/data # the lessons write synthetic data there
fi
echo "data: $ALEXNET_LESSON_DATA"

run_step environment 90 "$py" "$work/environment.py" "$OUT/environment.json" "$mode"

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
  [ "$dry" = 1 ] && limit=120
  MPLBACKEND=module://matplotlib_inline.backend_inline \
    run_step "notebook_${nb%%_*}" "$limit" "$py" "$work/run_notebook.py" "notebooks/$nb.ipynb" \
    "$OUT/notebooks/$nb.ipynb" "$OUT/notebooks/$nb.json" "$limit" "$work/$nb.kernel.pid"
  if [ -s "$work/$nb.kernel.pid" ] && kill -0 "$(cat "$work/$nb.kernel.pid")" 2> /dev/null; then
    kill "$(cat "$work/$nb.kernel.pid")" 2> /dev/null || true # a kernel left by a killed runner
  fi
done

set +e
timeout 60 "$py" "$work/summary.py" "$OUT" "$repo" "$mode" "$started" "$ALEXNET_LESSON_RUNS"
rc=$?
set -e
[ -f "$OUT/summary.json" ] || rc=1
exit "$rc"
