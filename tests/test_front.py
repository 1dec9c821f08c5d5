"""The package front (``import alexnet_lesson as al``): every lesson module is reachable as
``al.<module>`` and loads on first use, and every ``al.<module>.<name>`` a lesson mentions, in
code or prose, exists."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import alexnet_lesson as al

ROOT = Path(__file__).resolve().parents[1]
COMMAND_LINE = {"__init__", "__main__", "cli"}
MODULES = sorted(
    p.stem for p in (ROOT / "alexnet_lesson").glob("*.py") if p.stem not in COMMAND_LINE
)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_is_reachable_from_the_front(name):
    assert getattr(al, name).__name__ == f"alexnet_lesson.{name}"
    assert name in dir(al)


def test_the_front_loads_nothing_until_asked_and_names_what_is_missing():
    code = "import sys, alexnet_lesson as al; print(sorted(m for m in sys.modules if m.startswith('alexnet_lesson.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'trainer'"):
        al.trainer  # noqa: B018


def _mentions() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            for module, name in re.findall(
                r"\bal\.([a-z_]+)\.([A-Za-z_]\w*)", "".join(cell["source"])
            ):
                found.append((path.name, i, module, name))
    return found


def test_every_name_a_lesson_mentions_exists():
    missing = [
        f"{nb} cell {i}: al.{module}.{name}"
        for nb, i, module, name in _mentions()
        if module in MODULES and not hasattr(getattr(al, module), name)
    ]
    unknown = [
        f"{nb} cell {i}: al.{module}" for nb, i, module, _ in _mentions() if module not in MODULES
    ]
    assert missing == [] and unknown == []
    assert len(_mentions()) > 50  # the lessons do mention the package
