"""Execute lesson notebooks in place, the way their stored outputs are made.

    python tools/execute_notebooks.py notebooks/07_training.ipynb notebooks/08_evaluation.ipynb
    python tools/execute_notebooks.py --smoke notebooks/*.ipynb     # quick check, smoke mode

Full mode by default (``ALEXNET_LESSON_SMOKE=0``), on the data ``ALEXNET_LESSON_DATA`` names
(CI's sample when it is set). Each call gets one fresh runs folder, shared by the notebooks it
runs, so lesson 08 finds the model that lesson 07 trained in the same call and nothing resumes
from an older run. Widget state is stored with the notebook (static renderers show the last
view), per-run timestamps are not (rebuilds give small diffs), and cell ids are kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int) -> float:
    """Run one notebook top to bottom in a fresh kernel and write it back; return the seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        store_widget_state=True,
    )
    start = time.perf_counter()
    client.execute()
    nb.metadata["language_info"] = {"name": "python"}  # no patch version: rebuilds diff less
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--smoke", action="store_true", help="smoke mode instead of full mode")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    os.environ["ALEXNET_LESSON_SMOKE"] = "1" if args.smoke else "0"
    os.environ["ALEXNET_LESSON_RUNS"] = tempfile.mkdtemp(prefix="alexnet-lesson-runs-")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for path in args.notebooks:
        print(f"{path}: {execute(path, args.timeout):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
