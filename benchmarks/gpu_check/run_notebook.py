"""Execute one notebook with nbclient in a fresh kernel; write it and a JSON record.

    run_notebook.py SRC DST RECORD LIMIT PIDFILE

The runner is ``tools/execute_notebooks.py``'s :func:`execute`; this adds what the GPU check
needs. It stops by itself before LIMIT seconds (the cell that runs then times out), so that the
kernel is shut down cleanly; the kernel's pid goes to PIDFILE for the shell to kill if all else
fails. The executed notebook is written to DST, errors included; exit status 0 if it passed.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from execute_notebooks import execute  # noqa: E402


def own_kernel_spec() -> None:
    """A kernel spec of our own, first on JUPYTER_PATH: the kernel runs this very interpreter (and
    inherits PYTHONPATH), whatever kernel specs the machine has or lacks."""
    spec = Path(os.environ["JUPYTER_RUNTIME_DIR"]).parent / "path" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    os.environ["JUPYTER_PATH"] = str(spec.parent.parent)


def on_term(signum, frame):
    raise KeyboardInterrupt("terminated")


def main(src: str, dst: str, out: str, limit: str, pidfile: str) -> int:
    deadline = time.time() + float(limit) - 25  # time to write the results and stop the kernel
    own_kernel_spec()
    signal.signal(signal.SIGTERM, on_term)
    nb, record = execute(
        Path(src), 600, deadline=deadline, pidfile=Path(pidfile), record_timing=True
    )
    record["executed"] = dst
    record["smoke"] = os.environ.get("ALEXNET_LESSON_SMOKE")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    Path(out).write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"{Path(src).name}: {record['status']} in {record['seconds']} s, "
        f"{record['cells_run']}/{record['cells']} code cells run"
    )
    if record.get("error"):
        print(record["error"])
    return 0 if record["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
