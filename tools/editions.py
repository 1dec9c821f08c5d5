"""Student and instructor editions of the lessons, from the stored notebooks.

    python tools/editions.py --out DIR             # DIR/student/ and DIR/instructor/
    python tools/editions.py --out DIR --replace   # over editions written before

``DIR/student/``: each lesson as stored, with every solution removed (the ``<details>`` blocks
under the exercises, not hidden but gone) and each exercise cell left as ``answer = ...`` with
its check and without output, so that a lecturer can hand it out as homework.

``DIR/instructor/``: each lesson as stored, with its solutions open, each exercise cell filled
with its answer (``instructor/answers.json``, which a test holds to every check), and the
lesson's teaching notes (``instructor/<lesson>.md``: minutes and what to stress for each part of
the outline, which parts to run live and which to show stored, the mistakes and questions
students bring, what to prepare) right after the outline.

Nothing is executed: the outputs are the stored ones. Only the lessons (``notebooks/NN_*.ipynb``)
are read; an edition folder that already holds notebooks is replaced only with ``--replace``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "instructor"
SOLUTION = re.compile(r"<details>\s*<summary>Solution</summary>.*?</details>\s*", re.S)
"""A solution block as the lessons write it (its text may hold code fences)."""
CHECK = re.compile(
    r'exercises\.check\(answer, "(?P<key>[0-9a-f]{12})"(?:, digits=(?P<digits>\d+))?\)'
)
"""The check call of an exercise cell: the answer's fingerprint and the digits compared."""
EMPTY_ANSWER = "answer = ..."


def lessons(folder: Path = ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks, in order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def is_exercise(cell: NotebookNode) -> bool:
    """A code cell that checks an answer."""
    return cell.cell_type == "code" and CHECK.search(cell.source) is not None


def _cleared(cell: NotebookNode) -> None:
    cell.outputs = []
    cell.execution_count = None


def student(nb: NotebookNode) -> NotebookNode:
    """The lesson without its solutions; exercise cells ``answer = ...`` and without output.

    A Markdown cell that held nothing but solutions is dropped. Raises ``ValueError`` when a
    solution is left that the pattern did not catch (a "Solution" heading outside a block).
    """
    out = copy.deepcopy(nb)
    kept = []
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = SOLUTION.sub("", cell.source).rstrip()
            if "<summary>Solution" in cell.source:
                raise ValueError(f"cell {cell.id}: a solution block this tool cannot remove")
            if not cell.source:
                continue
        elif is_exercise(cell):
            if EMPTY_ANSWER not in cell.source:
                raise ValueError(f"cell {cell.id}: an exercise cell without '{EMPTY_ANSWER}'")
            _cleared(cell)
        kept.append(cell)
    out.cells = kept
    return out


def answer_literal(value: object) -> str:
    """An answer as Python source: JSON's lists become tuples (the checks compare both alike).

    Example:
        >>> answer_literal([0.04, 117]), answer_literal(True), answer_literal("fc6")
        ('(0.04, 117)', 'True', "'fc6'")
    """
    if isinstance(value, list):
        return "(" + ", ".join(answer_literal(v) for v in value) + ")"
    return repr(value)


def notes_cell(notes: str) -> NotebookNode:
    """The teaching notes as the instructor edition's Markdown cell."""
    cell = nbformat.v4.new_markdown_cell(
        "<div style='border-left: 4px solid #b35900; padding-left: 1em'>\n\n"
        + notes.strip()
        + "\n\n</div>"
    )
    cell.id = "teaching-notes"
    cell.metadata["tags"] = ["instructor"]
    return cell


def instructor(nb: NotebookNode, notes: str, answers: list) -> NotebookNode:
    """The lesson with its solutions open, its answers filled in and its teaching notes."""
    out = copy.deepcopy(nb)
    exercises = [c for c in out.cells if is_exercise(c)]
    if len(exercises) != len(answers):
        raise ValueError(f"{len(exercises)} exercise cells but {len(answers)} answers")
    for cell, value in zip(exercises, answers, strict=True):
        cell.source = cell.source.replace(EMPTY_ANSWER, f"answer = {answer_literal(value)}", 1)
        _cleared(cell)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("<details><summary>", "<details open><summary>")
    outline = next(i for i, c in enumerate(out.cells) if "**Outline (" in c.source)
    out.cells.insert(outline + 1, notes_cell(notes))
    return out


def write(folder: Path, name: str, nb: NotebookNode) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for student/ and instructor/"
    )
    parser.add_argument("--replace", action="store_true", help="replace editions written before")
    args = parser.parse_args(argv)
    targets = [args.out / "student", args.out / "instructor"]
    taken = [t for t in targets if t.exists() and any(t.iterdir())]
    if taken and not args.replace:
        print(f"error: {taken[0]} is not empty; pass --replace to write over it", file=sys.stderr)
        return 1
    answers = json.loads((NOTES / "answers.json").read_text(encoding="utf-8"))
    editions = []
    for path in lessons():
        nb = nbformat.read(path, as_version=4)
        notes = NOTES / f"{path.stem}.md"
        try:
            if not notes.is_file() or path.stem not in answers:
                raise ValueError(
                    f"needs {notes.name} and its answers in answers.json in {NOTES.name}/"
                )
            teaching = notes.read_text(encoding="utf-8")
            editions.append((path.name, student(nb), instructor(nb, teaching, answers[path.stem])))
        except ValueError as exc:
            print(f"error: {path.name}: {exc}", file=sys.stderr)
            return 1
    for target in targets:
        shutil.rmtree(target, ignore_errors=True)
    for name, for_students, for_lecturers in editions:
        write(targets[0], name, for_students)
        write(targets[1], name, for_lecturers)
    print(f"wrote {len(editions)} lessons to {targets[0]} and {targets[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
