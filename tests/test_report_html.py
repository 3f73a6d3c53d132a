"""The HTML report (`report --html`): content, order, evidence, escaping, offline, size.

What a browser shows is tested in tests/test_report_html_browser.py (marked ``browser``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import itertools
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stridewise
from stridewise.cli import cli
from stridewise.engine.runtime import PackFailure
from stridewise.report_html import (
    inline,
    markdown,
    render_report,
)

DATA = Path(__file__).parent / "data"
JOURNAL = DATA / "journals" / "return_to_run_night_pain.yaml"
AS_OF = dt.date(2026, 3, 31)
DEMO = Path(stridewise.__file__).parent / "data" / "demo_athlete.yaml"
DEMO_AS_OF = dt.date(2026, 10, 31)
#: The largest page a 10-year daily history may give, at the longest window (52 weeks), with
#: load cards firing on every day of it (see docs/report.md).
SIZE_BUDGET = 300_000


def history_of(path: Path) -> stridewise.History:
    result = stridewise.import_paths([path], stridewise.PluginHost())
    return stridewise.History(result.events)


@pytest.fixture(scope="module")
def engine() -> stridewise.Engine:
    return stridewise.build_engine()


@pytest.fixture(scope="module")
def night_pain(engine: stridewise.Engine) -> tuple[stridewise.History, Any, str]:
    history = history_of(JOURNAL)
    evaluation = engine.evaluate_facts(history.facts(AS_OF), AS_OF)
    page = render_report(history, AS_OF, engine, evaluation=evaluation, title="Night pain")
    return history, evaluation, page


class _Outline(HTMLParser):
    """Headings, tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in: int | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self._in, self._buf = int(tag[1]), []

    def handle_endtag(self, tag: str) -> None:
        if self._in is not None and tag == f"h{self._in}":
            self.headings.append((self._in, "".join(self._buf).strip()))
            self._in = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in is not None:
            self._buf.append(data)


def outline(page: str) -> _Outline:
    parser = _Outline()
    parser.feed(page)
    parser.close()
    return parser


def findings_part(page: str) -> str:
    return page[page.index('id="findings"') : page.index('id="load"')]


# -- findings first, in the arbitration's order ---------------------------------------------


def test_night_pain_puts_see_a_physician_above_every_card(night_pain: Any) -> None:
    _, evaluation, page = night_pain
    assert evaluation.cards[0].indicator == "critical"
    findings = findings_part(page)
    banner = findings.index("Stop running and see a physician.")
    assert banner < findings.index('class="card ')
    first_card = findings[findings.index('class="card ') :]
    assert first_card.startswith('class="card card-critical"')
    assert "Pain at rest or at night (shin): stop running and see a physician." in first_card
    # The banner names each card that says stop, linked to it.
    assert (
        '<li><a href="#card-1">Pain at rest or at night (shin): stop running and see a '
        "physician.</a></li>" in findings[banner : findings.index('class="card ')]
    )


def test_cards_show_in_the_order_arbitration_gave_them(night_pain: Any) -> None:
    _, evaluation, page = night_pain
    headings = [text for level, text in outline(page).headings if level == 3]
    shown = [c.summary for c in evaluation.cards]
    assert headings[: len(shown)] == shown


def test_cards_set_aside_are_listed_after_the_shown_ones_with_the_reason(night_pain: Any) -> None:
    _, evaluation, page = night_pain
    assert evaluation.suppressed
    findings = findings_part(page)
    aside = findings.index('<details class="aside">')
    assert aside > findings.rindex('class="card ')
    for card in evaluation.suppressed:
        assert inline(card.summary) in findings[aside:]
        assert f"({card.suppressed_by})" in findings[aside:]


def test_each_card_shows_its_facts_parameters_and_sources_as_links(night_pain: Any) -> None:
    _, evaluation, page = night_pain
    cards = page.split('<article class="card ')[1:]
    assert len(cards) == len(evaluation.cards)
    for html_card, card in zip(cards, evaluation.cards, strict=True):
        assert "Facts it fired on" in html_card
        for name in card.parameters:
            assert f"{name} = " in html_card
        for src in card.sources:
            if "url" in src:
                assert f'<a href="{src["url"]}" rel="noopener noreferrer">' in html_card
            assert html.escape(src["label"]) in html_card
        assert f"{card.ruleset_id} {card.ruleset_version} / {card.rule_id}" in html_card
    critical = cards[0]
    assert "<tr><td>pain</td><td>at_night = yes," in critical


