#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with what benchmarks/gpu_check.sh needs on a bare GPU machine that has
# no internet: manylinux x86_64 / CPython 3.12 wheels of exactly the packages such a machine lacks
# (Jupyter's notebook runner and kernel, nbval, ipywidgets, torchinfo, d2l and their
# dependencies), this package's wheel, and the Fashion-MNIST sample (gzipped IDX files) so that
# the GPU trains on real images. Run it here, on a machine with PyPI, then carry .whl/ along.
#
#   bash benchmarks/gpu_wheelhouse.sh            # fills .whl/ (starts from an empty one)
#   bash benchmarks/gpu_wheelhouse.sh --no-data  # wheels only
#
# The GPU machine is taken to have (docs/gpu-check.md): python3 3.12 with torch, torchvision,
# numpy, pandas, matplotlib, pillow, tqdm, pytest, onnx, onnxruntime, onnxscript, scipy,
# requests, PyYAML, rich and their dependencies. Versions come from requirements.lock (its
# Python 3.12 lines) and d2l's from requirements-nodeps.txt. The wheelhouse must stay under
# 64 MiB (what the device machine's carry takes); this script measures it and fails above.
set -euo pipefail

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

data=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-data) data=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-python3}
dest=$repo/.whl
limit_mib=64
# The target: the GPU machine's interpreter.
target=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64)
# What gpu_check.sh imports that the GPU machine lacks (their dependencies follow).
wanted=(nbclient nbformat nbconvert ipykernel jupyter_client jupyter_core ipython nbval
  ipywidgets torchinfo matplotlib-inline)
# On the GPU machine already (its own list, and what those need): never downloaded.
present=(torch torchvision numpy pandas matplotlib pillow tqdm pytest onnx onnxruntime onnxscript
  scipy requests pyyaml rich pluggy iniconfig packaging pygments jinja2 markupsafe typing-extensions
  python-dateutil six tzdata contourpy cycler fonttools kiwisolver pyparsing urllib3 idna certifi
  charset-normalizer markdown-it-py mdurl filelock fsspec networkx sympy mpmath setuptools protobuf
  ml-dtypes onnx-ir flatbuffers triton)

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-wheelhouse.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

echo "=== constraints: requirements.lock for CPython 3.12 on Linux x86_64"
"$py" - "$repo/requirements.lock" "$repo/requirements-nodeps.txt" > "$work/constraints.txt" <<'EOF'
import re
import sys

try:
    from packaging.markers import Marker
except ImportError:  # a bare interpreter: pip's own copy
    from pip._vendor.packaging.markers import Marker

env = {
    "python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}
for path in sys.argv[1:]:
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;]+)\s*(?:;(.*))?$", line)
        if m and (not m.group(3) or Marker(m.group(3).strip()).evaluate(env)):
            print(f"{m.group(1)}=={m.group(2)}")
EOF
d2l=$(grep -E '^d2l==' "$work/constraints.txt" || echo "d2l==1.0.3")
echo "$(wc -l < "$work/constraints.txt") pins; $d2l"

echo "=== downloading ${wanted[*]} and their dependencies (cp312, manylinux x86_64)"
if ! { "$py" -m pip download -q --dest "$work/all" "${target[@]}" -c "$work/constraints.txt" \
  "${wanted[@]}" && "$py" -m pip download -q --dest "$work/all" "${target[@]}" --no-deps "$d2l"; } \
  > "$work/download.log" 2>&1; then
  cat "$work/download.log" >&2
  echo "pip download failed (is PyPI reachable?)" >&2
  exit 1
fi

echo "=== building this package's wheel (from a copy of its sources)"
mkdir -p "$work/src"
cp -r "$repo/pyproject.toml" "$repo/README.md" "$repo/alexnet_lesson" "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
if ! "$py" -m pip wheel -q --no-deps --wheel-dir "$work/own" "$work/src" > "$work/build.log" 2>&1 \
  && ! "$py" -m pip wheel -q --no-deps --no-build-isolation --wheel-dir "$work/own" "$work/src" \
    >> "$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "could not build this package's wheel" >&2
  exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
kept=0
skipped=()
for wheel in "$work"/all/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr '[:upper:]_.' '[:lower:]--')
  if printf '%s\n' "${present[@]}" | grep -qx -- "$name"; then
    skipped+=("$name")
  else
    cp "$wheel" "$dest/"
    kept=$((kept + 1))
  fi
done
cp "$work"/own/*.whl "$dest/"
echo "left out (on the GPU machine already): ${skipped[*]:-none}"

if [ "$data" = 1 ]; then
  sample=""
  for d in "${ALEXNET_LESSON_DATA:-}" "$repo/shared/data/fashion-mnist-sample" \
    "$repo/../shared/data/fashion-mnist-sample"; do
    if [ -n "$d" ] && [ -f "$d/FashionMNIST/raw/train-labels-idx1-ubyte" ]; then
      sample=$d
      break
    fi
  done
  if [ -n "$sample" ]; then
    mkdir -p "$dest/data/FashionMNIST/raw"
    for f in "$sample"/FashionMNIST/raw/*-ubyte; do
      gzip -9 -c "$f" > "$dest/data/FashionMNIST/raw/$(basename "$f").gz"
    done
    echo "data: the Fashion-MNIST images of $sample, gzipped, in .whl/data"
  else
    echo "data: no Fashion-MNIST sample found here; the GPU check will use synthetic data"
  fi
fi

for wheel in "$dest"/*.whl; do
  printf '%9d  %s\n' "$(stat -c %s "$wheel")" "$(basename "$wheel")"
done > "$work/list"
{
  echo "# Wheels for benchmarks/gpu_check.sh (bash benchmarks/gpu_wheelhouse.sh, $(date -u +%F))"
  echo "# bytes  file"
  cat "$work/list"
} > "$dest/MANIFEST.txt"
total=$(du -sb "$dest" | cut -f1)
wheels=$(cat "$dest"/*.whl | wc -c)
echo "=== .whl/: $((kept + 1)) wheels, $((wheels / 1024)) KiB of wheels, $((total / 1024)) KiB in all"
cat "$work/list"
if [ "$total" -ge $((limit_mib * 1024 * 1024)) ]; then
  echo "the wheelhouse is $((total / 1048576)) MiB: over the ${limit_mib} MiB a device run can carry" >&2
  exit 1
fi
echo "under the ${limit_mib} MiB limit; carry .whl along: run(command=\"bash benchmarks/gpu_check.sh\", carry=[\".whl\"])"
