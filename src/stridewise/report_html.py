"""The HTML report: one self-contained page for a runner or a clinician, readable offline.

:func:`render_report` turns an athlete's history and an evaluation into one HTML file:

- the findings first, in the order arbitration gave them (critical on top, with "see a
  physician" in a banner), the cards set aside listed after them with the reason;
- each card's evidence (the facts and parameter values it fired on) and its sources as links;
- charts: weekly distance with the acute and chronic loads and the days a load card fired, the
  acute:chronic ratio the rules use with the bands of the training-load pack's parameters,
  each shoe's distance against its replacement mark, pain reports on a timeline with the
  return-to-run phase, and the bone-health (Triad) score items, scored and missing.

Charts: Vega-Lite specs rendered to static SVG by ``vl-convert-python`` (the Vega project's own
renderer, shipped as one wheel with no browser and no network) and inlined. The page holds no
script at all, and a Content-Security-Policy forbids loading anything: it opens offline, prints
and cannot call out. Every chart has a caption and a table of the plotted numbers; indicators
are words and shapes as well as colours.

Every string from data, packs, plugins or profiles is escaped (:func:`text`), after characters
that XML cannot hold (control characters, lone surrogates) are replaced: the SVG renderer aborts
the whole process on them, and a browser would show them as garbage.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stridewise.engine.cards import Card, fmt_value
from stridewise.engine.errors import StridewiseError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from stridewise.engine.facts import History
    from stridewise.engine.runtime import Evaluation, Evaluator

#: Weeks of training shown by default (about six months; the issue asks for 6-12).
DEFAULT_WEEKS = 26
MAX_WEEKS = 53
#: Up to this many pain reports in the window, each point is labelled with site and severity.
MAX_PAIN_LABELS = 12
#: Pack ids whose parameters the charts read.
LOAD_PACK = "training-load"
SHOE_PACK = "footwear"
RTR_PACK = "return-to-run"
#: The ratio each value of the training-load pack's ``acwr_method`` parameter uses.
ACWR_FIELDS = {"rolling": "acwr_rolling", "ewma": "acwr_ewma", "uncoupled": "acwr_uncoupled"}
ACWR_NAMES = {
    "rolling": "rolling (last 7 days against the weekly average of the last 28)",
    "ewma": "exponentially weighted (7-day against 28-day averages)",
    "uncoupled": "uncoupled (last 7 days against the 21 days before them)",
}
#: The walk-run ladder the return-to-run pack follows (army RCT, table 1).
LADDER = (
    (1, "3/10", "2 min", "3 min", "1.6 km (1.0 mi)"),
    (2, "3/10", "2 min", "3 min", "2.4 km (1.5 mi)"),
    (3, "4/10", "2 min", "4 min", "2.4 km (1.5 mi)"),
    (4, "4/10", "2 min", "4 min", "3.2 km (2.0 mi)"),
    (5, "5/10", "1 min", "4 min", "3.2 km (2.0 mi)"),
    (6, "5/10", "none", "continuous", "3.2 km (2.0 mi)"),
)
LADDER_SOURCE = {
    "label": "Walk-run return-to-run protocol, army randomised trial (Trials 2023), table 1",
    "url": "https://doi.org/10.1186/s13063-023-07502-x",
}
INDICATOR_WORDS = {"critical": "Critical", "warning": "Warning", "info": "Information"}
INDICATOR_ICONS = {"critical": "\u203c", "warning": "\u26a0", "info": "\u2139"}
ADVICE_WORDS = {
    "stop": "stop running and see a physician",
    "modify": "change your training",
    "inform": "for your information",
    "reassure": "reassurance",
}

# Characters XML 1.0 cannot hold (C0 controls but tab and newlines, lone surrogates, U+FFFE/F),
# plus C1 controls and bidirectional overrides that can make text read differently than it is.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
_SAFE_LINK = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)
_LINK_TAG = re.compile(r"</?a\b[^>]*>")


def clean(value: object) -> str:
    """``value`` as text XML and HTML can hold: unsafe characters become U+FFFD."""
    return _UNSAFE.sub("\ufffd", str(value))


def text(value: object) -> str:
    """``value`` escaped for HTML text and attribute values (after :func:`clean`)."""
    return html.escape(clean(value), quote=True)


def safe_url(url: object) -> str | None:
    """An http(s) or mailto link, escaped for an attribute; anything else is no link."""
    value = clean(url).strip()
    return text(value) if _SAFE_LINK.match(value) else None


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    # Headings inside a card would break the page's heading order; images would load.
    md.disable(["heading", "lheading", "image"])
    md.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]
    return md


def markdown(value: str) -> str:
    """A card's Markdown detail as HTML: raw HTML is shown as text, only http(s)/mailto links."""
    return str(_markdown().render(clean(value)))


def inline(value: str) -> str:
    """A card's summary as HTML, read as inline Markdown like the detail: the engine writes
    a runner's ``<`` and ``[`` in it as ``&lt;`` and ``\\[``, which show here as typed."""
    return str(_markdown().renderInline(clean(value)))


# -------------------------------------------------------------------------------------------
# The data behind the page
# -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class LoadDay:
    day: dt.date
    km: float
    acute_km: float | None
    chronic_km: float | None
    ratio: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Firing:
    day: dt.date
    key: str
    title: str
    indicator: str
    summary: str
    acute_km: float
    shown: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Week:
    start: dt.date
    km: float
    runs: int


@dataclasses.dataclass(frozen=True, slots=True)
class LoadData:
    days: tuple[LoadDay, ...]
    weeks: tuple[Week, ...]
    firings: tuple[Firing, ...]
    method: str
    low: float | None
    danger: float | None
    very_high: float | None
    comeback_days: float | None = None


def param(engine: Evaluator, pack_id: str, name: str) -> Any:
    """A pack parameter's value in this engine (the clinic's override, else the default);
    None when the pack or the parameter is not loaded."""
    pack = next((p for p in engine.packs if p.id == pack_id), None)
    if pack is None or name not in pack.parameters:
        return None
    return engine.overrides.get(pack_id, {}).get(name, pack.parameters[name].default)


def _rule_titles(engine: Evaluator) -> dict[str, str]:
    return {
        f"{p.id}/{r['id']}": str(r.get("title") or r["id"]) for p in engine.packs for r in p.rules
    }


def is_load_card(card: Card) -> bool:
    """A training-load finding (not a request for data or a general tip)."""
    return card.ruleset_id == LOAD_PACK and card.kind == "finding"


