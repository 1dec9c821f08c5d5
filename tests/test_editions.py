"""tools/editions.py: a student edition with no solution in it, and an instructor edition whose
answers pass their checks and whose teaching notes follow each lesson's outline."""

import ast
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import alexnet_lesson
from alexnet_lesson.exercises import is_right

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import editions  # noqa: E402  (tools/ is no package)

LESSONS = editions.lessons()
ANSWERS = json.loads((editions.NOTES / "answers.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("editions")
    assert editions.main(["--out", str(out)]) == 0
    return out


def edition(built: Path, which: str, lesson: Path) -> nbformat.NotebookNode:
    return nbformat.read(built / which / lesson.name, as_version=4)


def solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Each line of the lesson's solution blocks that says something (not markup, ≥ 20 chars)."""
    lines = set()
    for cell in nb.cells:
        for block in editions.SOLUTION.findall(cell.source):
            for line in block.splitlines():
                text = line.strip()
                if len(text) >= 20 and not text.startswith(("<details", "</details", "```")):
                    lines.add(text)
    return lines


def duration(text: str) -> int:
    """Minutes as an outline writes them: ``10``, or a range ``5–15`` (ten minutes)."""
    m = re.fullmatch(r"(\d+)(?:[–-](\d+))?", text)
    return int(m[2]) - int(m[1]) if m[2] else int(m[1])


def table(markdown: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``markdown``, as lists of cells."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip().strip("|").split(" | ")] for line in lines[2:]]


def outline(markdown: str) -> list[tuple[int, str]]:
    """(minutes, part) for each part of a lesson's outline: a table with a minutes column on
    either side, or a numbered list whose items end in "(N min)"."""
    body = markdown[markdown.index("**Outline (") :]
    items = re.findall(r"^\d+\. (.+) \((\d+) min\)$", body, re.M)
    if items:
        return [(int(minutes), part) for part, minutes in items]
    numeric = re.compile(r"[\d–-]+")
    return [(duration(a), b) if numeric.fullmatch(a) else (duration(b), a) for a, b in table(body)]


def exercise_cells(nb: nbformat.NotebookNode) -> list:
    return [c for c in nb.cells if editions.is_exercise(c)]


def test_every_lesson_has_answers_and_notes():
    assert sorted(ANSWERS) == [p.stem for p in LESSONS]
    assert sorted(p.stem for p in editions.NOTES.glob("*.md")) == [p.stem for p in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_the_student_edition_holds_no_solution(built, lesson):
    stored = nbformat.read(lesson, as_version=4)
    hidden = solution_lines(stored)
    assert len(hidden) >= 4  # every lesson has solutions to remove
    student = edition(built, "student", lesson)
    everything = json.dumps(student)  # sources, outputs and metadata
    assert [line for line in hidden if json.dumps(line)[1:-1] in everything] == []
    assert "Solution" not in everything
    exercises = exercise_cells(student)
    assert len(exercises) == len(ANSWERS[lesson.stem])
    for cell in exercises:
        assert re.search(r"^answer = \.\.\.$", cell.source, re.M) and cell.outputs == []
        said = io.StringIO()  # the cell as a student runs it first: its check asks for an answer
        with contextlib.redirect_stdout(said):
            exec(cell.source, {"al": alexnet_lesson})  # noqa: S102  (the lesson's own cell)
        assert said.getvalue().startswith("… replace the ... with your answer"), cell.source
    # everything else as stored: the other code cells, their outputs and their order
    others = [(c.source, c.outputs) for c in stored.cells if c.cell_type == "code"]
    kept = [(c.source, c.outputs) for c in student.cells if c.cell_type == "code"]
    assert [o for o in kept if o[0] not in {c.source for c in exercises}] == [
        o for o in others if not editions.CHECK.search(o[0])
    ]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_instructor_answer_passes_its_check(built, lesson):
    cells = exercise_cells(edition(built, "instructor", lesson))
    assert len(cells) == len(ANSWERS[lesson.stem]) >= 3
    for i, cell in enumerate(cells):
        key = editions.CHECK.search(cell.source)
        digits = int(key["digits"] or 4)
        value = ast.literal_eval(re.search(r"^answer = (.+)$", cell.source, re.M)[1])
        assert is_right(value, key["key"], digits), cell.source
        others = [v for j, v in enumerate(ANSWERS[lesson.stem]) if j != i]
        assert not any(is_right(v, key["key"], digits) for v in others)  # it tells them apart


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_teaching_notes_follow_the_outline(built, lesson):
    instructor = edition(built, "instructor", lesson)
    at = next(i for i, c in enumerate(instructor.cells) if c.get("id") == "teaching-notes")
    notes = instructor.cells[at].source
    plan = table(notes[notes.index("## Plan") :])
    parts = outline(instructor.cells[at - 1].source)
    assert [(duration(row[0]), row[1]) for row in plan] == parts, "the Plan is the outline's"
    assert all(row[2] in ("live", "stored") and len(row[3]) > 20 for row in plan)
    for heading in ("## Mistakes and questions students bring", "## Before the lecture"):
        assert heading in notes
    assert notes.count("\n- ") >= 6  # at least four mistakes and two things to prepare
    solutions = [c.source for c in instructor.cells if "<summary>Solution" in c.source]
    assert solutions and all("<details open>" in s for s in solutions)


def test_it_writes_over_nothing_without_replace(tmp_path, capsys):
    mine = tmp_path / "student" / "05_dropout.ipynb"
    mine.parent.mkdir()
    mine.write_text("a student's own work")
    assert editions.main(["--out", str(tmp_path)]) == 1
    assert "pass --replace" in capsys.readouterr().err
    assert mine.read_text() == "a student's own work" and not (tmp_path / "instructor").exists()
    assert editions.main(["--out", str(tmp_path), "--replace"]) == 0
    assert len(list((tmp_path / "instructor").glob("*.ipynb"))) == len(LESSONS)


def test_a_solution_it_cannot_remove_stops_it():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("<details><summary>Solution (hint)</summary>1</details>")
    ]
    with pytest.raises(ValueError, match="cannot remove"):
        editions.student(nb)


@pytest.mark.slow
def test_the_student_edition_runs_top_to_bottom_in_smoke_mode(built, tmp_path):
    """Every student lesson runs top to bottom in a fresh kernel, in smoke mode, under nbval
    (lax: its exercise cells keep no output to compare) in a separate pytest, as CI runs the
    stored lessons; what each exercise cell says when run is tested above."""
    if os.environ.get("ALEXNET_LESSON_CI_STUDENT") == "background":
        pytest.skip("CI runs this in its background job, beside the suite (.ci/run)")
    notebooks = sorted(str(p) for p in (built / "student").glob("*.ipynb"))
    env = {**os.environ, "ALEXNET_LESSON_SMOKE": "1", "ALEXNET_LESSON_RUNS": str(tmp_path)}
    command = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
               "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600", *notebooks]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    code_cells = sum(
        c.cell_type == "code" for p in notebooks for c in nbformat.read(p, as_version=4).cells
    )
    assert f"{code_cells} passed" in run.stdout.splitlines()[-1], run.stdout[-500:]
