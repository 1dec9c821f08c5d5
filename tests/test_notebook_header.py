"""Every lesson's Colab badge, install cell and slide metadata are what tools/sync_notebooks.py
writes from pyproject.toml, so that moving the project is one edit and no placeholder can drift;
its kernel metadata is what a kernel of any supported Python reports, but for the Python version."""

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import sync_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
VERSION, REPOSITORY = sync_notebooks.project()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_install_cell_and_slides_come_from_pyproject(path):
    nb = nbformat.read(path, as_version=4)
    assert nb == sync_notebooks.synced(nb, path.name, VERSION, REPOSITORY), (
        f"run: python tools/sync_notebooks.py {path.relative_to(ROOT)}"
    )
    badge, title, install = nb.cells[:3]
    assert badge.id == "colab-badge" and title.source.startswith("# ")
    assert install.id == "colab-install" and install.cell_type == "code"
    url = f"https://colab.research.google.com/github/alexnet-lesson/alexnet-lesson/blob/v{VERSION}/notebooks/{path.name}"
    assert REPOSITORY != "https://github.com/alexnet-lesson/alexnet-lesson" or url in badge.source


def test_only_pyproject_names_the_repository():
    named = [
        str(p.relative_to(ROOT))
        for p in [*NOTEBOOKS, *(ROOT / "alexnet_lesson").glob("*.py"), ROOT / "README.md"]
        if REPOSITORY in p.read_text() and p.suffix != ".ipynb"
    ]
    assert named == [], f"the repository's address belongs in pyproject.toml only: {named}"


def test_moving_the_project_rewrites_badge_and_install_cell():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    moved = sync_notebooks.synced(nb, "00_setup.ipynb", "9.9.9", "https://github.com/someone/fork")
    assert "github/someone/fork/blob/v9.9.9/notebooks/00_setup.ipynb" in moved.cells[0].source
    install = moved.cells[2].source
    assert '"alexnet-lesson==9.9.9"' in install
    assert "git+https://github.com/someone/fork@v9.9.9" in install
    assert len(moved.cells) == len(nb.cells)  # replaced, not added
    with pytest.raises(SystemExit, match="github.com only"):
        sync_notebooks.badge_source("x.ipynb", "1", "https://gitlab.com/a/b")


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    ran = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: ran.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(sync_notebooks.install_source(VERSION, REPOSITORY), {})
    assert ran == []