def load_data(
    history: History,
    as_of: dt.date,
    engine: Evaluator,
    evaluation: Evaluation,
    *,
    weeks: int = DEFAULT_WEEKS,
    evaluator: Evaluator | None = None,
    athlete: str = "athlete",
) -> LoadData | None:
    """Daily loads, weekly distance and the load cards that fired, for the last ``weeks``
    weeks (Monday to Sunday, the last one ending on ``as_of``); None without runs."""
    if not history.runs:
        return None
    first = min(r.day for r in history.runs)
    if first > as_of:
        return None
    monday = as_of - dt.timedelta(days=as_of.weekday())
    start = max(monday - dt.timedelta(weeks=max(1, min(weeks, MAX_WEEKS)) - 1), first)
    method = str(param(engine, LOAD_PACK, "acwr_method") or "rolling")
    field = ACWR_FIELDS.get(method, "acwr_rolling")
    titles = _rule_titles(engine)
    run = evaluator or engine
    days: list[LoadDay] = []
    firings: list[Firing] = []
    for day, facts in history.timeline(start, as_of):
        training = next(f for f in facts if f.get("type") == "training")
        acute = training.get("load_7d_km")
        days.append(
            LoadDay(
                day=day,
                km=float(training.get("today_km") or 0.0),
                acute_km=acute,
                chronic_km=training.get("weekly_avg_28d_km"),
                ratio=training.get(field),
            )
        )
        ev = evaluation if day == as_of else run.evaluate_facts(facts, day, athlete=athlete)
        for card in ev.all_cards:
            if is_load_card(card):
                firings.append(
                    Firing(
                        day=day,
                        key=card.key,
                        title=titles.get(card.key, card.rule_id),
                        indicator=card.indicator,
                        summary=card.summary,
                        acute_km=float(acute or 0.0),
                        shown=card.suppressed_by is None,
                    )
                )
    by_week: dict[dt.date, list[float]] = {}
    for d in days:
        by_week.setdefault(d.day - dt.timedelta(days=d.day.weekday()), []).append(d.km)
    runs_per_day: dict[dt.date, int] = {}
    for r in history.runs:
        if start <= r.day <= as_of and r.distance_m > 0:
            runs_per_day[r.day] = runs_per_day.get(r.day, 0) + 1
    week_list = [
        Week(
            start=w,
            km=round(sum(kms), 2),
            runs=sum(n for d, n in runs_per_day.items() if w <= d < w + dt.timedelta(days=7)),
        )
        for w, kms in sorted(by_week.items())
    ]

    def number(name: str) -> float | None:
        value = param(engine, LOAD_PACK, name)
        return float(value) if isinstance(value, int | float) else None

    return LoadData(
        days=tuple(days),
        weeks=tuple(week_list),
        firings=tuple(firings),
        method=method,
        low=number("acwr_low"),
        danger=number("acwr_danger"),
        very_high=number("acwr_very_high"),
        comeback_days=number("comeback_break_days"),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ShoeRow:
    label: str
    km: float
    mark: float | None
    approaching: float | None
    status: str


def shoe_rows(engine: Evaluator, facts: Sequence[Mapping[str, Any]]) -> list[ShoeRow]:
    """Each shoe in use with its distance and the replacement mark the footwear pack applies
    (the heavier runner's mark from ``heavy_runner_kg`` on)."""
    athlete = next((f for f in facts if f.get("type") == "athlete"), {})
    heavy_kg = param(engine, SHOE_PACK, "heavy_runner_kg")
    weight = athlete.get("weight_kg")
    heavy = heavy_kg is not None and weight is not None and weight >= heavy_kg
    mark = param(engine, SHOE_PACK, "replace_km_heavy" if heavy else "replace_km")
    near = param(engine, SHOE_PACK, "approaching_km_heavy" if heavy else "approaching_km")
    shoes = [f for f in facts if f.get("type") == "shoe"]
    names = [str(f.get("name") or f.get("shoe_id")) for f in shoes]
    rows = []
    for fact, name in zip(shoes, names, strict=True):
        label = name if names.count(name) == 1 else f"{name} ({fact.get('shoe_id')})"
        km = float(fact.get("distance_km") or 0.0)
        if mark is None:
            status = "no replacement mark (the footwear pack is not loaded)"
        elif km >= mark:
            status = "past the replacement mark"
        elif near is not None and km >= near:
            status = "approaching the mark"
        else:
            status = "below the mark"
        rows.append(ShoeRow(label, km, mark, near, status))
    return rows


# -------------------------------------------------------------------------------------------
# Charts: Vega-Lite -> static SVG
# -------------------------------------------------------------------------------------------

_INK = "#1f2328"
_MUTED = "#57606a"
_ACUTE = "#b35900"  # dark orange, 4.9:1 on white
_CHRONIC = "#0b5cad"  # dark blue, 6.6:1 on white
_BAR = "#c9d1d9"
_FIRED = "#a40e26"  # dark red, 7.6:1 on white
_CONFIG: dict[str, Any] = {
    # Measured with DejaVu Sans where the chart is made; Verdana is as wide where it is read.
    "font": "DejaVu Sans, Verdana, Geneva, sans-serif",
    "axis": {"labelColor": _INK, "titleColor": _INK, "labelFontSize": 11, "titleFontSize": 12},
    "legend": {"labelColor": _INK, "titleColor": _INK, "labelFontSize": 11, "labelLimit": 320},
    "view": {"stroke": None},
    # The figure around each chart carries its text alternative (a label and a table of the
    # numbers): per-mark ARIA labels would only repeat the table and triple the size.
    "mark": {"aria": False},
    "background": "white",
}
_SVG_TAG = re.compile(r"<([A-Za-z][\w:-]*)([^>]*)>")
_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')
_SVG_FORBIDDEN_TAGS = frozenset({"script", "foreignobject", "image", "a", "use", "iframe", "style"})
_SVG_FORBIDDEN_ATTRS = re.compile(r"(?:^|\s)(?:on\w+|(?:xlink:)?href|src)\s*=", re.IGNORECASE)


def svg(spec: Mapping[str, Any]) -> str:
    """A Vega-Lite spec rendered to SVG (no script, no link, nothing loaded)."""
    import vl_convert

    out: str = vl_convert.vegalite_to_svg(dict(spec, config=_CONFIG))
    out = out.split("?>", 1)[1] if out.startswith("<?xml") else out
    for m in _SVG_TAG.finditer(out):  # never expected: the page must not run or load anything
        name, attrs = m.group(1), _QUOTED.sub('""', m.group(2))
        if name.lower() in _SVG_FORBIDDEN_TAGS or _SVG_FORBIDDEN_ATTRS.search(attrs):
            raise ValueError(f"the chart renderer produced active SVG content: <{name}>")
    # Geometry to 0.1 px (Vega writes 15 digits): a year of daily marks in half the bytes.
    out = _GEOMETRY.sub(lambda m: m.group(1) + _DIGITS.sub(r"\1", m.group(2)) + '"', out)
    out = out.replace(' aria-hidden="true"', "")  # the whole SVG is hidden (the figure has
    return out.replace("<svg ", '<svg aria-hidden="true" focusable="false" ', 1)  # a label)


_GEOMETRY = re.compile(r'(\s(?:d|transform|x|y|x1|x2|y1|y2|width|height)=")([^"]*)"')
_DIGITS = re.compile(r"(\d\.\d)\d+")


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _utc_x(field: str, start: dt.date, end: dt.date, *, axis: bool = True) -> dict[str, Any]:
    """A time axis from ``start`` to the end of ``end`` (UTC: a date is the same day in every
    time zone), the same on every chart of the window so that they line up."""
    return {
        "field": field,
        "type": "temporal",
        "title": None,
        "scale": {"type": "utc", "domain": [_iso(start), _iso(end + dt.timedelta(days=1))]},
        "axis": {"tickCount": 8, "labelOverlap": True} if axis else None,
    }


def _span(data: LoadData) -> tuple[dt.date, dt.date]:
    return data.weeks[0].start, data.days[-1].day


def load_chart(data: LoadData) -> str:
    """Weekly distance (bars), acute and chronic loads (lines), the days a load card fired
    (points on the acute line), and below it one row per load card with a tick on each day it
    fired."""
    start, end = _span(data)
    weeks = [
        {"start": _iso(w.start), "end": _iso(w.start + dt.timedelta(days=7)), "km": w.km}
        for w in data.weeks
    ]
    lines = []
    for d in data.days:
        if d.acute_km is not None:
            lines.append({"day": _iso(d.day), "km": d.acute_km, "series": "Last 7 days (acute)"})
        if d.chronic_km is not None:
            lines.append(
                {
                    "day": _iso(d.day),
                    "km": d.chronic_km,
                    "series": "Weekly average of the last 28 days (chronic)",
                }
            )
    fired_days = sorted({f.day: f.acute_km for f in data.firings}.items())
    y_km = {"field": "km", "type": "quantitative", "title": "km per week"}
    layers: list[dict[str, Any]] = [
        {
            "name": "weeks",
            "data": {"values": weeks},
            "mark": {"type": "rect", "fill": _BAR, "stroke": "white", "strokeWidth": 1},
            "encoding": {"x": _utc_x("start", start, end), "x2": {"field": "end"}, "y": y_km},
        },
        {
            "name": "loads",
            "data": {"values": lines},
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {
                "x": _utc_x("day", start, end),
                "y": y_km,
                "color": {
                    "field": "series",
                    "type": "nominal",
                    "title": None,
                    "scale": {"range": [_ACUTE, _CHRONIC]},
                    "legend": {"orient": "top", "direction": "horizontal", "labelLimit": 400},
                },
                "strokeDash": {
                    "field": "series",
                    "type": "nominal",
                    "scale": {"range": [[1, 0], [6, 3]]},
                    "legend": None,
                },
            },
        },
    ]
    if fired_days:
        layers.append(
            {
                "name": "fired_days",
                "data": {"values": [{"day": _iso(d), "km": km} for d, km in fired_days]},
                "mark": {
                    "type": "point",
                    "shape": "diamond",
                    "filled": True,
                    "size": 70,
                    "stroke": "white",
                    "strokeWidth": 1,
                    "color": _FIRED,
                },
                "encoding": {"x": _utc_x("day", start, end), "y": y_km},
            }
        )
    top: dict[str, Any] = {"width": 640, "height": 220, "layer": layers}
    if not data.firings:
        return svg(top)
    strip = {
        "width": 640,
        "height": {"step": 16},
        "name": "firing_strip",
        "title": {"text": "Days each load card fired", "anchor": "start", "fontSize": 12},
        "data": {"values": firing_spans(data.firings)},
        "mark": {"type": "bar", "color": _FIRED, "height": 10},
        "encoding": {
            "x": _utc_x("start", start, end),
            "x2": {"field": "end"},
            "y": {
                "field": "card",
                "type": "nominal",
                "title": None,
                # On the right: the charts of the window keep one left edge and line up.
                "axis": {"labelLimit": 280, "labelFontSize": 10, "orient": "right"},
            },
        },
    }
    return svg({"vconcat": [top, strip], "spacing": 12})


def firing_spans(firings: Iterable[Firing]) -> list[dict[str, Any]]:
    """Per load card, its runs of consecutive days (one bar each, from the start of the first
    day to the end of the last)."""
    days: dict[str, list[dt.date]] = {}
    for f in firings:
        days.setdefault(f.title, []).append(f.day)
    spans = []
    for title, dates in days.items():
        dates = sorted(set(dates))
        first = prev = dates[0]
        for day in [*dates[1:], None]:
            if day is not None and (day - prev).days == 1:
                prev = day
                continue
            spans.append(
                {
                    "card": clean(title),
                    "start": _iso(first),
                    "end": _iso(prev + dt.timedelta(days=1)),
                }
            )
            if day is not None:
                first = prev = day
    return spans


def ratio_chart(data: LoadData) -> str:
    ratios = [(d.day, d.ratio) for d in data.days if d.ratio is not None]
    # Days without a ratio (too little history, no chronic load after a break) break the line:
    # one segment per run of days that have one, never a line drawn across the gap.
    points, segment, prev = [], 0, None
    for day, ratio in ratios:
        if prev is not None and (day - prev).days > 1:
            segment += 1
        points.append({"day": _iso(day), "ratio": ratio, "segment": segment})
        prev = day
    top = max([ratio for _, ratio in ratios] + [(data.very_high or 2.0) + 0.5])
    bands = _ratio_bands(data, top)
    layers: list[dict[str, Any]] = []
    if bands:
        layers.append(
            {
                "name": "bands",
                "data": {"values": bands},
                "mark": {"type": "rect"},
                "encoding": {
                    "y": {"field": "lo", "type": "quantitative"},
                    "y2": {"field": "hi"},
                    "color": {"field": "fill", "type": "nominal", "scale": None},
                },
            }
        )
        layers.append(
            {
                "name": "band_labels",
                "data": {"values": bands},
                "mark": {
                    "type": "text",
                    "align": "left",
                    "baseline": "middle",
                    "dx": 4,
                    "fontSize": 11,
                    "color": _INK,
                },
                "encoding": {
                    "x": {"value": 0},
                    "y": {"field": "mid", "type": "quantitative"},
                    "text": {"field": "label"},
                },
            }
        )
    layers.append(
        {
            "name": "ratio",
            "data": {"values": points},
            "mark": {"type": "line", "strokeWidth": 2, "color": _INK},
            "encoding": {
                "detail": {"field": "segment", "type": "nominal"},
                "x": _utc_x("day", *_span(data)),
                "y": {
                    "field": "ratio",
                    "type": "quantitative",
                    "title": "acute:chronic ratio",
                    "scale": {"domain": [0, round(top, 2)], "nice": False},
                },
            },
        }
    )
    spec = {"width": 640, "height": 200, "layer": layers}
    return svg(spec)


def _ratio_bands(data: LoadData, top: float) -> list[dict[str, Any]]:
    cuts = [("low", data.low), ("danger", data.danger), ("very_high", data.very_high)]
    if any(v is None for _, v in cuts):
        return []
    low, danger, very = (float(v) for _, v in cuts if v is not None)
    rows = [
        (0.0, low, "#eaf2fb", f"below {fmt_value(low)}: low (a card after a break)"),
        (low, danger, "#ffffff", f"{fmt_value(low)}-{fmt_value(danger)}: no load-ratio card"),
        (danger, very, "#fff1d6", f"above {fmt_value(danger)}: spike (warning)"),
        (very, top, "#fde2e1", f"above {fmt_value(very)}: very high (warning)"),
    ]
    return [
        {"lo": lo, "hi": hi, "mid": (lo + hi) / 2, "fill": fill, "label": label}
        for lo, hi, fill, label in rows
        if hi > lo
    ]


def shoe_chart(rows: Sequence[ShoeRow]) -> str:
    bars = [
        {
            "shoe": clean(r.label),
            "km": r.km,
            "status": r.status,
            "text": f"{fmt_value(r.km)} km, {r.status}",
        }
        for r in rows
    ]
    marks = [{"shoe": clean(r.label), "mark": r.mark} for r in rows if r.mark is not None]
    top = max([r.km for r in rows] + [(r.mark or 0) for r in rows]) * 1.15 or 1.0
    y = {"field": "shoe", "type": "nominal", "title": None, "sort": None}
    layers: list[dict[str, Any]] = [
        {
            "name": "shoes",
            "data": {"values": bars},
            "mark": {"type": "bar", "height": 18},
            "encoding": {
                "y": y,
                "x": {
                    "field": "km",
                    "type": "quantitative",
                    "title": "km on the pair",
                    "scale": {"domain": [0, round(top)]},
                },
                "color": {
                    "field": "status",
                    "type": "nominal",
                    "title": None,
                    "scale": {
                        "domain": [
                            "below the mark",
                            "approaching the mark",
                            "past the replacement mark",
                        ],
                        "range": ["#8fb8de", "#f0b45b", "#d1495b"],
                    },
                    "legend": None,
                },
            },
        },
        {
            "name": "shoe_labels",
            "data": {"values": bars},
            "mark": {"type": "text", "align": "left", "dx": 4, "dy": -16, "color": _INK},
            "encoding": {"y": y, "x": {"value": 0}, "text": {"field": "text"}},
        },
    ]
    if marks:
        layers.append(
            {
                "name": "shoe_marks",
                "data": {"values": marks},
                "mark": {"type": "tick", "thickness": 3, "size": 30, "color": _INK},
                "encoding": {"y": y, "x": {"field": "mark", "type": "quantitative"}},
            }
        )
    spec = {"width": 560, "height": {"step": 56}, "layer": layers}
    return svg(spec)


def pain_chart(
    pains: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    start: dt.date,
    end: dt.date,
    period: Mapping[str, Any] | None = None,
) -> str:
    layers: list[dict[str, Any]] = []
    x = _utc_x("day", start, end)
    if period:  # the return-to-run phase, shaded behind the reports
        layers.append(
            {
                "name": "rtr_period",
                "data": {"values": [dict(period)]},
                "mark": {"type": "rect", "color": "#eef1f4"},
                "encoding": {"x": _utc_x("start", start, end), "x2": {"field": "end"}},
            }
        )
        layers.append(
            {
                "name": "rtr_label",
                "data": {"values": [dict(period)]},
                "mark": {"type": "text", "align": "left", "dx": 3, "dy": 20, "color": _INK},
                "encoding": {
                    "x": _utc_x("start", start, end),
                    "y": {"value": 0},
                    "text": {"field": "label"},
                },
            }
        )
    if events:
        layers.append(
            {
                "name": "injury_events",
                "data": {"values": events},
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": _MUTED},
                "encoding": {"x": x},
            }
        )
        layers.append(
            {
                "name": "injury_labels",
                "data": {"values": events},
                "mark": {"type": "text", "angle": 0, "align": "left", "dx": 3, "dy": 6},
                "encoding": {"x": x, "y": {"value": 0}, "text": {"field": "label"}},
            }
        )
    layers.append(
        {
            "name": "pains",
            "data": {"values": list(pains)},
            "mark": {"type": "point", "filled": True, "size": 110, "color": "#a40e26"},
            "encoding": {
                "x": x,
                "y": {
                    "field": "severity",
                    "type": "quantitative",
                    "title": "pain (0-10)",
                    "scale": {"domain": [0, 10]},
                },
                "shape": {
                    "field": "site",
                    "type": "nominal",
                    "title": "Site",
                    "legend": {"orient": "bottom", "direction": "vertical"},
                },
            },
        }
    )
    if len(pains) <= MAX_PAIN_LABELS:  # each point says its site and severity in words too
        layers.append(
            {
                "name": "pain_labels",
                "data": {"values": list(pains)},
                "mark": {"type": "text", "align": "right", "dx": -8, "fontSize": 10, "color": _INK},
                "encoding": {
                    "x": x,
                    "y": {"field": "severity", "type": "quantitative"},
                    "text": {"field": "label"},
                },
            }
        )
    spec = {"width": 640, "height": 180, "layer": layers}
    return svg(spec)


# -------------------------------------------------------------------------------------------
# The page
# -------------------------------------------------------------------------------------------


def render_report(
    history: History,
    as_of: dt.date,
    engine: Evaluator,
    *,
    evaluation: Evaluation | None = None,
    evaluator: Evaluator | None = None,
    athlete: str = "athlete",
    title: str = "stridewise report",
    weeks: int = DEFAULT_WEEKS,
    skipped: Sequence[str] = (),
) -> str:
    """The report as one HTML document (a str).

    ``engine`` gives the packs and parameters; ``evaluator`` (default ``engine``, e.g. an
    :class:`~stridewise.engine.isolation.IsolatedEngine`) evaluates the days of the window to
    mark the load cards; ``evaluation`` is the evaluation for ``as_of`` when it is at hand.
    A pack that failed is said at the top: the findings are then incomplete. So is input that
    could not be read (``skipped``: one line each, e.g. "journal.yaml, row pain[1]: ...").
    """
    run = evaluator or engine
    if evaluation is None:
        evaluation = run.evaluate_facts(history.facts(as_of), as_of, athlete=athlete)
    facts = list(evaluation.facts)
    loads = load_data(
        history, as_of, engine, evaluation, weeks=weeks, evaluator=evaluator, athlete=athlete
    )
    training: Mapping[str, Any] = next((f for f in facts if f.get("type") == "training"), {})
    parts = [
        _head(title, as_of),
        "<body>",
        '<a class="skip" href="#findings">Skip to the findings</a>',
        "<header>",
        f"<h1>{text(title)}</h1>",
        f'<p class="meta">As of <time datetime="{as_of.isoformat()}">{_date(as_of)}</time>'
        f" &middot; {text(training.get('days_of_history', 0))} days of history"
        f" &middot; last 7 days {_km(training.get('load_7d_km'))} km"
        f" &middot; last 28 days {_km(training.get('load_28d_km'))} km</p>",
        "</header>",
        "<main>",
        _findings(evaluation, skipped),
        _load_section(loads),
        _shoe_section(engine, facts),
        _pain_section(history, facts, engine, as_of, loads),
        _score_section(engine, evaluation),
        _about(engine),
        "</main>",
        "<footer><p>stridewise is decision support, not a diagnosis. When in doubt, "
        "<strong>see a physician</strong>.</p></footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(path: Path | str, *args: Any, **kwargs: Any) -> None:
    """:func:`render_report` written to ``path`` atomically (a failed render leaves any
    earlier file as it was). Without the ``html`` extra, a :class:`StridewiseError` says so."""
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        raise StridewiseError(
            "the HTML report needs the chart renderer: pip install 'stridewise[html]'"
        ) from None
    page = render_report(*args, **kwargs)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StridewiseError(f"cannot write the HTML report to {target}: {exc}") from None


def _km(value: Any) -> str:
    return text(fmt_value(round(float(value), 1))) if isinstance(value, int | float) else "0"


def _date(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"


def _head(title: str, as_of: dt.date) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing may load or run: the page is complete as it is, offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n"
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="generator" content="stridewise">\n'
        f"<title>{text(title)}, {as_of.isoformat()}</title>\n"
        f"<style>{_CSS}</style>\n</head>"
    )


def _findings(evaluation: Evaluation, skipped: Sequence[str] = ()) -> str:
    out = ['<section aria-labelledby="findings">', '<h2 id="findings">Findings</h2>']
    if skipped:
        items = "".join(f"<li>{text(s)}</li>" for s in skipped)
        out.append(
            '<div class="failure" role="alert"><p><strong>This report is incomplete.</strong> '
            f"{len(skipped)} input(s) could not be read and are not in it: fewer findings do "
            f"not mean all clear. Fix them and run again.</p><ul>{items}</ul></div>"
        )
    for failure in evaluation.failures:
        out.append(
            '<div class="failure" role="alert"><p><strong>This report is incomplete.</strong> '
            f"The rule pack {text(failure.pack)} failed ({text(failure.error)}): its findings "
            "are missing below. Do not read this report as complete.</p></div>"
        )
    cards = list(evaluation.cards)
    stop = [
        (n, c) for n, c in enumerate(cards, 1) if c.indicator == "critical" or c.advice == "stop"
    ]
    if stop:  # each summary links to its card (a link inside a summary is dropped: no nesting)
        why = "".join(
            f'<li><a href="#card-{n}">{_LINK_TAG.sub("", inline(c.summary))}</a></li>'
            for n, c in stop
        )
        out.append(
            '<div class="physician" role="note" aria-label="See a physician">'
            f'<p class="physician-head"><span aria-hidden="true">{INDICATOR_ICONS["critical"]} '
            "</span>Stop running and see a physician.</p>"
            "<p>A sign of a possible bone stress injury (a stress fracture) needs a physician's "
            f"assessment before you run again:</p><ul>{why}</ul></div>"
        )
    if not cards and not evaluation.failures and skipped:
        out.append(
            '<p class="none">No recommendations from the input that could be read; what was '
            "skipped may hold what calls for one.</p>"
        )
    elif not cards and not evaluation.failures:
        out.append(
            '<p class="none">No recommendations today: nothing in the data calls for one.</p>'
        )
    if cards:
        out.append('<ol class="cards">')
        out += [f"<li>{_card(c, n)}</li>" for n, c in enumerate(cards, 1)]
        out.append("</ol>")
    hidden = evaluation.suppressed
    if hidden:
        out.append(
            f'<details class="aside"><summary>{len(hidden)} more finding(s) fired and were '
            "set aside in favour of the cards above</summary><ul>"
        )
        for card in hidden:
            out.append(
                f'<li><span class="tag tag-{text(card.indicator)}">'
                f"{text(INDICATOR_WORDS.get(card.indicator, card.indicator))}</span> "
                f'{inline(card.summary)} <span class="why">Set aside: '
                f"{text(card.suppression or '')} ({text(card.suppressed_by or '')}).</span></li>"
            )
        out.append("</ul></details>")
    out.append("</section>")
    return "\n".join(out)


def _card(card: Card, n: int) -> str:
    ind = card.indicator if card.indicator in INDICATOR_WORDS else "info"
    hid = f"card-{n}"
    out = [
        f'<article class="card card-{ind}" aria-labelledby="{hid}">',
        f'<p class="tag tag-{ind}"><span aria-hidden="true">{INDICATOR_ICONS[ind]} </span>'
        f"{INDICATOR_WORDS[ind]}"
        f"{' &middot; ' + text(ADVICE_WORDS[card.advice]) if card.advice in ADVICE_WORDS else ''}"
        "</p>",
        f'<h3 id="{hid}">{inline(card.summary)}</h3>',
        f'<div class="detail">{markdown(card.detail)}</div>',
    ]
    evidence = _evidence(card)
    if evidence:
        out.append("<h4>Why this card</h4>")
        out.append(evidence)
    out.append("<h4>Sources</h4>")
    out.append(_sources(card.sources or (card.source,)))
    out.append(
        f'<p class="rule">Rule {text(card.ruleset_id)} {text(card.ruleset_version)} / '
        f"{text(card.rule_id)} &middot; {text(card.date.isoformat())}</p>"
    )
    out.append("</article>")
    return "\n".join(out)


def _evidence(card: Card) -> str:
    rows: list[tuple[str, str]] = []
    for match in card.facts:
        plain = []
        for alias, fields in match.items():
            if isinstance(fields, Mapping):
                values = ", ".join(
                    f"{k} = {fmt_value(v)}" for k, v in fields.items() if k != "type"
                )
                rows.append((str(alias), values))
            else:
                plain.append(f"{alias} = {fmt_value(fields)}")
        if plain:
            rows.append(("", ", ".join(plain)))
    params = [(k, fmt_value(v)) for k, v in card.parameters.items()]
    out = []
    if rows:
        out.append('<div class="scroll"><table class="kv"><caption>Facts it fired on</caption>')
        out.append('<thead><tr><th scope="col">Fact</th><th scope="col">Values</th></tr></thead>')
        out.append("<tbody>")
        out += [f"<tr><td>{text(k)}</td><td>{text(v)}</td></tr>" for k, v in rows]
        out.append("</tbody></table></div>")
    if params:
        out.append(
            '<p class="params"><strong>Parameters:</strong> '
            + ", ".join(f"{text(k)} = {text(v)}" for k, v in params)
            + "</p>"
        )
    return "\n".join(out)


def _sources(sources: Iterable[Mapping[str, str]]) -> str:
    items = []
    for src in sources:
        label = text(src.get("label", "?"))
        url = safe_url(src["url"]) if "url" in src else None
        items.append(
            f'<li><a href="{url}" rel="noopener noreferrer">{label}</a></li>'
            if url
            else f"<li>{label}</li>"
        )
    return '<ul class="sources">' + "".join(items) + "</ul>"


def _figure(fid: str, caption: str, chart: str, table: str, label: str) -> str:
    return (
        f'<figure aria-labelledby="{fid}-cap">'
        f'<div class="chart" role="img" aria-label="{text(label)}">{chart}</div>'
        f'<figcaption id="{fid}-cap">{caption}</figcaption>'
        f'<details class="data"><summary>Table of the plotted numbers</summary>'
        f'<div class="scroll">{table}</div></details>'
        "</figure>"
    )


def _table(caption: str, head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = [f"<table><caption>{text(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{text(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = [f'<th scope="row">{text(row[0])}</th>'] + [f"<td>{text(c)}</td>" for c in row[1:]]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _num(value: float | None) -> str:
    return "not enough history" if value is None else fmt_value(value)


def _load_section(data: LoadData | None) -> str:
    out = ['<section aria-labelledby="load">', '<h2 id="load">Training load</h2>']
    if data is None:
        out.append("<p>No runs in the history yet: nothing to chart.</p></section>")
        return "\n".join(out)
    first, last = data.days[0].day, data.days[-1].day
    n_weeks = len(data.weeks)
    out.append(
        f"<p>The last {n_weeks} week(s), {_date(first)} to {_date(last)}. The acute load is the "
        "distance of the last 7 days; the chronic load is the weekly average of the last 28 "
        "days. Marked points are the days a training-load card fired.</p>"
    )
    chart = load_chart(data)
    by_day: dict[dt.date, list[Firing]] = {}
    for f in data.firings:
        by_day.setdefault(f.day, []).append(f)
    daily = _table(
        "Daily loads and the load cards that fired",
        [
            "Day",
            "Distance (km)",
            "Acute: last 7 days (km)",
            "Chronic: weekly average (km)",
            "Ratio (none: under 28 days of history, or no running in days 8-28 before)",
            "Load cards fired",
        ],
        (
            (
                d.day.isoformat(),
                fmt_value(d.km),
                _num(d.acute_km),
                _num(d.chronic_km),
                "none" if d.ratio is None else fmt_value(d.ratio),
                "; ".join(
                    f"{f.title} ({f.indicator}{'' if f.shown else ', set aside'})"
                    for f in by_day.get(d.day, [])
                ),
            )
            for d in data.days
        ),
    )
    weekly = _table(
        "Distance per week (Monday to Sunday)",
        ["Week starting", "Distance (km)", "Runs"],
        ((w.start.isoformat(), fmt_value(w.km), w.runs) for w in data.weeks),
    )
    fired_days = len(by_day)
    out.append(
        _figure(
            "load-fig",
            f"Weekly distance (grey bars, {n_weeks} weeks) with the acute load (solid orange "
            "line) and the chronic load (dashed blue line); "
            + (
                f"load cards fired on {fired_days} day(s): red diamonds on the acute line, and "
                "below, one row per card with a bar over the days it fired."
                if fired_days
                else "no load card fired in this period."
            ),
            chart,
            weekly + daily,
            f"Chart of weekly running distance over {n_weeks} weeks with acute and chronic "
            f"loads; load cards fired on {fired_days} day(s). The table below has the numbers.",
        )
    )
    out.append('<h3 id="ratio">Acute:chronic ratio</h3>')
    method = ACWR_NAMES.get(data.method, data.method)
    ratios = [d for d in data.days if d.ratio is not None]
    if data.low is None or data.danger is None or data.very_high is None:
        out.append("<p>The training-load pack is not loaded: no rule uses the ratio.</p>")
    elif not ratios:
        out.append("<p>Not enough history for a ratio yet: the rules need 28 days of running.</p>")
    else:
        out.append(
            f"<p>The ratio the rules use: {text(method)}. The bands are the training-load "
            "pack's parameters, so a clinic's tuned values show here. These cut-offs come from "
            "team sports and are disputed (Impellizzeri 2020)."
            + (
                f" Within 4 weeks after a break of {fmt_value(data.comeback_days)} days or more "
                "the ratio cards stay silent and the comeback cards apply instead."
                if data.comeback_days
                else ""
            )
            + "</p>"
        )
        out.append(
            _figure(
                "ratio-fig",
                "Daily acute:chronic ratio (black line) over the bands in which the rules fire: "
                + "; ".join(text(b["label"]) for b in _ratio_bands(data, 3.0))
                + ".",
                ratio_chart(data),
                _table(
                    "Daily acute:chronic ratio",
                    ["Day", "Ratio"],
                    ((d.day.isoformat(), fmt_value(d.ratio)) for d in ratios),
                ),
                "Chart of the daily acute:chronic ratio with the rule bands; "
                f"latest value {fmt_value(ratios[-1].ratio)}.",
            )
        )
    out.append("</section>")
    return "\n".join(out)


def _shoe_section(engine: Evaluator, facts: Sequence[Mapping[str, Any]]) -> str:
    out = ['<section aria-labelledby="shoes">', '<h2 id="shoes">Shoes</h2>']
    rows = shoe_rows(engine, facts)
    if not rows:
        out.append("<p>No shoes in use are logged.</p></section>")
        return "\n".join(out)
    mark = rows[0].mark
    out.append(
        "<p>Distance on each pair in use against the replacement mark of the footwear pack"
        + (f" ({text(fmt_value(mark))} km)" if mark is not None else "")
        + ". No study has tied a mileage limit to injuries: the mark is a soft, tunable "
        "guide.</p>"
    )
    out.append(
        _figure(
            "shoe-fig",
            "Distance on each pair (bars, labelled with their status) and the replacement mark "
            "(black tick).",
            shoe_chart(rows),
            _table(
                "Shoes in use",
                ["Pair", "Distance (km)", "Replacement mark (km)", "Status"],
                (
                    (r.label, fmt_value(r.km), _num(r.mark) if r.mark else "none", r.status)
                    for r in rows
                ),
            ),
            "Chart of the distance on each pair of shoes against its replacement mark: "
            + "; ".join(f"{clean(r.label)} {fmt_value(r.km)} km, {r.status}" for r in rows),
        )
    )
    out.append("</section>")
    return "\n".join(out)


def _pain_section(
    history: History,
    facts: Sequence[Mapping[str, Any]],
    engine: Evaluator,
    as_of: dt.date,
    loads: LoadData | None,
) -> str:
    from stridewise.engine.facts import site_label

    out = [
        '<section aria-labelledby="pain">',
        '<h2 id="pain">Pain reports and return to running</h2>',
    ]
    start = loads.weeks[0].start if loads else as_of - dt.timedelta(weeks=DEFAULT_WEEKS)
    pains = [p for p in history.pains if start <= p.date <= as_of]
    injuries = [i for i in history.injuries if i.date <= as_of]
    period = _rtr_period(facts, engine, start, as_of)
    if not pains:
        out.append(f"<p>No pain reported from {_date(start)} to {_date(as_of)}.</p>")
    else:
        points = [
            {
                "day": _iso(p.date),
                "severity": p.severity,
                "site": clean(site_label(p.site)),
                "label": f"{clean(site_label(p.site))} {p.severity}/10",
            }
            for p in pains
        ]
        events: list[dict[str, Any]] = []
        for inj in injuries:
            if start <= inj.date <= as_of:
                events.append({"day": _iso(inj.date), "label": "diagnosed"})
            if inj.cleared and start <= inj.cleared <= as_of:
                events.append({"day": _iso(inj.cleared), "label": "cleared to run"})

        def how(p: Any) -> str:
            words = [
                w
                for w, flag in (
                    ("with running", p.with_activity),
                    ("after rest", p.after_rest),
                    ("at rest", p.at_rest),
                    ("at night", p.at_night),
                    ("swelling", p.swelling),
                    ("tender spot", p.point_tenderness),
                    ("hopping hurts", p.hop_pain),
                    ("getting worse", p.worsening),
                )
                if flag
            ]
            return ", ".join(words) or "-"

        out.append(
            _figure(
                "pain-fig",
                f"{len(pains)} pain report(s) by date and severity (0-10), one shape per site"
                + ("; dashed lines mark a diagnosis or a clearance to run" if events else "")
                + (
                    f"; the shaded span is the current phase: {text(period['label'])}."
                    if period
                    else "."
                ),
                pain_chart(points, events, start, as_of, period),
                _table(
                    "Pain reports",
                    ["Date", "Site", "Side", "Severity (0-10)", "How"],
                    (
                        (
                            p.date.isoformat(),
                            site_label(p.site),
                            p.side if p.side not in (None, "none") else "-",
                            p.severity,
                            how(p),
                        )
                        for p in pains
                    ),
                ),
                f"Chart of {len(pains)} pain report(s): "
                + "; ".join(
                    f"{p.date.isoformat()} {clean(site_label(p.site))} {p.severity}/10"
                    for p in pains[-12:]
                ),
            )
        )
    out.append(_return_to_run(facts, engine))
    out.append("</section>")
    return "\n".join(out)


def _active_injury(
    facts: Sequence[Mapping[str, Any]], engine: Evaluator
) -> Mapping[str, Any] | None:
    """The latest diagnosed injury's fact while it is followed up (the return-to-run pack's
    ``followup_days``)."""
    latest = next((f for f in facts if f.get("type") == "injury" and f.get("latest")), None)
    followup = param(engine, RTR_PACK, "followup_days") or 365
    if latest is None or latest.get("days_since_diagnosis", 0) > followup:
        return None
    return latest


def _rtr_period(
    facts: Sequence[Mapping[str, Any]], engine: Evaluator, start: dt.date, as_of: dt.date
) -> dict[str, Any] | None:
    """The span of the active return-to-run phase on the pain timeline, with its label."""
    injury = _active_injury(facts, engine)
    if injury is None or injury.get("ladder_complete"):
        return None
    if injury.get("cleared"):
        since = as_of - dt.timedelta(days=int(injury.get("days_since_cleared") or 0))
        label = f"walk-run ladder, phase {int(injury.get('ladder_phase') or 1)}"
    else:
        since = as_of - dt.timedelta(days=int(injury.get("days_since_diagnosis") or 0))
        label = "running paused"
    return {
        "start": _iso(max(since, start)),
        "end": _iso(as_of + dt.timedelta(days=1)),
        "label": label,
    }


def _return_to_run(facts: Sequence[Mapping[str, Any]], engine: Evaluator) -> str:
    latest = _active_injury(facts, engine)
    if latest is None:
        return "<p>No bone stress injury in rehabilitation.</p>"
    site = text(latest.get("site_label") or latest.get("site"))
    days = latest.get("days_since_diagnosis", 0)
    out = ['<h3 id="rtr">Return to running</h3>']
    if not latest.get("cleared"):
        out.append(
            f'<p class="phase"><strong>Running paused.</strong> Bone stress injury at the {site}, '
            f"diagnosed {text(days)} day(s) ago and not yet cleared by a physician. Cross-train "
            "without pain until you are cleared.</p>"
        )
        return "\n".join(out)
    if latest.get("ladder_complete"):
        out.append(
            f'<p class="phase"><strong>Walk-run ladder complete.</strong> Bone stress injury at '
            f"the {site}, cleared {text(latest.get('days_since_cleared'))} day(s) ago. Build up "
            "gradually: a third to a half of your usual distance at first, alternate days, at "
            "most 10% more a week.</p>"
        )
        return "\n".join(out)
    phase = int(latest.get("ladder_phase") or 1)
    done = int(latest.get("ladder_sessions_in_phase") or 0)
    action = str(latest.get("ladder_last_action") or "")
    said = {
        "step_back": "the last pain report stepped you back a phase",
        "hold": "the last session had pain, so it does not count",
        "session": "the last session went without pain",
        "start": "no session yet since clearance",
    }.get(action, action)
    out.append(
        f'<p class="phase"><strong>Walk-run ladder: phase {phase} of {len(LADDER)}</strong>, '
        f"{done} of 2 pain-free sessions done in this phase ({text(said)}). Bone stress "
        f"injury at the {site}, cleared {text(latest.get('days_since_cleared'))} day(s) ago. "
        "Each phase at least twice, a rest day between runs; do not progress with pain, "
        "swelling or stiffness.</p>"
    )
    rows = []
    for p, rpe, walk, run, dist in LADDER:
        where = "you are here" if p == phase else ("done" if p < phase else "")
        cls = ' class="here"' if p == phase else ""
        rows.append(
            f'<tr{cls}><th scope="row">{p}</th><td>{rpe}</td><td>{walk}</td><td>{run}</td>'
            f"<td>{dist}</td><td>{where}</td></tr>"
        )
    out.append(
        '<div class="scroll"><table><caption>The walk-run ladder</caption><thead><tr>'
        '<th scope="col">Phase</th><th scope="col">Effort</th><th scope="col">Walk</th>'
        '<th scope="col">Run</th><th scope="col">Distance</th><th scope="col">Status</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    out.append(_sources([LADDER_SOURCE]))
    return "\n".join(out)


def _score_section(engine: Evaluator, evaluation: Evaluation) -> str:
    out = [
        '<section aria-labelledby="score">',
        '<h2 id="score">Bone health score</h2>',
    ]
    found = False
    for pack in engine.packs:
        for sid, score in pack.scores.items():
            ids = {b["id"] for b in score["bands"]}
            if "incomplete" in score:
                from stridewise.engine.runtime import incomplete_id

                ids.add(incomplete_id(sid, score["incomplete"]))
            card = next(
                (c for c in evaluation.all_cards if c.ruleset_id == pack.id and c.rule_id in ids),
                None,
            )
            if card is None:
                continue
            found = True
            points = {
                str(f.get("component")): f.get("points") for f in card.facts if "component" in f
            }
            total = card.parameters.get("score", sum(int(v or 0) for v in points.values()))
            rows = []
            for comp in score["components"]:
                got = points.get(comp)
                rows.append(
                    f'<tr><th scope="row">{text(comp.replace("_", " "))}</th>'
                    + (
                        f"<td>{text(got)}</td><td>scored</td>"
                        if got is not None
                        else '<td>-</td><td class="missing">missing: not scored (no data)</td>'
                    )
                    + "</tr>"
                )
            name = str(score.get("title") or sid.replace("_", " "))
            out.append(
                f"<h3>{text(name)}</h3>"
                f"<p><strong>{inline(card.summary)}</strong> Total {text(total)} point(s) from "
                f"{len(points)} of {len(score['components'])} items.</p>"
                f'<div class="scroll"><table><caption>{text(name)}: items</caption><thead><tr>'
                '<th scope="col">Item</th><th scope="col">Points (0-2)</th>'
                f'<th scope="col">Status</th></tr></thead><tbody>{"".join(rows)}</tbody>'
                "</table></div>" + _sources(card.sources or (card.source,))
            )
    if not found:
        out.append(
            "<p>No bone health score: the profile does not say enough to score one "
            "(sex, body weight, periods, bone density, past stress fractures).</p>"
        )
    out.append("</section>")
    return "\n".join(out)


def _version() -> str:
    from stridewise import __version__

    return __version__


def _about(engine: Evaluator) -> str:
    packs = ", ".join(f"{text(p.id)} {text(p.version)}" for p in engine.packs)
    return (
        '<section aria-labelledby="about"><h2 id="about">About this report</h2>'
        f"<p>Made by stridewise {text(_version())} with the rule packs {packs}. "
        "Every card names its source; thresholds that are disputed "
        "in the literature say so and are tunable by a clinic.</p></section>"
    )


_CSS = """
:root{--ink:#1f2328;--muted:#57606a;--line:#d0d7de;--crit:#a40e26;--crit-bg:#fff0f0;
--warn:#7a4a00;--warn-bg:#fff8e6;--info:#0b5cad;--info-bg:#eef5fc}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0 auto;max-width:62rem;padding:0.75rem 1rem 2rem;color:var(--ink);background:#fff;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:#0a4f96}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.25rem}
h1{font-size:1.4rem;margin:0 0 .2rem}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:.25rem 0 .5rem}
h4{font-size:.95rem;margin:.75rem 0 .25rem}
.meta{margin:0;color:var(--muted);font-size:.9rem}
header{margin-bottom:.25rem}
section>h2#findings{margin-top:.5rem}
.physician{border:3px solid var(--crit);background:var(--crit-bg);padding:.5rem .75rem;
margin:.5rem 0;border-radius:4px}
.physician p,.physician ul{margin:.2rem 0}
.physician-head{font-size:1.25rem;font-weight:700;color:var(--crit)}
.failure{border:3px solid var(--crit);padding:.5rem .75rem;margin:.5rem 0}
ol.cards{list-style:none;padding:0;margin:0}
.card{border:1px solid var(--line);border-left-width:8px;border-radius:4px;padding:.5rem .75rem;
margin:.75rem 0;page-break-inside:avoid;break-inside:avoid}
.card-critical{border-color:var(--crit);border-left-style:double;background:var(--crit-bg)}
.card-warning{border-left-color:#b35900;border-left-style:solid}
.card-info{border-left-color:var(--info);border-left-style:dotted}
.tag{display:inline-block;font-size:.8rem;font-weight:700;text-transform:uppercase;
letter-spacing:.03em;margin:0;padding:0 .4rem;border-radius:3px}
.tag-critical{color:#fff;background:var(--crit)}
.tag-warning{color:var(--warn);background:var(--warn-bg);border:1px solid var(--warn)}
.tag-info{color:var(--info);background:var(--info-bg);border:1px solid var(--info)}
.detail p{margin:.4rem 0}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem;max-width:100%}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid var(--line);padding:.15rem .4rem;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}
table.kv{font-size:.85rem}
tr.here{font-weight:700;outline:2px solid var(--ink)}
td.missing{color:var(--crit)}
.rule{color:var(--muted);font-size:.8rem;margin:.25rem 0 0}
.sources{margin:.25rem 0;padding-left:1.25rem;font-size:.9rem}
.aside{margin:.5rem 0}.why{color:var(--muted)}
figure{margin:.5rem 0 1rem}
.chart{overflow-x:auto}
.chart svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.9rem;color:var(--muted)}
details.data{font-size:.85rem}
.scroll{overflow:auto;max-width:100%;max-height:28rem}
.phase{border-left:6px solid var(--ink);padding:.25rem .75rem;background:#f6f8fa}
footer{margin-top:2rem;border-top:1px solid var(--line);color:var(--muted);font-size:.9rem}
@media (max-width:40rem){body{padding:.5rem .6rem 1.5rem;font-size:15px}
h1{font-size:1.2rem}.physician-head{font-size:1.1rem}.card{padding:.4rem .5rem}}
@media print{body{max-width:none;padding:0;font-size:10.5pt}
.skip,details.data{display:none}
a{color:inherit}a[href]::after{content:" <" attr(href) ">";font-size:.85em;word-break:break-all}
.card,figure,table{break-inside:avoid}
h2{break-after:avoid}
.physician,.card-critical{background:none}
.tag-critical{color:var(--crit);background:none;border:2px solid var(--crit)}}
"""
