"""The HTML report in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Marked ``browser``: tox's env ``browser`` runs these after ``.ci/need.py`` installs chromium.
Without chromium they fail (never skip). Regenerate the README's screenshots with
``python tests/test_report_html_browser.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import stridewise
from stridewise.report_html import render_report

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
JOURNAL = ROOT / "tests" / "data" / "journals" / "return_to_run_night_pain.yaml"
AS_OF = dt.date(2026, 3, 31)
DEMO = Path(stridewise.__file__).parent / "data" / "demo_athlete.yaml"
DEMO_AS_OF = dt.date(2026, 10, 31)
SCREENSHOTS = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("STRIDEWISE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Flags for a root user in a container, and nothing that calls home.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def page_for(path: Path, as_of: dt.date, title: str, **kwargs: Any) -> str:
    result = stridewise.import_paths([path], stridewise.PluginHost())
    history = stridewise.History(result.events)
    return render_report(history, as_of, stridewise.build_engine(), title=title, **kwargs)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium with a fresh profile (user data dir) for this module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install it (python .ci/need.py chromium chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport=DESKTOP,
        )
        yield ctx
        ctx.close()


@pytest.fixture(scope="module")
def night_pain_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "night-pain.html"
    out.write_text(page_for(JOURNAL, AS_OF, "Night pain"), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "demo.html"
    out.write_text(page_for(DEMO, DEMO_AS_OF, "Sample athlete"), encoding="utf-8")
    return out


class Watched:
    """A page with everything it logs, throws, asks for and pops up recorded."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.opened: set[str] = set()
        self.page.on(
            "console",
            lambda m: (
                self.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, path: Path, viewport: dict[str, int] = DESKTOP) -> Any:
        self.page.set_viewport_size(viewport)
        self.opened.add(path.as_uri())
        self.page.goto(path.as_uri(), wait_until="load")
        return self.page

    def other_requests(self) -> list[str]:
        """Requests other than for the pages opened (file:// URLs)."""
        return [u for u in self.requests if u not in self.opened]

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def watched(context: Any) -> Iterator[Watched]:
    w = Watched(context)
    yield w
    w.close()


def test_the_report_opens_with_no_console_error_and_no_network_request(
    watched: Watched, night_pain_file: Path, demo_file: Path
) -> None:
    for path in (night_pain_file, demo_file):
        page = watched.open(path)
        page.wait_for_timeout(300)  # anything late (a lazy load, a timer) would show by now
        assert watched.console == []
        assert watched.errors == []
        assert watched.other_requests() == []
        assert page.evaluate("document.querySelectorAll('script').length") == 0


def test_the_request_watch_would_see_a_page_that_calls_out(
    watched: Watched, tmp_path: Path
) -> None:
    # The check above is not vacuous: a page that loads an image is seen asking for it.
    control = tmp_path / "calls-out.html"
    control.write_text('<img src="http://127.0.0.1:9/x.png" alt="">', encoding="utf-8")
    watched.open(control)
    assert "http://127.0.0.1:9/x.png" in watched.other_requests()


COUNT = "(sel) => document.querySelectorAll(sel).length"


def test_the_charts_draw_the_expected_marks_for_the_night_pain_journal(
    watched: Watched, night_pain_file: Path
) -> None:
    page = watched.open(night_pain_file)
    # Runs from Monday 1 December 2025 to 28 March 2026, evaluated on 31 March: 18 weeks.
    assert page.evaluate(COUNT, ".weeks_marks path") == 18
    assert page.evaluate(COUNT, ".loads_marks path") == 2  # acute and chronic lines
    # No ratio from late January to mid-March (no chronic load after the injury break): the
    # line is drawn in two pieces, never across the gap.
    assert page.evaluate(COUNT, ".ratio_marks path") == 2
    assert page.evaluate(COUNT, ".bands_marks path") == 4  # low, usual, spike, very high
    assert page.evaluate(COUNT, ".shoes_marks path") == 1  # one pair
    assert page.evaluate(COUNT, ".shoe_marks_marks path") == 1  # its replacement mark
    assert page.evaluate(COUNT, ".pains_marks path") == 1  # the night pain on 30 March
    assert page.evaluate(COUNT, ".injury_events_marks line") == 2  # diagnosed, cleared
    sizes = page.evaluate(
        "() => [...document.querySelectorAll('figure svg')].map(s => {"
        " const r = s.getBoundingClientRect(); return [r.width, r.height]; })"
    )
    assert len(sizes) == 4
    assert all(w > 300 and h > 60 for w, h in sizes), sizes
    # Each chart's paths have real geometry (not an empty SVG frame).
    assert page.evaluate(
        "() => [...document.querySelectorAll('.weeks_marks path')]"
        ".every(p => p.getBBox().height > 0 || p.getBBox().width > 0)"
    )


def test_the_load_cards_are_marked_on_the_chart_in_the_browser(
    watched: Watched, demo_file: Path
) -> None:
    page = watched.open(demo_file)
    days = page.evaluate(COUNT, ".fired_days_marks path")
    spans = page.evaluate(COUNT, ".firing_strip_marks path")
    assert days > 0 and spans > 0
    table_days = page.evaluate(
        "() => [...document.querySelectorAll('#load-fig-cap ~ details tbody tr')]"
        ".filter(r => r.lastElementChild.textContent.trim() !== '' &&"
        " r.children.length === 6).length"
    )
    assert table_days == days


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_critical_card_is_above_the_fold(
    watched: Watched, night_pain_file: Path, viewport: dict[str, int]
) -> None:
    page = watched.open(night_pain_file, viewport)
    fold = page.evaluate("window.innerHeight")
    for selector in (".physician", ".card-critical .tag", ".card-critical h3"):
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= fold, (selector, box, fold)
    assert "see a physician" in page.locator(".card-critical h3").first.inner_text()
    # Readable on a phone: nothing wider than the screen (charts scale down, tables scroll).
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_the_print_stylesheet_keeps_the_findings_and_drops_the_toggles(
    watched: Watched, night_pain_file: Path
) -> None:
    page = watched.open(night_pain_file)
    page.emulate_media(media="print")
    display = "(sel) => getComputedStyle(document.querySelector(sel)).display"
    assert page.evaluate(display, "details.data") == "none"
    assert page.evaluate(display, ".card-critical") != "none"
    assert page.evaluate(display, "figure") != "none"
    link_after = page.evaluate(
        "getComputedStyle(document.querySelector('.sources a'), '::after').content"
    )
    assert "https://" in link_after  # a printed source keeps its address
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
    page.emulate_media(media="screen")


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple[float, float, float], bg: tuple[float, float, float]) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


