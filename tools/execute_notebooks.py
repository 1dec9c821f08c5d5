"""Execute lesson notebooks in place, the way their stored outputs are made.

    python tools/execute_notebooks.py notebooks/07_training.ipynb notebooks/08_evaluation.ipynb
    python tools/execute_notebooks.py --smoke notebooks/*.ipynb     # quick check, smoke mode
    python tools/execute_notebooks.py --runs ~/runs notebooks/08_evaluation.ipynb  # a kept folder

Full mode by default (``ALEXNET_LESSON_SMOKE=0``), on the data ``ALEXNET_LESSON_DATA`` names
(CI's sample when it is set). Each call gets one fresh runs folder, shared by the notebooks it
runs, so lesson 08 finds the model that lesson 07 trained in the same call and nothing resumes
from an older run; ``--runs DIR`` uses (and keeps) a folder of your own instead, e.g. one whose
``lesson07-cpu-long`` run was trained beforehand (``ALEXNET_LESSON_PLAN=cpu-long``), which the
notebook then reads back instead of training again. Widget state is stored with the notebook (static renderers show the last
view), per-run timestamps are not (rebuilds give small diffs), and cell ids are kept. A notebook
that fails is not written; its error is printed.

:func:`execute` is the project's one notebook runner: ``benchmarks/gpu_check/run_notebook.py``
calls it too, with a deadline and a file for the kernel's pid.
"""

from __future__ import annotations

import argparse
import html
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbformat import NotebookNode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_notebooks  # noqa: E402  (this folder's sibling)


def _client(
    nb: NotebookNode,
    folder: Path,
    timeout: int,
    deadline: float | None,
    pidfile: Path | None,
    record_timing: bool,
) -> tuple[NotebookClient, dict]:
    """An nbclient client whose cells stop at ``deadline`` (epoch seconds) if one is given, and
    which writes its kernel's pid to ``pidfile``; the dict holds the index of the last cell begun."""
    state: dict = {"last_cell": None, "pid_written": pidfile is None}

    def on_cell_start(cell_index: int | None = None, **_: object) -> None:
        state["last_cell"] = cell_index
        if state["pid_written"]:
            return
        prov = getattr(client.km, "provisioner", None)
        pid = getattr(prov, "pid", None) or getattr(getattr(prov, "process", None), "pid", None)
        if pid:
            Path(pidfile).write_text(str(pid))
            state["pid_written"] = True

    client = NotebookClient(
        nb,
        timeout=timeout,
        timeout_func=None if deadline is None else lambda cell: max(5, int(deadline - time.time())),
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        on_cell_start=on_cell_start,
        shutdown_kernel="immediate",  # after a timeout the kernel may be busy for minutes
        store_widget_state=True,
        record_timing=record_timing,
    )
    return client, state


def execute(
    path: Path,
    timeout: int = 900,
    *,
    deadline: float | None = None,
    pidfile: Path | None = None,
    record_timing: bool = False,
) -> tuple[NotebookNode, dict]:
    """Run one notebook top to bottom in a fresh kernel; return it executed and a record.

    Stored outputs are cleared first, so that none can pass for this run's. The record says
    ``status`` (passed, failed or timeout), ``error`` and ``error_cell`` where it failed,
    ``seconds``, ``cells`` and ``cells_run`` (code cells), ``last_cell_started``. Nothing is
    written: the caller decides where the executed notebook goes.

    Example:
        >>> nb, record = execute(Path("notebooks/02_shapes.ipynb"))  # doctest: +SKIP
        >>> record["status"]  # doctest: +SKIP
        'passed'
    """
    start = time.time()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client, state = _client(nb, Path(path).parent, timeout, deadline, pidfile, record_timing)
    record = {"notebook": str(path), "status": "passed"}
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
    record["last_cell_started"] = state["last_cell"]
    for i, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            record["error_cell"] = i
            break
    return nb, record


