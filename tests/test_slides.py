"""tools/build_slides.py builds a reveal.js deck for every lesson, one slide per section."""

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from build_slides import build  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_lesson_builds_a_deck(path, tmp_path):
    deck = build(path, tmp_path).read_text()
    nb = nbformat.read(path, as_version=4)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert kinds.count("slide") >= 3, "title, sections and exercises start slides"
    # nbconvert nests sub-slides inside slides: one <section> per slide and per sub-slide at least
    assert len(re.findall(r"<section", deck)) >= kinds.count("slide") + kinds.count("subslide")
    assert nb.cells[1].source.splitlines()[0].lstrip("# ") in deck  # the title slide
    assert "colab-badge.svg" not in deck  # skipped cells stay out of the deck
    if any("## Exercises" in c.source for c in nb.cells):
        assert 'class="fragment"' in deck  # exercises appear one at a time
