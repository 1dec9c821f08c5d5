"""Every lesson is a lecture slot: objectives, a timed outline whose parts add up to the slot,
a summary before the exercises, and at least three exercises a learner can check."""

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))
SLOTS = {25, 45, 90}  # a short setup slot, half a lecture, a lecture


def outline_minutes(text: str) -> tuple[int, int]:
    """The slot an outline states and the sum of its parts' minutes.

    Parts are table rows (one cell holding minutes, or a range "0–5"), or list items "(5 min)".

    Example:
        >>> outline_minutes("**Outline (10 min)**\\n\\n| min | part |\\n|---|---|\\n| 4 | a |\\n| 6 | b |")
        (10, 10)
    """
    slot = int(re.search(r"Outline \((\d+) min", text)[1])
    body = text[text.index("Outline") :]
    parts = []
    for line in body.splitlines()[1:]:  # after the heading, which states the slot
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else []
        numbers = [c for c in cells if re.fullmatch(r"\d+(–\d+)?", c)]
        if numbers:
            a, _, b = numbers[0].partition("–")
            parts.append(int(b) - int(a) if b else int(a))
        elif m := re.search(r"\((\d+) min\)", line):
            parts.append(int(m[1]))
    return slot, sum(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_objectives_outline_summary_and_exercises(path):
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    text = "\n".join(markdown)
    assert "After this lesson you can" in text, "objectives at the top"
    plan = next(m for m in markdown if "Outline (" in m)
    slot, total = outline_minutes(plan)
    assert slot in SLOTS and total == slot, f"the outline's parts add up to {total}, not {slot}"
    summary, exercises = text.find("## Summary"), text.find("## Exercises")
    assert 0 < summary < exercises, "a summary right before the exercises"
    checks = [c for c in nb.cells if c.cell_type == "code" and "exercises.check(" in c.source]
    assert 3 <= len(checks) <= 5, f"{len(checks)} checked exercises"
    assert text.count("<summary>Solution</summary>") >= 1, "solutions, hidden"