def test_install_cell_on_colab_falls_back_to_the_tag(monkeypatch):
    """The release first; when the index has none, the repository at the version's tag."""
    import subprocess
    import types

    calls = []

    def fake_run(cmd, check=False):
        calls.append(cmd[-1])
        return types.SimpleNamespace(returncode=1 if len(calls) == 1 else 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    older = [types.SimpleNamespace(version="0.0.0")]
    monkeypatch.setattr("importlib.metadata.distributions", lambda name: older)
    exec(sync_notebooks.install_source("1.2.3", "https://github.com/o/r"), {})
    assert calls == [
        "alexnet-lesson==1.2.3",
        "alexnet-lesson @ git+https://github.com/o/r@v1.2.3",
        "d2l==1.0.3",  # without its dependencies, as requirements-nodeps.txt says
    ]


def test_slides_title_sections_and_exercises():
    nb = nbformat.read(ROOT / "notebooks" / "01_history.ipynb", as_version=4)
    kinds = [c.metadata["slideshow"]["slide_type"] for c in nb.cells]
    assert kinds[:3] == ["skip", "slide", "skip"]  # badge, title, install
    first_exercise = next(i for i, c in enumerate(nb.cells) if "## Exercises" in c.source)
    assert kinds[first_exercise] == "slide"
    assert set(kinds[first_exercise + 1 :]) == {"fragment"}
    for cell, kind in zip(nb.cells, kinds, strict=True):
        if cell.source.startswith("## "):
            assert kind == "slide", cell.source[:40]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_progress_bars_show_the_finished_bar(path):
    """A static renderer shows ``text/plain``: each stored tqdm bar reads as it ended, not 0%."""
    from execute_notebooks import finish_progress_bars

    nb = nbformat.read(path, as_version=4)
    assert finish_progress_bars(nb) == 0 or nb == nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                assert " 0%|" not in out.data["text/plain"], out.data["text/plain"]


# The supported Pythons: CI's list (the README's table of tested versions lists the same).
SUPPORTED = (
    re.search(r'(?m)^pythons="([^"]+)"', (ROOT / ".ci" / "run").read_text()).group(1).split()
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_kernel_rewrites_more_than_the_python_version(path):
    """When a kernel connects, JupyterLab sets the notebook's ``kernelspec`` and ``language_info``
    to the kernel's and marks the notebook modified unless they are equal (a deep comparison). So
    the stored ones are ipykernel's own, field for field, and the one field that depends on the
    Python, ``language_info.version``, is a whole version of a supported Python as a kernel
    reports it (``3.11.7``; ``3.11`` or none would be rewritten on every Python). On this Python
    the kernel would then write only that field, and CI runs this test on every supported one."""
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    meta = json.loads(path.read_text())["metadata"]  # as stored, before nbformat's reading
    spec = get_kernel_dict()  # what JupyterLab writes: name, display_name and language
    kernelspec = {"name": KERNEL_NAME, "display_name": spec["display_name"], "language": "python"}
    assert meta["kernelspec"] == kernelspec, "run: python tools/sync_notebooks.py notebooks/*.ipynb"
    assert spec["language"] == "python"
    stored = dict(meta["language_info"])
    version = stored.pop("version", None)
    assert re.fullmatch(r"(\d+\.\d+)\.\d+", version or ""), f"not a whole version: {version!r}"
    assert version.rsplit(".", 1)[0] in SUPPORTED, f"{version} is no supported Python"
    reported = dict(IPythonKernel.language_info)
    assert reported.pop("version") == sys.version.split()[0]
    assert stored == reported, "run: python tools/sync_notebooks.py notebooks/*.ipynb"


def test_sync_writes_what_the_kernel_reports():
    """tools/sync_notebooks.py keeps a whole stored version, else writes this kernel's; the rest
    is ipykernel's ``language_info`` and kernel spec, as rebuilt notebooks store them too."""
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import get_kernel_dict

    assert sync_notebooks.language_info({}) == IPythonKernel.language_info
    assert sync_notebooks.language_info({"version": "3.10.13"})["version"] == "3.10.13"
    assert sync_notebooks.language_info({"version": "3.11"}) == IPythonKernel.language_info
    assert {k: get_kernel_dict()[k] for k in ("display_name", "language")} == {
        k: sync_notebooks.KERNELSPEC[k] for k in ("display_name", "language")
    }


ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~>$])/(?:home|root|tmp|Users|work|var/folders|private|mnt|content|opt)/"
    r"|\b[A-Z]:\\(?:Users|Windows)"
)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stored_output_spells_out_a_folder_of_the_machine_that_ran_it(path):
    """Outputs show paths as ``~/…``, ``<temporary folder>/…`` or relative to a cache folder."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            texts = [out.get("text", ""), out.get("traceback", "")] + [
                v for k, v in out.get("data", {}).items() if not k.startswith("image/")
            ]
            found += [(i, m.group()) for t in texts for m in ABSOLUTE_PATH.finditer(str(t))]
    assert not found, f"{path.name}: cells and paths {found[:5]}"


def test_the_path_check_finds_what_it_must():
    for text in ["/root/.cache/x", "in /home/ana/runs", "C:\\Users\\ana", "'/tmp/tmpab12/x'"]:
        assert ABSOLUTE_PATH.search(text), text
    for text in ["~/.cache/alexnet-lesson/runs", "<temporary folder>/x", "$WORK/split", "a/tmp/b"]:
        assert not ABSOLUTE_PATH.search(text), text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_widgets_read_as_one_line_where_they_cannot_run(path):
    """GitHub and rendered pages show a widget's ``text/plain``: one line, not its repr."""
    from execute_notebooks import STATIC_WIDGET, WIDGET_VIEW

    nb = nbformat.read(path, as_version=4)
    texts = [
        out["data"].get("text/plain", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if WIDGET_VIEW in out.get("data", {})
    ]
    raw = [t[:60] for t in texts if t != STATIC_WIDGET and "|" not in t[:80]]
    assert not raw, f"{path.name}: widget outputs shown as reprs: {raw}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_fits_a_projector(path):
    """At most 15 lines a code cell: what a lecture hall reads on one screen."""
    nb = nbformat.read(path, as_version=4)
    long = [
        (i, len(c.source.splitlines()))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and len(c.source.splitlines()) > 15
    ]
    assert not long, f"{path.name}: cells (index, lines) {long}"
