"""The course as a website: Jupyter Book 1 over the stored notebooks, never re-executed.

    python3 -m venv .venv-site && .venv-site/bin/pip install -r requirements-site.lock
    python tools/build_site.py --jupyter-book .venv-site/bin/jupyter-book   # _build/html/
    python tools/build_site.py --check   # site/syllabus.md and site/command-line.md up to date?

Run it in the lessons' environment: it writes the syllabus from the notebooks (each lesson's
slot, objectives, page, slides and Colab link) and the command-line page from the package's own
``--help``, builds one slide deck per lesson (``tools/build_slides.py``) into the site's
``slides/``, then runs the site environment's ``jupyter-book build .`` (``_config.yml`` and
``_toc.yml`` at the top of the repository). The site's tools have their own lock: Jupyter Book
1.0.4 pins versions that the lessons' lock cannot share, and 2.x downloads its template at build
time. The Colab install cell of each lesson (tagged ``remove-cell``) is left out of its page.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_slides  # noqa: E402  (this folder's siblings)
from editions import lessons  # noqa: E402

PAGES = ROOT / "site"
EXTRA = ROOT / "build" / "site-extra"  # copied into the site's root (Sphinx's html_extra_path)
GENERATED = "<!-- written by tools/build_site.py from {source}; edit that, not this page -->\n\n"


def lesson_facts(path: Path) -> dict:
    """A lesson's title, slot (minutes), objectives (Markdown bullets) and Colab link."""
    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    title = next(m for m in markdown if m.startswith("# ")).splitlines()[0][2:]
    plan = next(m for m in markdown if "**Outline (" in m)
    objectives = plan[: plan.index("**Outline (")].split("\n", 1)[1].strip()
    colab = re.search(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", markdown[0])
    return {
        "title": title,
        "minutes": int(re.search(r"\*\*Outline \((\d+) min", plan)[1]),
        "objectives": objectives,
        "colab": colab[1],
    }


def syllabus() -> str:
    """The syllabus page: every lesson with its slot, links and objectives."""
    facts = {p: lesson_facts(p) for p in lessons()}
    total = sum(f["minutes"] for f in facts.values())
    parts = [
        GENERATED.format(source="the lessons' notebooks"),
        "# Syllabus\n\n",
        f"{len(facts)} lessons, {total} minutes of lecture slots in all. Each lesson opens with",
        " its objectives and a timed outline and closes with a summary and exercises that check",
        " an answer without showing it.\n\n",
        "| lesson | slot | slides | Colab |\n|---|---|---|---|\n",
    ]
    for path, f in facts.items():
        slides = f"<a href='../slides/{path.stem}.slides.html'>slides</a>"
        colab = f"<a href='{f['colab']}'>open in Colab</a>"
        parts.append(
            f"| [{f['title']}](../notebooks/{path.name}) | {f['minutes']} min | {slides} | {colab} |\n"
        )
    for f in facts.values():
        parts.append(f"\n## {f['title']}\n\n{f['minutes']} minutes.\n\n{f['objectives']}\n")
    return "".join(parts)


def command_line() -> str:
    """The command-line page: ``python -m alexnet_lesson`` and each command's ``--help``."""
    import argparse as ap

    from alexnet_lesson.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, ap._SubParsersAction)).choices
    parts = [
        GENERATED.format(source="alexnet_lesson/cli.py"),
        "# The command line\n\n",
        "Everything a lesson does with a run, from a terminal: check the environment, download",
        " the data, train (with checkpoints, resume and a test set read once), classify images",
        " with a trained run and export it. Each command's `--help`, as it prints it:\n\n",
        f"```text\n{parser.format_help().rstrip()}\n```\n",
    ]
    for name, sub in commands.items():
        parts.append(f"\n## `{name}`\n\n```text\n{sub.format_help().rstrip()}\n```\n")
    return "".join(parts)


def generated() -> dict[Path, str]:
    return {PAGES / "syllabus.md": syllabus(), PAGES / "command-line.md": command_line()}


def favicon(path: Path) -> None:
    """The site's icon at its root too, where a browser asks for it on a page that names none
    (the root ``index.html`` that redirects to the home page): a blue square, as
    ``site/favicon.svg`` draws it, without its letter."""
    from PIL import Image

    Image.new("RGB", (32, 32), (31, 78, 121)).save(path, format="ICO")


def build(jupyter_book: str, out: Path) -> int:
    for path, text in generated().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:  # tests may read it
            path.write_text(text, encoding="utf-8")
    shutil.rmtree(EXTRA, ignore_errors=True)
    for notebook in lessons():
        build_slides.build(notebook, EXTRA / "slides")
    favicon(EXTRA / "favicon.ico")
    command = [jupyter_book, "build", str(ROOT), "--path-output", str(out), "--warningiserror"]
    print(" ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jupyter-book", default="jupyter-book", help="the site environment's")
    parser.add_argument("--out", type=Path, default=ROOT, help="the site goes to OUT/_build/html")
    parser.add_argument("--check", action="store_true", help="only check the written pages")
    args = parser.parse_args(argv)
    if args.check:
        stale = [p for p, text in generated().items() if p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not up to date: run python tools/build_site.py")
        return 1 if stale else 0
    if shutil.which(args.jupyter_book) is None:
        print(f"error: no {args.jupyter_book}; install the site's tools: "
              "python3 -m venv .venv-site && .venv-site/bin/pip install -r requirements-site.lock "
              "(then pass --jupyter-book .venv-site/bin/jupyter-book)", file=sys.stderr)  # fmt: skip
        return 1
    return build(args.jupyter_book, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