def test_a_failed_pack_says_the_report_is_incomplete(engine: Any, night_pain: Any) -> None:
    history, evaluation, _ = night_pain
    failed = dataclasses.replace(
        evaluation, failures=(PackFailure("footwear", "footwear/shoe-worn", "ValueError: x"),)
    )
    page = render_report(history, AS_OF, engine, evaluation=failed)
    findings = findings_part(page)
    assert "This report is incomplete." in findings
    assert findings.index("This report is incomplete.") < findings.index('class="card ')


def test_a_quiet_day_says_nothing_calls_for_a_recommendation(engine: Any) -> None:
    events = stridewise.load_events(
        [
            {
                "kind": "run",
                "id": f"r{n}",
                "source": "app",
                "start": f"2026-05-{n:02d}T07:00:00+00:00",
                "distance_m": 5000,
                "moving_time_s": 1800,
            }
            for n in range(1, 4)
        ]
    )
    history = stridewise.History(events)
    evaluation = engine.evaluate_facts(history.facts(dt.date(2026, 5, 3)), dt.date(2026, 5, 3))
    quiet = dataclasses.replace(evaluation, cards=(), suppressed=())
    page = render_report(history, dt.date(2026, 5, 3), engine, evaluation=quiet)
    assert "No recommendations today" in page
    assert "see a physician.</p></div>" not in page


# -- charts -----------------------------------------------------------------------------------


def marks(page: str, name: str) -> int:
    """Items of one named chart layer in the page's SVG (Vega draws each as one element)."""
    groups = re.findall(rf'<g class="mark-\w+ role-mark {name}_marks"[^>]*>(.*?)</g>', page, re.S)
    return sum(len(re.findall(r"<(?:path|line|text)\b", g)) for g in groups)


def test_weekly_distance_has_one_bar_per_week_since_the_first_run(night_pain: Any) -> None:
    history, _, page = night_pain
    first = min(r.day for r in history.runs)  # Monday 1 December 2025
    weeks = (AS_OF - first).days // 7 + 1
    assert weeks == 18
    assert marks(page, "weeks") == weeks
    assert marks(page, "loads") == 2  # the acute and the chronic line


def test_the_ratio_line_is_not_drawn_across_days_without_a_ratio(night_pain: Any) -> None:
    _, _, page = night_pain
    # From late January to mid-March there is no chronic load (the injury break): no ratio,
    # so the line comes in two pieces instead of a slope across the gap.
    assert marks(page, "ratio") == 2
    assert "<td>none</td>" in page  # the daily table says so
    assert "the ratio cards stay silent and the comeback cards apply instead" in page


def test_load_cards_are_marked_on_the_days_they_fired(engine: Any) -> None:
    history = history_of(DEMO)
    evaluation = engine.evaluate_facts(history.facts(DEMO_AS_OF), DEMO_AS_OF)
    page = render_report(history, DEMO_AS_OF, engine, evaluation=evaluation, weeks=8)
    start = DEMO_AS_OF - dt.timedelta(days=DEMO_AS_OF.weekday(), weeks=7)
    fired: set[tuple[dt.date, str]] = set()
    for day, facts in history.timeline(start, DEMO_AS_OF):
        for card in engine.evaluate_facts(facts, day).all_cards:
            if card.ruleset_id == "training-load" and card.kind == "finding":
                fired.add((day, card.key))
    assert fired
    assert marks(page, "fired_days") == len({day for day, _ in fired})
    # Below the chart, one row per card, one bar per run of consecutive days it fired.
    runs = 0
    for key in {k for _, k in fired}:
        days = sorted(d for d, k in fired if k == key)
        runs += 1 + sum((b - a).days > 1 for a, b in itertools.pairwise(days))
    assert marks(page, "firing_strip") == runs
    assert "Acute load spike (rolling ratio, the default)" in page


def test_ratio_bands_are_the_clinics_tuned_parameters() -> None:
    engine = stridewise.build_engine(overrides={"training-load": {"acwr_danger": 1.3}})
    history = history_of(DEMO)
    page = render_report(history, DEMO_AS_OF, engine, weeks=6)
    assert "above 1.3: spike (warning)" in page
    assert "0.8-1.3: no load-ratio card" in page
    assert "above 1.5" not in page


