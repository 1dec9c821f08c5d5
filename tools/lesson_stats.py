"""Per lesson: code cells, words of prose, checked exercises, the outline's slot, and a rough
reading-and-running estimate, for notebooks as they are or as they were at a git revision.

    python tools/lesson_stats.py                 # the working tree
    python tools/lesson_stats.py --rev 89d45af   # an earlier commit

The estimate is a yardstick, not a measurement: prose at 100 words a minute (a student reading
carefully), 1.5 minutes per code cell (read, run, look at the output), 5 minutes per exercise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def stats(nb: nbformat.NotebookNode) -> dict:
    code = [c for c in nb.cells if c.cell_type == "code"]
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    words = len(re.findall(r"\w+", prose))
    exercises = sum("exercises.check(" in c.source for c in code)
    slot = re.search(r"Outline \((\d+) min", prose)
    estimate = words / 100 + 1.5 * len(code) + 5 * exercises
    return {
        "code cells": len(code),
        "words": words,
        "exercises": exercises,
        "outline (min)": int(slot[1]) if slot else None,
        "estimate (min)": round(estimate),
    }


def notebooks(rev: str | None) -> dict[str, nbformat.NotebookNode]:
    if rev is None:
        paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
        return {p.stem: nbformat.read(p, as_version=4) for p in paths}
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "notebooks/"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    found = {}
    for name in sorted(n for n in names if re.match(r"notebooks/\d.*\.ipynb$", n)):
        text = subprocess.run(
            ["git", "show", f"{rev}:{name}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        found[Path(name).stem] = nbformat.reads(text, as_version=4)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    args = parser.parse_args(argv)
    rows = {name: stats(nb) for name, nb in notebooks(args.rev).items()}
    keys = list(next(iter(rows.values())))
    print(f"{'lesson':22}" + "".join(f"{k:>16}" for k in keys))
    for name, row in rows.items():
        print(f"{name:22}" + "".join(f"{str(row[k]):>16}" for k in keys))
    total = {k: sum(r[k] or 0 for r in rows.values()) for k in keys}
    print(f"{'total':22}" + "".join(f"{total[k]:>16}" for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
