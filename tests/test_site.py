"""The course website (tools/build_site.py): its pages in step with their sources, and, once built
(``ALEXNET_LESSON_SITE`` names its ``_build/html``; CI builds it), every page opened in Chromium:
the lesson's title, its figures, no Colab install cell, working slides and Colab links, and a
console free of errors other than blocked requests to outside hosts (MathJax and the widget
manager load from a CDN, and CI has no network)."""

import functools
import http.server
import json
import os
import re
import sys
import threading
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402  (tools/ is no package)

SITE = os.environ.get("ALEXNET_LESSON_SITE")
LESSONS = build_site.lessons()


def test_the_written_pages_are_up_to_date():
    assert build_site.main(["--check"]) == 0


def test_the_table_of_contents_holds_every_lesson_in_order():
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    listed = re.findall(r"file: notebooks/(\S+)", toc)
    assert listed == [p.stem for p in LESSONS]
    assert 'execute_notebooks: "off"' in (ROOT / "_config.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_the_colab_install_cell_is_left_out_of_the_site(lesson):
    nb = nbformat.read(lesson, as_version=4)
    install = [c for c in nb.cells if c.get("id") == "colab-install"]
    assert len(install) == 1 and install[0].metadata.get("tags") == ["remove-cell"]


def test_the_syllabus_names_every_lesson_with_its_slot_and_objectives():
    text = build_site.syllabus()
    for lesson in LESSONS:
        facts = build_site.lesson_facts(lesson)
        assert f"[{facts['title']}](../notebooks/{lesson.name})" in text
        assert f"| {facts['minutes']} min |" in text and facts["objectives"][:60] in text


# --------------------------------------------------------------------------- the built site


@pytest.fixture(scope="module")
def served():
    if not SITE or not (Path(SITE) / "index.html").is_file():
        pytest.skip("no built site: set ALEXNET_LESSON_SITE to a _build/html that "
                    "tools/build_site.py made")  # fmt: skip

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no line per request
            pass

    handler = functools.partial(Quiet, directory=SITE)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def page(served, tmp_path_factory):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=CHROMIUM,
            args=CHROMIUM_ARGS, headless=True,
        )  # fmt: skip
        yield context.new_page()
        context.close()


def visit(page, url: str) -> list[str]:
    """Open ``url``; return the console errors, less blocked requests to outside hosts."""
    errors: list[str] = []
    local = url.split("/", 3)[:3]

    def keep(message) -> None:
        where = message.location.get("url", "")
        outside = where and where.split("/", 3)[:3] != local
        blocked = message.text.startswith("Failed to load resource") and (outside or not where)
        if message.type == "error" and not blocked and "ERR_NAME_NOT_RESOLVED" not in message.text:
            errors.append(f"{message.text} ({where or 'no address'})")

    page.on("console", keep)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")  # a redirect, the icon and the scripts, all asked
    page.remove_listener("console", keep)
    return errors


def images_stored(lesson: Path) -> int:
    nb = json.loads(lesson.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    return sum("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_page_shows_its_title_and_figures(served, page, lesson):
    errors = visit(page, f"{served}/notebooks/{lesson.stem}.html")
    title = build_site.lesson_facts(lesson)["title"]
    assert page.locator("h1").first.inner_text().strip().rstrip("#").strip() == title
    shown = page.locator("main img").count()
    assert shown >= images_stored(lesson), f"{shown} images for {images_stored(lesson)} stored"
    assert "google.colab" not in page.content()  # the install cell is left out
    assert errors == [], errors


@pytest.mark.browser
@pytest.mark.slow
def test_home_syllabus_and_command_line_pages_and_their_links(served, page):
    for path, heading in [("index", "AlexNet"), ("site/syllabus", "Syllabus"),
                          ("site/command-line", "The command line")]:  # fmt: skip
        errors = visit(page, f"{served}/{path}.html" if path != "index" else f"{served}/")
        assert heading in page.locator("h1").first.inner_text() and errors == [], errors
    visit(page, f"{served}/site/syllabus.html")
    slides = page.locator("a", has_text="slides")
    colab = page.locator("a", has_text="open in Colab")
    assert slides.count() == colab.count() == len(LESSONS)
    assert all("colab.research.google.com/github/" in colab.nth(i).get_attribute("href")
               for i in range(len(LESSONS)))  # fmt: skip
    deck = page.request.get(f"{served}/slides/{LESSONS[0].stem}.slides.html")
    assert deck.ok and "reveal" in deck.text()
