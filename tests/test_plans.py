"""Every plan a device would choose runs somewhere in the tests.

A lesson with budgets keeps one plan per kind of device (``env.plan``: "cpu" and "cuda"); smoke
mode shrinks the chosen plan instead of replacing it. The notebook tests (nbval) run the plan of
the machine they run on, shrunk. The slow test below runs each such lesson again with the
*other* plan, shrunk (``ALEXNET_LESSON_PLAN``), so that on a CPU every cell a Colab GPU would run
has run before, and on a GPU machine the CPU plan's cells."""

import re
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from alexnet_lesson.env import PLAN_NAMES, PLAN_VAR

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from execute_notebooks import execute  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WITH_PLANS = ["04_lrn.ipynb", "05_dropout.ipynb", "06_relu_pooling.ipynb", "07_training.ipynb"]
# A budget picked by hand, not through env.plan, would run only where its condition holds: from
# the device (``env.device.type == "cuda"``, ``torch.cuda.is_available()``), or a table of
# budgets by mode (``budgets[env.mode]``) whose full entry replaces, not shrinks, a device's plan.
# (``N = 48 if env.smoke else None`` shrinks the one budget a lesson has on every device.)
BY_HAND = re.compile(
    r'device\.type\s*==\s*"cuda"\s+else|cuda\.is_available\(\)\s+else|\[env\.mode\]'
)


def _code(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_the_lessons_with_plans_are_the_ones_run_with_the_other_plan():
    chooses = {p.name for p in NOTEBOOKS if "env.plan(" in _code(p)}
    assert chooses == set(WITH_PLANS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_lesson_picks_a_plan_by_hand(path):
    """A plan chosen from the device or the mode outside ``env.plan`` would run only there."""
    found = BY_HAND.findall(_code(path))
    assert not found, f"{path.name} picks a budget by hand ({found}); use env.plan(PLANS, SMOKE)"


@pytest.mark.slow
@pytest.mark.parametrize("name", WITH_PLANS)
def test_the_other_devices_plan_runs_shrunk(name, monkeypatch, tmp_path):
    here = "cuda" if torch.cuda.is_available() else "cpu"
    (other,) = set(PLAN_NAMES) - {here}
    monkeypatch.setenv(PLAN_VAR, other)
    monkeypatch.setenv("ALEXNET_LESSON_SMOKE", "1")
    monkeypatch.setenv("ALEXNET_LESSON_RUNS", str(tmp_path))
    # The lesson's widget cells are left out: nbclient, which this runner uses, now and then
    # stops for good (kernel and client both idle) on a cell that creates an ipywidget (seen on
    # 04's and 05's first widget cells; nbval never did). The widgets have their own tests
    # (nbval on every lesson, tests/test_browser.py); this test is about the plan's cells.
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and re.search(r"\bwidgets\.\w+_widget\(", cell.source):
            cell.source = "# a widget cell, left out here"
    copy = tmp_path / name
    nbformat.write(nb, copy)
    nb, record = execute(copy, timeout=600)
    assert record["status"] == "passed", f"{name}, plan {other!r}: {record.get('error')}"
    assert record["cells_run"] == record["cells"]
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert f"plan {other!r}, shrunk for smoke mode" in printed