def test_each_shoe_is_drawn_against_its_replacement_mark(night_pain: Any) -> None:
    _, _, page = night_pain
    assert marks(page, "shoes") == 1
    assert marks(page, "shoe_marks") == 1
    assert "Pegasus 40 736 km, past the replacement mark" in page
    assert "<td>500</td>" in page  # the mark in the table
    tuned = stridewise.build_engine(overrides={"footwear": {"replace_km": 800}})
    page = render_report(history_of(JOURNAL), AS_OF, tuned, weeks=4)
    assert "Pegasus 40 736 km, approaching the mark" in page
    assert "<td>800</td>" in page


def test_pain_reports_and_the_return_to_run_phase_are_shown(night_pain: Any) -> None:
    _, evaluation, page = night_pain
    assert marks(page, "pains") == 1
    assert marks(page, "injury_events") == 2  # diagnosed, cleared to run
    assert marks(page, "rtr_period") == 1  # the walk-run ladder since clearance, shaded
    assert "shin 4/10" in page
    injury = next(f for f in evaluation.facts if f["type"] == "injury")
    assert f"Walk-run ladder: phase {injury['ladder_phase']} of 6" in page
    assert "you are here" in page
    assert "https://doi.org/10.1186/s13063-023-07502-x" in page


def test_bone_health_score_lists_scored_and_missing_items(engine: Any) -> None:
    history = history_of(DEMO)
    evaluation = engine.evaluate_facts(history.facts(DEMO_AS_OF), DEMO_AS_OF)
    score = next(
        c
        for c in evaluation.all_cards
        if c.ruleset_id == "recurrence-risk" and "missing" in c.parameters
    )
    page = render_report(history, DEMO_AS_OF, engine, evaluation=evaluation, weeks=4)
    part = page[page.index('id="score"') : page.index('id="about"')]
    for item in score.parameters["missing"]:
        assert re.search(
            rf"{item.replace('_', ' ')}</th><td>-</td><td class=\"missing\">missing", part
        )
    for fact in score.facts:
        assert f"{fact['component'].replace('_', ' ')}</th><td>{fact['points']}</td>" in part


def test_every_chart_has_a_caption_and_a_table_of_its_numbers(night_pain: Any) -> None:
    _, _, page = night_pain
    figures = page.split("<figure")[1:]
    assert len(figures) == 4  # load, ratio, shoes, pain
    for fig in figures:
        fig = fig[: fig.index("</figure>")]
        assert 'role="img" aria-label="' in fig
        assert "<figcaption" in fig
        assert "<table>" in fig and '<th scope="col">' in fig


def test_headings_go_down_one_level_at_a_time(night_pain: Any) -> None:
    _, _, page = night_pain
    levels = [level for level, _ in outline(page).headings]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1


# -- offline and safe -------------------------------------------------------------------------


def test_the_page_loads_nothing_and_runs_nothing(night_pain: Any) -> None:
    _, _, page = night_pain
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    parsed = outline(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "img", "object", "embed", "image", "use"}
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), tag
        assert "src" not in attrs
        if "href" in attrs:
            assert tag == "a" and re.match(r"(https://|#)", attrs["href"] or ""), attrs
    assert "@import" not in page and "url(" not in page


HOSTILE = "<script>alert(1)</script> [/] [bold red]x[/] \x07\x1b[31m\u202eevil\x00 \"q\" 's' &amp;"


@pytest.fixture(scope="module")
def hostile_page(engine: Any) -> str:
    items: list[dict[str, Any]] = [
        {"kind": "shoe", "id": "s<1>", "source": "app", "name": HOSTILE, "start_distance_m": 480000}
    ]
    for n in range(40):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=n)
        items.append(
            {
                "kind": "run",
                "id": f"r{n}",
                "source": "app",
                "start": f"{day.isoformat()}T07:00:00+00:00",
                "distance_m": 8000,
                "moving_time_s": 2700,
                "shoe_id": "s<1>",
            }
        )
    history = stridewise.History(stridewise.load_events(items))
    day = dt.date(2026, 4, 9)
    return render_report(history, day, engine, title=f"Report for {HOSTILE}")