COLOURS = """(sel) => [...document.querySelectorAll(sel)].slice(0, 3).map(el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
  let bg = el, b = [0, 0, 0, 0];
  while (bg) { b = rgb(getComputedStyle(bg).backgroundColor);
    if (b.length < 4 || b[3] > 0) break; bg = bg.parentElement; }
  if (!bg) b = [255, 255, 255];
  return [rgb(getComputedStyle(el).color).slice(0, 3), b.slice(0, 3)];
})"""


def test_text_has_enough_contrast_and_indicators_are_words_too(
    watched: Watched, night_pain_file: Path
) -> None:
    page = watched.open(night_pain_file)
    selectors = [
        "body",
        ".meta",
        ".physician-head",
        ".tag-critical",
        ".tag-warning",
        ".tag-info",
        ".card h3",
        ".detail p",
        ".rule",
        ".sources a",
        "figcaption",
        "caption",
        ".phase",
        "footer",
    ]
    for selector in selectors:
        pairs = page.evaluate(COLOURS, selector)
        assert pairs, selector
        for fg, bg in pairs:
            ratio = contrast(tuple(fg), tuple(bg))
            assert ratio >= 4.5, (selector, fg, bg, round(ratio, 2))
    tags = page.evaluate(
        "() => [...document.querySelectorAll('.card .tag')].map(t => t.innerText.toUpperCase())"
    )
    assert tags[0].startswith("‼ CRITICAL") or "CRITICAL" in tags[0]
    assert all(any(w in t for w in ("CRITICAL", "WARNING", "INFORMATION")) for t in tags)


def test_hostile_names_show_as_text_and_nothing_runs(watched: Watched, tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> [/] \x07\u202eevil"
    items: list[dict[str, Any]] = [
        {"kind": "shoe", "id": "s1", "source": "app", "name": hostile, "start_distance_m": 600000}
    ]
    items += [
        {
            "kind": "run",
            "id": f"r{n}",
            "source": "app",
            "start": f"{(dt.date(2026, 3, 1) + dt.timedelta(days=n)).isoformat()}T07:00:00Z",
            "distance_m": 8000,
            "moving_time_s": 2700,
            "shoe_id": "s1",
        }
        for n in range(30)
    ]
    history = stridewise.History(stridewise.load_events(items))
    path = tmp_path / "hostile.html"
    path.write_text(
        render_report(history, dt.date(2026, 3, 30), stridewise.build_engine(), title=hostile),
        encoding="utf-8",
    )
    page = watched.open(path)
    page.wait_for_timeout(300)
    assert watched.dialogs == []
    assert watched.errors == []
    assert watched.other_requests() == []
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0
    assert "<script>alert(1)</script>" in page.locator("h1").inner_text()
    table = page.locator("#shoes ~ figure table").first.text_content() or ""
    assert "<script>alert(1)</script><img src=x onerror=alert(2)> [/]" in table


def test_the_readme_shows_a_screenshot_of_the_demo_report() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/img/demo-report.png)" in readme
    png = (SCREENSHOTS / "demo-report.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    width = int.from_bytes(png[16:20], "big")
    assert width >= 800


def make_screenshots() -> None:
    """Write docs/img/demo-report.png (the top, desktop), demo-report-charts.png (the training
    load section) and demo-report-phone.png (the top on a phone) from the demo athlete."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.html"
        path.write_text(page_for(DEMO, DEMO_AS_OF, "Sample athlete"), encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 760})
            page.goto(path.as_uri())
            page.screenshot(path=str(SCREENSHOTS / "demo-report.png"))
            page.locator("section[aria-labelledby=load]").screenshot(
                path=str(SCREENSHOTS / "demo-report-charts.png")
            )
            page.set_viewport_size(PHONE)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(SCREENSHOTS / "demo-report-phone.png"))
            browser.close()


if __name__ == "__main__":
    make_screenshots()
    sys.exit(0)
