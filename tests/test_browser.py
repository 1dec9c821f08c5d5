"""The lessons' widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium driven by
Playwright. For each widget notebook (02, 04, 05): it opens as stored, without "model not found"
(the stored widget state loads), all cells run, every slider and dropdown is moved and its output
must change, and the browser console stays free of errors.

"Opens as stored": the document JupyterLab holds once the kernel is idle is the file, but for the
one edit JupyterLab makes on any notebook: when a kernel connects it sets ``language_info`` to the
kernel's, whose ``version`` is the running Python's (``3.13.0``), and marks the notebook modified
unless that equals the stored one. So on the Python that made the stored outputs (``3.11.7``) a
lesson opens unmodified; on any other, modified by that field alone (no stored value can equal
every Python's: tests/test_notebook_header.py checks that nothing else can differ).

Screenshots of every widget after its last move go to ``$ALEXNET_LESSON_SCREENSHOTS`` (default
``.ci-venv/screenshots/``, which CI keeps). Needs Debian's ``chromium`` (``/usr/bin/chromium``, or
``$ALEXNET_LESSON_CHROMIUM``) and the ``playwright`` library, never ``playwright install``;
skipped with the reason when either is missing. Run alone: ``pytest -m browser``.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ALEXNET_LESSON_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("ALEXNET_LESSON_SCREENSHOTS", ROOT / ".ci-venv" / "screenshots"))
NOTEBOOKS = ["02_shapes.ipynb", "04_lrn.ipynb", "05_dropout.ipynb"]
CHROMIUM_ARGS = [  # a closed network: no background connections, no first-run work
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving copies of the widget notebooks; its URL and token."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    home = tmp_path_factory.mktemp("lab")
    work = home / "notebooks"
    work.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, work / name)
    labconfig = home / "config" / "labconfig"  # no "get notified about Jupyter news?" toast
    labconfig.mkdir(parents=True)
    announcements = "@jupyterlab/apputils-extension:announcements"
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {announcements: True}})
    )
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "ALEXNET_LESSON_SMOKE": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--allow-root",  # CI runs as root; the server listens on 127.0.0.1 only, with a token
    ]  # fmt: skip
    log = (home / "lab.log").open("w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            except OSError:
                assert server.poll() is None, (home / "lab.log").read_text()[-3000:]
                time.sleep(0.5)
        yield url, token, work
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(  # a fresh, empty profile
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        yield context
        context.close()


def _wait_idle(page, timeout_s: float = 120) -> None:
    """Until the kernel is idle and no cell shows ``[*]``."""
    page.wait_for_function(
        """() => {
            const app = window.jupyterapp, nb = app && app.shell.currentWidget;
            const kernel = nb && nb.sessionContext && nb.sessionContext.session
                && nb.sessionContext.session.kernel;
            if (!kernel || kernel.status !== 'idle') return false;
            return ![...document.querySelectorAll('.jp-InputArea-prompt')]
                .some(e => e.textContent.includes('*'));
        }""",
        timeout=timeout_s * 1000,
    )


_PYTHON_VERSION = "metadata.language_info.version"


def _as_saved(nb: dict) -> dict:
    """``nb`` as nbformat writes it: multi-line strings joined, no cell's transient ``trusted``
    mark (JupyterLab's in-memory trust), no ``attachments: null``."""
    nb = json.loads(json.dumps(nb))

    def joined(text):
        return "".join(text) if isinstance(text, list) else text

    for cell in nb["cells"]:
        cell["source"] = joined(cell["source"])
        cell["metadata"].pop("trusted", None)
        if cell.get("attachments", {}) is None:
            del cell["attachments"]
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = joined(out["text"])
            data = out.get("data", {})
            data.update({k: joined(v) for k, v in data.items() if not k.endswith("json")})
    return nb


def _changed_on_opening(stored: dict, opened: dict, kernel_info: dict) -> list[str]:
    """What differs between a stored notebook and the same notebook opened in JupyterLab:
    ``[]``, ``[_PYTHON_VERSION]`` when the kernel's ``language_info`` differs from the stored in
    the Python version alone (and the document in nothing else), else every top-level key,
    metadata key and cell that differs."""
    stored, opened = _as_saved(stored), _as_saved(opened)
    if opened == stored:
        return []
    language_info = {
        **stored["metadata"].get("language_info", {}),
        "version": kernel_info["version"],
    }
    if kernel_info == language_info == opened["metadata"]["language_info"]:
        rewritten = {**stored["metadata"], "language_info": language_info}
        if opened == {**stored, "metadata": rewritten}:
            return [_PYTHON_VERSION]
    top = sorted({*stored, *opened} - {"cells", "metadata"})
    changed = [k for k in top if stored.get(k) != opened.get(k)]
    was, now = stored["metadata"], opened["metadata"]
    changed += [f"metadata.{k}" for k in sorted({*was, *now}) if was.get(k) != now.get(k)]
    cells = zip(stored["cells"], opened["cells"], strict=False)  # a missing cell: below
    changed += [f"cell {i} ({a.get('id')})" for i, (a, b) in enumerate(cells) if a != b]
    if len(stored["cells"]) != len(opened["cells"]):
        changed.append(f"{len(stored['cells'])} cells stored, {len(opened['cells'])} opened")
    return changed


# A widget: a box of sliders and dropdowns above what they redraw (an HTML result in lesson 02's
# boxes, an output area in the `interactive` widgets of 04 and 05).
WIDGET = ".jp-Notebook .widget-vbox:has(> .widget-slider, > .widget-dropdown)"
CONTROLS = ":scope > .widget-slider, :scope > .widget-dropdown"
RESULT = ":scope > .widget-html, :scope > .widget-output"


def _move(page, control) -> None:
    """Move one slider a step (keyboard on its handle) or pick another dropdown entry."""
    select = control.locator("select")
    if select.count():
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.options[s.selectedIndex].text")
        select.select_option(label=next(o for o in options if o != current))
    else:
        # press() focuses the handle and sends the key in one step: a separate focus() could lose
        # the focus to the notebook (run-all scrolls it) before the key arrives.
        control.locator(".noUi-handle").first.press("ArrowRight")


def _is_error(message, url: str) -> bool:
    """A console error, except an outside resource that a closed network cannot load (the
    Colab badge's image): the browser reports those too, and they are no fault of the page."""
    if message.type != "error":
        return False
    where = message.location.get("url", "")
    return not (message.text.startswith("Failed to load resource") and not where.startswith(url))


def _moved_and_changed(page, control, output, before: str, tries: int = 6) -> bool:
    """Move ``control`` a step at a time (one step may not change the result: 225 and 224
    give the same shapes) until ``output`` differs from ``before``. A step usually shows within
    seconds; when it does not, the kernel is waited for (on a loaded machine, as when CI runs
    several Pythons side by side, a redraw can take many seconds) before the next step."""
    from playwright.sync_api import TimeoutError as Timeout

    for _ in range(tries):
        _move(page, control)
        try:
            page.wait_for_function(
                "([el, before]) => el.innerHTML !== before",
                arg=[output.element_handle(), before],
                timeout=5_000,
            )
            return True
        except Timeout:
            _wait_idle(page)
            if output.inner_html() != before:
                return True
    return False


def _widget_cells(nb: dict) -> list[int]:
    """The indices of the cells whose stored outputs show an ipywidget."""
    view = "application/vnd.jupyter.widget-view+json"
    return [
        i
        for i, cell in enumerate(nb["cells"])
        if any(view in out.get("data", {}) for out in cell.get("outputs", []))
    ]


def _readout(control) -> str:
    """What the control shows now: the slider's readout or the dropdown's choice."""
    shown = control.locator(".widget-readout, select")
    if not shown.count():
        return "?"
    return shown.first.evaluate("e => e.tagName === 'SELECT' ? e.value : e.textContent")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_respond_in_jupyterlab(lab, browser, name):
    from playwright.sync_api import expect

    url, token, work = lab
    stored = json.loads((work / name).read_text())  # the file JupyterLab opens, before it opens it
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if _is_error(m, url) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{url}/lab/tree/{name}?token={token}&reset")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget")
        _wait_idle(page)
        # Opened as stored: the saved widget state renders, and the document is the file's.
        assert "model not found" not in page.locator(".jp-Notebook").inner_text()
        opened, kernel = page.evaluate(
            """async () => { const nb = window.jupyterapp.shell.currentWidget;
                const info = await nb.sessionContext.session.kernel.info;
                return [nb.context.model.toJSON(), info.language_info]; }"""
        )
        changed = _changed_on_opening(stored, opened, kernel)
        dirty = page.locator(".lm-TabBar-tab.jp-mod-dirty").count() > 0
        assert (changed, dirty) in [([], False), ([_PYTHON_VERSION], True)], (
            f"opens as modified: {changed or 'nothing changed, yet the tab is marked'}"
        )

        # Run the lesson from the top down to its last widget (the training runs after it
        # would only add time): every widget the stored file shows must come back live.
        shown = _widget_cells(stored)
        assert shown, f"{name}: the stored notebook shows no widget"
        page.evaluate(
            """(n) => { const nb = window.jupyterapp.shell.currentWidget;
                nb.content.activeCellIndex = n;
                return window.jupyterapp.commands.execute('notebook:run-all-above'); }""",
            shown[-1] + 1,
        )
        page.wait_for_timeout(500)
        _wait_idle(page, timeout_s=300)
        widgets = page.locator(WIDGET)
        try:  # widget views render a moment after the kernel is idle
            expect(widgets).to_have_count(len(shown), timeout=30_000)
        except AssertionError:
            pytest.fail(f"{name}: {widgets.count()} of {len(shown)} widgets live")
        moved = 0
        for i in range(widgets.count()):
            widget = widgets.nth(i)
            widget.scroll_into_view_if_needed()
            controls, output = widget.locator(CONTROLS), widget.locator(RESULT).last
            for j in range(controls.count()):
                control = controls.nth(j)
                before, was = output.inner_html(), _readout(control)
                assert _moved_and_changed(page, control, output, before), (
                    f"{name}: widget {i + 1}, control {j + 1}: the output did not change "
                    f"(the control showed {was!r}, now {_readout(control)!r})"
                )
                _wait_idle(page)
                moved += 1
            widget.screenshot(path=str(SHOTS / f"{Path(name).stem}-widget{i + 1}.png"))
        assert moved >= 2
        assert errors == [], f"browser console errors in {name}: {errors}"
    finally:
        page.close()


def test_only_the_python_version_may_change_on_opening():
    """The comparison above, without a browser: the kernel's Python version is the one edit let
    through (and only as the kernel reports it); any other difference is named."""
    nb = json.loads((ROOT / "notebooks" / NOTEBOOKS[0]).read_text())
    kernel = {**nb["metadata"]["language_info"], "version": "3.99.1"}
    opened = json.loads(json.dumps(nb))
    assert _changed_on_opening(nb, opened, kernel) == []
    opened["metadata"]["language_info"] = kernel
    assert _changed_on_opening(nb, opened, kernel) == [_PYTHON_VERSION]
    assert _changed_on_opening(nb, opened, {**kernel, "version": "3.99.2"}) == [
        "metadata.language_info"
    ]
    opened["cells"][3]["source"] += "x"
    opened["metadata"]["widgets"] = {}
    assert _changed_on_opening(nb, opened, kernel) == [
        "metadata.language_info", "metadata.widgets", f"cell 3 ({nb['cells'][3]['id']})"
    ]  # fmt: skip
