"""The reports as a reader meets them: headless Chromium, networking blocked.

Runs the quickstart at its smoke preset through the batch runner, then opens ``index.html`` and the
study's two HTML reports from disk. The test fails on a console error, an uncaught page error, a
request for anything but a local file or inline data, or a stderr block showing a progress bar or a
known warning. Needs Debian's ``chromium`` and the ``playwright`` package (the ``test`` extra); it is
skipped without them unless ``ADVLAB_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets), which makes it fail.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from helpers.runner import run
from helpers.runner.html import PROGRESS_BAR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("ADVLAB_REQUIRE_BROWSER") == "1"
RAW_LATEX = re.compile(r"\$[^$\n]+\$")  # a formula left as text between dollars
NOISE = re.compile(r"TqdmWarning|IProgress|oneDNN|tensorflow/|without encryption|Traceback")

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None


def _browser_or_skip():
    missing = [what for what, ok in (("chromium", CHROMIUM), ("playwright", sync_playwright)) if not ok]
    if missing:
        message = f"{' and '.join(missing)} not installed (apt-get install chromium; pip install -e .[test])"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)


HOSTILE_PRESET = "<img src=x onerror=alert(1)>"  # a preset file name a user chose: must render as text


@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory):
    """The quickstart's smoke preset run by the batch runner from a copy of the notebooks, under a preset file
    whose name is HTML (``HOSTILE_PRESET``.yaml, the smoke preset's values)."""
    _browser_or_skip()
    from helpers.runner.cli import copy_notebooks

    reports = tmp_path_factory.mktemp("reports")
    notebooks = tmp_path_factory.mktemp("notebooks")
    copy_notebooks(notebooks)
    presets = notebooks / "presets" / "quickstart"
    (presets / f"{HOSTILE_PRESET}.yaml").write_text((presets / "smoke.yaml").read_text())
    _run_into(reports, tmp_path_factory.mktemp("cache"), ["quickstart", "--preset", HOSTILE_PRESET], notebooks_dir=notebooks)
    return reports


def _run_into(reports: Path, cache: Path, argv: list[str], **kwargs) -> None:
    """``advlab run ARGV`` in this process with its own reports root and model cache; the environment restored."""
    saved = {k: os.environ.get(k) for k in ("ADVLAB_REPORTS", "MPLBACKEND", "ADVLAB_CACHE")}
    os.environ["ADVLAB_REPORTS"] = str(reports)
    os.environ["ADVLAB_CACHE"] = str(cache)
    os.environ.pop("MPLBACKEND", None)
    try:
        assert run.main(argv, **kwargs) == 0
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


# Class folder names a photo set brought with it (a Flickr search text, a folder someone shared): as text, never markup.
HOSTILE_CLASSES = ("<img src=x onerror=alert(2)>", "cat $x$ <svg onload=alert(3)> & co")  # folder names: no "/"


@pytest.fixture(scope="module")
def hostile_photo_reports(tmp_path_factory):
    """The Flickr study's smoke preset on a photo folder whose class folders are named with HTML and TeX: five
    classes of six photos, two of them renamed (``HOSTILE_CLASSES``)."""
    _browser_or_skip()
    source = Path(os.environ.get("ADVLAB_DATA", "data")) / "imagewoof5"
    if not source.is_dir():
        pytest.skip(f"no photo set at {source}")
    photos = tmp_path_factory.mktemp("photos")
    for index, breed in enumerate(sorted(p.name for p in source.iterdir() if p.is_dir())):
        folder = photos / (HOSTILE_CLASSES[index] if index < len(HOSTILE_CLASSES) else breed)
        folder.mkdir()
        for image in sorted((source / breed).iterdir())[:6]:
            shutil.copy(image, folder / image.name)
    reports = tmp_path_factory.mktemp("reports")
    _run_into(reports, tmp_path_factory.mktemp("cache"),
              ["flickr_transfer_attacks", "--preset", "smoke", "-p", f"photo_folder={photos}"])
    return reports


@pytest.mark.parametrize("name", ["flickr_transfer_attacks/flickr_transfer_attacks.html",
                                  "flickr_transfer_attacks/flickr_transfer_attacks.reader.html", "index.html"])
def test_class_names_from_the_data_render_as_text(hostile_photo_reports, name, tmp_path):
    seen = _visit(hostile_photo_reports / name, tmp_path / "page.png")
    assert not seen["console"] and not seen["errors"], f"{name}: console {seen['console']} errors {seen['errors']}"
    assert seen["payload"] == 0, f"{name} carries live markup from a class folder's name"
    if name != "index.html":
        assert all(c in seen["text"] for c in HOSTILE_CLASSES), f"{name} does not show the class names as text"


def _visit(page_path: Path, screenshot: Path) -> dict:
    """Open one file in Chromium with the network blocked; what it asked for and what went wrong."""
    seen = {"remote": [], "console": [], "errors": [], "stderr": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(request_route):
                url = request_route.request.url
                if url.startswith(("file:", "data:", "about:")):
                    request_route.continue_()
                else:
                    seen["remote"].append(url)
                    request_route.abort()

            page.route("**/*", route)
            page.on("console", lambda msg: seen["console"].append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
            page.goto(page_path.as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            seen["stderr"] = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
            seen["images"] = page.evaluate("Array.from(document.images).map(i => i.naturalWidth > 0)")
            # Markup that came in with a foreign string (the preset's name) and was not escaped.
            seen["payload"] = page.evaluate("document.querySelectorAll('[onerror], [onload], img[src=\"x\"]').length")
            seen["text"] = page.locator("body").inner_text()
            # Exercise answers: folded in <details>, so nothing but the summary shows until opened.
            seen["answers"] = page.locator("details").count()
            seen["visible_answers"] = sum(page.locator("details > :not(summary)").nth(i).is_visible()
                                          for i in range(page.locator("details > :not(summary)").count()))
            # Formulas: MathML elements the browser laid out, and any LaTeX left as text in rendered Markdown.
            seen["math"] = page.evaluate(
                "Array.from(document.querySelectorAll('math')).filter(m => !m.closest('details'))"
                ".map(m => m.getBoundingClientRect().width > 0)")  # folded answers are not laid out until opened
            seen["raw_math"] = [t for t in page.locator(".jp-RenderedMarkdown, .jp-MarkdownOutput").all_inner_texts()
                                if RAW_LATEX.search(t)]
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    return seen


@pytest.mark.parametrize("name", ["index.html", "quickstart/quickstart.html", "quickstart/quickstart.reader.html"])
def test_report_renders_offline_with_no_errors_or_progress_output(smoke_reports, name, tmp_path):
    shots = Path(os.environ.get("ADVLAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    seen = _visit(smoke_reports / name, shots / (name.replace("/", "_") + ".png"))
    assert not seen["remote"], f"{name} requested non-local URLs: {seen['remote']}"
    assert not seen["console"] and not seen["errors"], f"{name}: console {seen['console']} errors {seen['errors']}"
    noisy = [t for t in seen["stderr"] if PROGRESS_BAR.search(t) or NOISE.search(t)]
    assert not noisy, f"{name} shows progress or warning output: {noisy[:3]}"
    assert seen["images"] and all(seen["images"]), f"{name}: an image did not load ({seen['images']})"
    assert seen["payload"] == 0, f"{name} carries live markup from the preset's name"
    assert HOSTILE_PRESET in seen["text"], f"{name} does not show the preset's name as text"


def test_index_shows_findings_and_no_numeric_verdict_off_protocol(smoke_reports):
    page = (smoke_reports / "index.html").read_text(encoding="utf-8")
    assert "<h2>Findings</h2>" in page and "scoreboard" in page
    body = page[page.index("<body>"):]
    assert ">reproduced<" not in body and ">not reproduced<" not in body


@pytest.mark.parametrize("name", ["quickstart/quickstart.html", "quickstart/quickstart.reader.html"])
def test_formulas_render_offline(smoke_reports, name, tmp_path):
    seen = _visit(smoke_reports / name, tmp_path / "formulas.png")
    assert seen["math"], f"{name} shows no formula"
    assert all(seen["math"]), f"{name}: a formula was not laid out"
    assert not seen["raw_math"], f"{name} shows LaTeX as text: {seen['raw_math'][0][:200]!r}"


@pytest.mark.parametrize("name", ["quickstart/quickstart.html", "quickstart/quickstart.reader.html"])
def test_exercise_answers_stay_folded(smoke_reports, name, tmp_path):
    seen = _visit(smoke_reports / name, tmp_path / "answers.png")
    assert seen["answers"] >= 3, f"{name} shows {seen['answers']} exercise answers"
    assert seen["visible_answers"] == 0, f"{name}: {seen['visible_answers']} answer blocks show before they are opened"


def test_the_formula_check_catches_latex_left_as_text(tmp_path):
    _browser_or_skip()
    page = tmp_path / "raw.html"
    page.write_text('<html><body><div class="jp-RenderedMarkdown"><p>PGD: $x^{t+1} = \\Pi(x^t)$</p></div>'
                    '<math><mi>x</mi></math></body></html>')
    seen = _visit(page, tmp_path / "raw.png")
    assert seen["raw_math"] and all(seen["math"])


def test_the_browser_check_catches_a_remote_request_and_a_progress_block(tmp_path):
    _browser_or_skip()
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><head><script src="https://cdn.example.org/require.js"></script></head><body>'
        '<div data-mime-type="application/vnd.jupyter.stderr"><pre>training:  40%|####      | 4/10 [00:01&lt;00:02]</pre>'
        '</div><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body></html>'
    )
    seen = _visit(page, tmp_path / "bad.png")
    assert seen["remote"] == ["https://cdn.example.org/require.js"]
    assert any(PROGRESS_BAR.search(t) for t in seen["stderr"])
