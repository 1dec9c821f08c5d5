"""Build one reveal.js slide deck per lesson, as ``jupyter nbconvert --to slides`` does.

    python tools/build_slides.py                         # every lesson, into build/slides/
    python tools/build_slides.py notebooks/04_lrn.ipynb --out /tmp/decks

Each deck is one HTML file, ``<out>/<lesson>.slides.html``, built from the notebook's stored
outputs and the slide metadata that ``tools/sync_notebooks.py`` writes. The deck loads reveal.js
from a CDN (nbconvert's default, ``--reveal-prefix`` changes it), so presenting it needs a
network or a local copy of reveal.js; to present live from JupyterLab, use RISE instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parents[1]


def build(notebook: Path, out: Path, reveal_prefix: str | None = None) -> Path:
    """Write ``notebook``'s deck into ``out`` and return its path."""
    exporter = SlidesExporter()
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    body, _ = exporter.from_filename(str(notebook))
    out.mkdir(parents=True, exist_ok=True)
    deck = out / f"{notebook.stem}.slides.html"
    deck.write_text(body, encoding="utf-8")
    return deck


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "slides")
    parser.add_argument("--reveal-prefix", help="where reveal.js is loaded from")
    args = parser.parse_args(argv)
    for notebook in args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        deck = build(notebook, args.out, args.reveal_prefix)
        print(f"{deck}: {deck.stat().st_size / 1e6:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