def error_traceback(nb: NotebookNode, record: dict) -> str:
    """The failing cell's traceback as the kernel printed it, else the record's error."""
    if "error_cell" not in record:
        return record.get("error", "")
    outputs = nb.cells[record["error_cell"]].get("outputs", [])
    lines = [line for o in outputs if o.get("output_type") == "error" for line in o.traceback]
    return f"cell {record['error_cell']}:\n" + "\n".join(lines)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TQDM_BOXES = [["HTMLModel", f"{kind}ProgressModel", "HTMLModel"] for kind in ("Float", "Int")]


def finish_progress_bars(nb: NotebookNode) -> int:
    """Show every stored tqdm bar as it finished; return how many were changed.

    A tqdm bar in a notebook is a box of (label, progress, counts) widgets. Its output's
    ``text/plain``, which static renderers show, is the bar as it was first drawn (0%), and a bar
    made with ``leave=False`` is hidden when it closes; the stored widget state holds the last
    values. This writes those values into ``text/plain`` and makes finished bars visible.

    Example:
        >>> finish_progress_bars(nbformat.v4.new_notebook())
        0
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})

    def model(ref: str) -> dict:
        return state.get(ref.removeprefix("IPY_MODEL_"), {}).get("state", {})

    def kinds(box: dict) -> list[str]:
        return [model(ref).get("_model_name", "") for ref in box.get("children", [])]

    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            box = model(out.get("data", {}).get(WIDGET_VIEW, {}).get("model_id", ""))
            if box.get("_model_name") != "HBoxModel" or kinds(box) not in TQDM_BOXES:
                continue
            parts = [model(ref) for ref in box["children"]]
            label, bar, counts = parts
            done = bar["value"] / bar["max"] if bar["max"] else 0.0
            blocks = "█" * round(10 * done) + " " * (10 - round(10 * done))
            text = f"{html.unescape(label['value'])}|{blocks}|{html.unescape(counts['value'])}"
            out.data["text/plain"] = text.replace("\u2007", " ")
            if done >= 1 and model(box["layout"]).get("visibility") == "hidden":
                model(box["layout"])["visibility"] = None
            changed += 1
    return changed


STATIC_WIDGET = "An interactive control: run the notebook in Jupyter to use it."


def static_widget_text(nb: NotebookNode) -> int:
    """Give every stored widget but a progress bar one line of ``text/plain``; return how many.

    A page that cannot run widgets (GitHub, a rendered site, nbviewer without the widget state)
    shows an output's ``text/plain``, for a widget its repr (``VBox(children=(IntSlider(…``).
    JupyterLab draws the widget from the view and the stored state, and ignores this text.

    Example:
        >>> static_widget_text(nbformat.v4.new_notebook())
        0
    """
    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = data.get("text/plain", "")
            if WIDGET_VIEW in data and text != STATIC_WIDGET and "|" not in text[:80]:
                data["text/plain"] = STATIC_WIDGET  # a tqdm bar's text holds |█…|: kept
                changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--smoke", action="store_true", help="smoke mode instead of full mode")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--runs", type=Path, help="a runs folder to use and keep (default: fresh)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    os.environ["ALEXNET_LESSON_SMOKE"] = "1" if args.smoke else "0"
    runs = str(args.runs) if args.runs else tempfile.mkdtemp(prefix="alexnet-lesson-runs-")
    os.environ["ALEXNET_LESSON_RUNS"] = runs
    os.environ.setdefault("PYTHONHASHSEED", "0")
    try:
        return _execute_all(args.notebooks, args.timeout)
    finally:
        if not args.runs:
            shutil.rmtree(runs, ignore_errors=True)  # lesson 07's checkpoints: over 500 MB


def _execute_all(paths: list[Path], timeout: int) -> int:
    for path in paths:
        nb, record = execute(path, timeout)
        if record["status"] != "passed":
            print(f"{path}: {record['status']}, not written", file=sys.stderr)
            print(error_traceback(nb, record), file=sys.stderr)
            return 1
        finish_progress_bars(nb)
        static_widget_text(nb)
        version, repository = sync_notebooks.project()
        nb = sync_notebooks.synced(nb, Path(path).name, version, repository)
        nbformat.write(nb, path)
        print(f"{path}: {record['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
