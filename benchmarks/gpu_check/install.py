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
TOOLS = [
    "nbclient",
    "nbformat",
    "nbconvert",
    "ipykernel",
    "jupyter_client",
    "jupyter_core",
    "ipython",
    "nbval",
    "ipywidgets",
    "torchinfo",
    "matplotlib-inline",
]
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
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--report",
        str(report),
        *tools,
    ]
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
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--target",
        str(site),
        *files,
    ]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:  # no usable pip: a wheel is a zip file of what goes in site-packages
        record["pip_install_error"] = (run.stderr or run.stdout)[-2000:]
        how += "; unpacked with zipfile (pip install failed)"
        for f in files:
            with zipfile.ZipFile(f) as z:
                z.extractall(
                    site, [m for m in z.namelist() if not m.split("/")[0].endswith(".data")]
                )
record.update(
    status=status,
    resolved_by=how,
    installed=[wheels[n].name for n in chosen],
    seconds=round(time.time() - start, 1),
)
out.write_text(json.dumps(record, indent=2) + "\n")
print(f"installed {len(chosen)} wheel(s) into {site} ({how}):")
print("  " + "\n  ".join(record["installed"]) if chosen else "  nothing was missing")
