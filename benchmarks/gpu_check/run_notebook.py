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
record = {
    "notebook": src,
    "executed": dst,
    "status": "passed",
    "smoke": os.environ.get("ALEXNET_LESSON_SMOKE"),
}
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
print(
    f"{Path(src).name}: {record['status']} in {record['seconds']} s, "
    f"{record['cells_run']}/{record['cells']} code cells run"
)
if record.get("error"):
    print(record["error"])
sys.exit(0 if record["status"] == "passed" else 1)