def test_data_from_a_journal_cannot_inject_markup_or_control_characters(
    hostile_page: str,
) -> None:
    page = hostile_page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "[/] [bold red]x[/]" in page  # rich's markup is just text here
    for bad in "\x00\x07\x1b\u202e":
        assert bad not in page
    assert "\ufffd" in page
    text = "".join(outline(page).text)
    assert "<script>alert(1)</script> [/]" in text  # shown as typed, not run
    assert "&amp;" in text  # an entity in the data is shown, not decoded


def test_the_hostile_shoe_name_reaches_card_chart_and_table_escaped(hostile_page: str) -> None:
    page = hostile_page
    shoes = page[page.index('id="shoes"') : page.index('id="pain"')]
    assert "&lt;script&gt;" in shoes  # in the chart's SVG text and in the table
    findings = findings_part(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in findings  # the worn-shoe card


def test_card_markdown_shows_raw_html_as_text_and_drops_unsafe_links() -> None:
    out = markdown('<img src=x onerror="alert(1)"> [a](javascript:alert(1)) [b](https://x.org)')
    assert "<img" not in out and "&lt;img" in out
    assert 'href="javascript' not in out
    assert '<a href="https://x.org">b</a>' in out
    assert "<h1>" not in markdown("# not a heading\n\nSetext\n===")


# -- size ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_years_of_daily_running_stays_under_the_size_budget(engine: Any) -> None:
    first = dt.date(2016, 11, 1)
    items: list[dict[str, Any]] = [
        {"kind": "shoe", "id": f"s{k}", "source": "app", "name": f"Pair {k}"} for k in range(20)
    ]
    for n in range(3652):
        day = first + dt.timedelta(days=n)
        items.append(
            {
                "kind": "run",
                "id": f"r{n}",
                "source": "app",
                "start": f"{day.isoformat()}T07:00:00+00:00",
                "distance_m": 6000 + 4000 * (n % 7 == 6) + 37 * (n % 11),
                "moving_time_s": 1900,
                "shoe_id": f"s{n // 183}",
            }
        )
    items += [
        {
            "kind": "pain",
            "id": f"p{n}",
            "source": "app",
            "date": (first + dt.timedelta(days=n)).isoformat(),
            "site": "shin",
            "severity": 2 + n % 3,
            "with_activity": True,
        }
        for n in range(3400, 3652, 9)
    ]
    history = stridewise.History(stridewise.load_events(items))
    as_of = first + dt.timedelta(days=3651)
    for weeks in (26, 52):
        page = render_report(history, as_of, engine, weeks=weeks)
        assert len(page.encode()) < SIZE_BUDGET, (weeks, len(page.encode()))


# -- the command line -------------------------------------------------------------------------


def test_report_html_writes_one_page_and_still_prints_the_cards(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli, ["report", str(JOURNAL), "--as-of", AS_OF.isoformat(), "--html", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "HTML report written to" in result.output
    assert "CRITICAL" in result.output
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Stop running and see a physician." in page


def test_demo_html_with_json_keeps_the_json_clean(tmp_path: Path) -> None:
    import json

    out = tmp_path / "demo.html"
    result = CliRunner().invoke(cli, ["demo", "--json", "--html", str(out)])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert "Sample athlete" in out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_isolated_demo_html_is_the_same_page_evaluated_in_a_worker(tmp_path: Path) -> None:
    pages = []
    for extra in ([], ["--isolated"]):
        out = tmp_path / f"demo{len(extra)}.html"
        result = CliRunner().invoke(cli, ["demo", "--html", str(out), *extra])
        assert result.exit_code == 0, result.output
        pages.append(out.read_text(encoding="utf-8"))
    assert pages[0] == pages[1]


def test_report_html_with_a_failing_pack_says_incomplete_and_exits_1(tmp_path: Path) -> None:
    from test_cli_pack_failure import run  # its broken third-party pack and journal

    out = tmp_path / "report.html"
    code, _, err = run(tmp_path, "--html", str(out))
    assert code == 1
    assert "do not read it as complete" in err
    page = out.read_text(encoding="utf-8")
    findings = findings_part(page)
    assert "This report is incomplete." in findings and "third-party" in findings
    assert "Stop running and see a physician." in findings  # the red flag still shows
