"""Write every lesson's Colab badge, Colab install cell and slide metadata from one place.

    python tools/sync_notebooks.py notebooks/*.ipynb           # rewrite what differs
    python tools/sync_notebooks.py --check notebooks/*.ipynb   # list what differs, exit 1

The repository's address is written once, in ``pyproject.toml``'s ``[project.urls] Repository``,
and the version once, in ``[project] version``. From them each notebook gets:

* a first cell (id ``colab-badge``): an "Open in Colab" badge for this notebook at the tag
  ``v<version>``;
* an install cell (id ``colab-install``) right after the title: on Colab it installs
  ``alexnet-lesson==<version>`` from the package index, else the repository at tag
  ``v<version>``; anywhere else it does nothing; tagged ``remove-cell``, so that the course
  website (Jupyter Book, ``tools/build_site.py``) leaves it out;
* slide metadata (``cell.metadata.slideshow.slide_type``) for ``jupyter nbconvert --to slides``
  and RISE, by the rules of :func:`slide_types`;
* the kernel metadata exactly as JupyterLab writes it when a kernel connects (:data:`KERNELSPEC`,
  :func:`language_info`): JupyterLab replaces the stored ``kernelspec`` and ``language_info``
  with the kernel's and marks the notebook modified unless they are equal. Every field is the
  same on every Python 3 except ``language_info.version``, the exact Python (``3.11.7``) that made
  the outputs, which no stored value can match on every Python: on that Python a lesson opens
  unmodified, on any other JupyterLab's one edit is that field (tests/test_notebook_header.py and
  tests/test_browser.py check both).

Outputs, ids and everything else in the notebook are kept, so nbval's stored outputs still hold.
Moving the project is one edit of ``pyproject.toml`` and one run of this command.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BADGE_ID, INSTALL_ID = "colab-badge", "colab-install"
INSTALL_MARK = "# On Colab, install the lesson package"  # how an install cell is recognised
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"


def project(pyproject: Path = ROOT / "pyproject.toml") -> tuple[str, str]:
    """The package version and the repository's address, as ``pyproject.toml`` states them."""
    meta = tomllib.loads(pyproject.read_text())["project"]
    return meta["version"], meta["urls"]["Repository"].rstrip("/")


def github_path(repository: str) -> str:
    """``owner/name`` of a GitHub address (Colab opens notebooks from GitHub only)."""
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(\.git)?", repository)
    if not m:
        raise SystemExit(f"Colab opens notebooks from github.com only, not {repository}")
    return m.group(1)


def badge_source(name: str, version: str, repository: str) -> str:
    url = f"https://colab.research.google.com/github/{github_path(repository)}/blob/v{version}/notebooks/{name}"
    return f"[![Open In Colab]({BADGE_SVG})]({url})"


def d2l_requirement(path: Path = ROOT / "requirements-nodeps.txt") -> str:
    """The d2l pin every lesson environment installs without its dependencies (``d2l==1.0.3``)."""
    (line,) = [x for x in path.read_text().splitlines() if x.startswith("d2l==")]
    return line.strip()


def install_source(version: str, repository: str) -> str:
    return f"""\
{INSTALL_MARK} at this notebook's version; elsewhere this does nothing.
import sys

if "google.colab" in sys.modules:
    from importlib.metadata import distributions
    from subprocess import run

    found = [d.version for d in distributions(name="alexnet-lesson")]
    if found != ["{version}"]:  # the release from the package index, else the repository's tag
        pip = [sys.executable, "-m", "pip", "install", "-q"]
        tagged = "alexnet-lesson @ git+{repository}@v{version}"
        if run([*pip, "alexnet-lesson=={version}"]).returncode != 0:
            run([*pip, tagged], check=True)
        run([*pip, "--no-deps", "{d2l_requirement()}"], check=True)  # its pins clash with Colab's"""


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info(stored: dict) -> dict:
    """What ipykernel's kernel reports as ``language_info`` (``IPythonKernel.language_info``),
    field for field, at the Python the outputs were made with: ``stored``'s ``version`` when it
    is a whole one as a kernel reports it (``3.11.7``), else this interpreter's, spelt as
    ipykernel spells it (``sys.version.split()[0]``).

    Example:
        >>> language_info({"version": "3.10.13", "name": "python3"})["version"]
        '3.10.13'
        >>> language_info({"version": "3.11"})["version"] == sys.version.split()[0]
        True
    """
    version = stored.get("version", "")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        version = sys.version.split()[0]
    return {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": version,
    }


def _heading(cell: NotebookNode, level: int) -> bool:
    return cell.cell_type == "markdown" and cell.source.startswith("#" * level + " ")


def slide_types(cells: list[NotebookNode]) -> list[str]:
    """One slide type per cell, for a lecture:

    * the title (the first ``# `` heading) and every ``## `` section start a slide, ``### ``
      a sub-slide; the badge and the install cell are skipped;
    * one idea per screen: a paragraph of three lines or more after a code cell, and a code
      cell right after another code cell, start a sub-slide; the rest stays on the screen above;
    * from the ``## Exercises`` heading on, every cell is a fragment (shown one at a time).

    Example:
        >>> md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
        >>> slide_types([md("# T"), code("x"), code("y"), md("## Exercises"), code("a = ...")])
        ['slide', '-', 'subslide', 'slide', 'fragment']
    """
    types, exercises, previous = [], False, None
    for cell in cells:
        if cell.get("id") in (BADGE_ID, INSTALL_ID):
            types.append("skip")
            continue
        lines = cell.source.splitlines()
        if cell.cell_type == "markdown" and re.search(r"(?m)^#+ Exercises", cell.source):
            kind, exercises = "slide", True
        elif exercises:
            kind = "fragment"
        elif _heading(cell, 1) or _heading(cell, 2):
            kind = "slide"
        elif _heading(cell, 3):
            kind = "subslide"
        elif previous == "code" and (cell.cell_type == "code" or len(lines) >= 3):
            kind = "subslide"
        else:
            kind = "-"
        types.append(kind)
        previous = cell.cell_type
    return types


def synced(nb: NotebookNode, name: str, version: str, repository: str) -> NotebookNode:
    """``nb`` with its badge, install cell and slide metadata as this module writes them."""
    nb = nbformat.from_dict(nb)
    cells = [c for c in nb.cells if c.get("id") != BADGE_ID]
    install = next(
        (c for c in cells if c.get("id") == INSTALL_ID or c.source.startswith(INSTALL_MARK)), None
    )
    if install is None:  # a new notebook: the install cell goes after the title
        install = nbformat.v4.new_code_cell()
        cells.insert(1, install)
    source = install_source(version, repository)
    ran = install.get("execution_count") if install.source == source else None  # still true
    install.update(id=INSTALL_ID, source=source, outputs=[], execution_count=ran)
    install.metadata["tags"] = ["remove-cell"]  # the course website leaves it out
    badge = nbformat.v4.new_markdown_cell(badge_source(name, version, repository))
    badge.id = BADGE_ID
    nb.cells = [badge, *cells]
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = language_info(nb.metadata.get("language_info", {}))
    for cell, kind in zip(nb.cells, slide_types(nb.cells), strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only list notebooks that differ")
    args = parser.parse_args(argv)
    version, repository = project()
    differ = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        new = synced(nb, path.name, version, repository)
        if new == nb:
            continue
        differ.append(str(path))
        if not args.check:
            nbformat.write(new, path)
            print(f"{path}: written")
    if args.check and differ:
        print("not in step with pyproject.toml (run tools/sync_notebooks.py):", *differ, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
