"""Pack tests: the test cases packs carry (with rule coverage), and vignettes (a short
history run through every pack together, and the message it must give)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import InputError, RulesetError, StridewiseError
from ..events import load_event
from ..facts import History
from ..rules import RulePack
from ..runtime import Engine
from ..yamldoc import check_schema, line_of, parse_yaml
from .inventory import QUALIFIED_RULE, did_you_mean, error_dict, pack_line


@dataclasses.dataclass(frozen=True, slots=True)
class CaseResult:
    """One test case of one pack: what fired, and every expectation that was not met."""

    pack: str
    origin: str
    case: str
    line: int | None
    failures: tuple[str, ...]
    fired: tuple[str, ...]
    cards: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "file": self.origin,
            "line": self.line,
            "case": self.case,
            "ok": self.ok,
            "failures": list(self.failures),
            "fired": list(self.fired),
            "cards": [{"rule": r, "indicator": i} for r, i in self.cards],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class PackCoverage:
    """Which of a pack's rules (and score bands) fired in at least one of its cases."""

    pack: str
    origin: str
    rules: tuple[str, ...]
    covered: frozenset[str]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.rules) if self.rules else 100.0

    @property
    def missed(self) -> list[str]:
        return [r for r in self.rules if r not in self.covered]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "file": self.origin,
            "rules": len(self.rules),
            "covered": len(self.covered),
            "percent": round(self.percent, 1),
            "never_fired": self.missed,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class TestReport:
    """Every case's result, per-pack coverage, and the packs that did not load."""

    __test__: ClassVar[bool] = False  # not a pytest class

    cases: tuple[CaseResult, ...]
    coverage: tuple[PackCoverage, ...]
    errors: tuple[RulesetError, ...] = ()

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    @property
    def percent(self) -> float:
        total = sum(len(c.rules) for c in self.coverage)
        covered = sum(len(c.covered) for c in self.coverage)
        return 100.0 * covered / total if total else 100.0

    def under(self, min_coverage: float) -> list[PackCoverage]:
        """Packs whose own coverage is below ``min_coverage`` percent."""
        return [c for c in self.coverage if c.percent + 1e-9 < min_coverage]

    def ok(self, min_coverage: float = 0.0) -> bool:
        return not self.failures and not self.errors and not self.under(min_coverage)

    def to_dict(self, min_coverage: float = 0.0) -> dict[str, Any]:
        return {
            "ok": self.ok(min_coverage),
            "min_coverage": min_coverage,
            "coverage_percent": round(self.percent, 1),
            "cases": [c.to_dict() for c in self.cases],
            "coverage": [c.to_dict() for c in self.coverage],
            "errors": [error_dict(e) for e in self.errors],
        }


def run_pack_tests(
    packs: Iterable[RulePack], *, load_errors: Iterable[RulesetError] = ()
) -> TestReport:
    """Run every test case of every pack, each on an engine of its own pack alone."""
    cases: list[CaseResult] = []
    coverage: list[PackCoverage] = []
    for pack in packs:
        covered: set[str] = set()
        for i, case in enumerate(pack.tests):
            result = _run_case(pack, case, pack_line(pack, ["tests", i]))
            covered.update(result.fired)
            cases.append(result)
        ids = tuple(pack.rule_ids)
        coverage.append(PackCoverage(pack.id, pack.origin, ids, frozenset(covered & set(ids))))
    return TestReport(tuple(cases), tuple(coverage), tuple(load_errors))


def case_facts(case: Mapping[str, Any], as_of: dt.date) -> list[dict[str, Any]]:
    """A test case's facts: derived from its events (if any) plus its literal facts.

    Events without ``id`` or ``source`` get ``case-<n>`` and ``pack-test``. Raises
    :class:`InputError` naming the event for an invalid one.
    """
    facts = [dict(f) for f in case.get("facts") or ()]
    if not case.get("events"):
        return facts
    events = []
    for n, raw in enumerate(case["events"], 1):
        try:
            events.append(load_event({"id": f"case-{n}", "source": "pack-test", **raw}))
        except InputError as exc:
            raise InputError(f"event {n}: {exc.reason}") from None
    return History(events).facts(as_of) + facts


def _run_case(pack: RulePack, case: Mapping[str, Any], line: int | None) -> CaseResult:
    name = str(case["name"])

    def result(
        failures: list[str], fired: Iterable[str] = (), cards: Iterable[tuple[str, str]] = ()
    ) -> CaseResult:
        return CaseResult(
            pack.id, pack.origin, name, line, tuple(failures), tuple(fired), tuple(cards)
        )

    try:
        as_of = dt.date.fromisoformat(case["as_of"])
        engine = Engine(
            [pack], overrides={pack.id: case.get("parameters") or {}}, allow_protected=True
        )
        facts = case_facts(case, as_of)
        evaluation = engine.evaluate_facts(facts, as_of)
    except ValueError as exc:
        return result([f"as_of: {exc}"])
    except StridewiseError as exc:
        return result([getattr(exc, "reason", str(exc))])
    except Exception as exc:  # the rules core's own errors: report, keep testing other cases
        return result([f"evaluation failed: {type(exc).__name__}: {exc}"])
    fired = {k.split("/", 1)[1] for k in evaluation.fired} | {
        c.rule_id for c in evaluation.all_cards
    }
    indicators: dict[str, set[str]] = {}
    for card in evaluation.all_cards:
        indicators.setdefault(card.rule_id, set()).add(card.indicator)
    known = set(pack.rule_ids)
    failures: list[str] = [f"failed: {f}" for f in evaluation.failures]
    for exp in case.get("expect") or ():
        rid = exp["rule"]
        if rid not in known:
            failures.append(f"expects unknown rule {rid!r}" + did_you_mean(rid, sorted(known)))
        elif rid not in fired:
            failures.append(f"expected {rid} to fire; it did not")
        elif exp.get("indicator") and exp["indicator"] not in indicators.get(rid, ()):
            got = ", ".join(sorted(indicators.get(rid, ()))) or "no card"
            failures.append(f"expected {rid} with indicator {exp['indicator']}; got {got}")
    for rid in case.get("silent") or ():
        if rid not in known:
            failures.append(
                f"names unknown rule {rid!r} as silent" + did_you_mean(rid, sorted(known))
            )
        elif rid in fired:
            failures.append(f"expected {rid} to stay silent; it fired")
    shown = {c.rule_id: c for c in evaluation.cards}
    hidden = {c.rule_id: c for c in evaluation.suppressed}
    for rid in case.get("shown") or ():
        if rid not in shown:
            why = f" (suppressed: {hidden[rid].suppression})" if rid in hidden else ""
            failures.append(f"expected {rid}'s card to show; it did not{why}")
    for rid in case.get("suppressed") or ():
        if rid not in hidden:
            failures.append(f"expected {rid}'s card to be suppressed; it was not")
    cards = sorted((c.rule_id, c.indicator) for c in evaluation.cards)
    return result(failures, sorted(fired), cards)


# ---------------------------------------------------------------------------------------------
# Vignettes: a short history run through every pack together, and the message it must give
# ---------------------------------------------------------------------------------------------

_CARD_KEY = {"type": "string", "pattern": QUALIFIED_RULE}
VIGNETTE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stridewise vignettes",
    "type": "object",
    "additionalProperties": False,
    "required": ["vignettes"],
    "properties": {
        "vignettes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "as_of", "events"],
                "properties": {
                    "name": {"type": "string", "minLength": 3},
                    "story": {"type": "string"},
                    "as_of": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                    "events": {"type": "array", "items": {"type": "object"}},
                    "training": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["start", "weeks", "km"],
                            "properties": {
                                "start": {"type": "string", "format": "date"},
                                "weeks": {"type": "integer", "minimum": 1, "maximum": 104},
                                "km": {
                                    "type": "array",
                                    "minItems": 7,
                                    "maxItems": 7,
                                    "items": {"type": "number", "minimum": 0},
                                },
                                "shoe": {"type": "string"},
                                "rpe": {"type": "number", "minimum": 0, "maximum": 10},
                                "cadence_spm": {"type": "number"},
                                "surface": {"type": "string"},
                            },
                        },
                    },
                    "first": _CARD_KEY,
                    "shown": {"type": "array", "items": _CARD_KEY},
                    "suppressed": {"type": "array", "items": _CARD_KEY},
                    "silent": {"type": "array", "items": _CARD_KEY},
                    "max_shown": {"type": "integer", "minimum": 0},
                    "indicators": {
                        "type": "object",
                        "propertyNames": {"enum": ["critical", "warning", "info"]},
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                },
            },
        }
    },
}


@functools.cache
def _vignette_validator() -> Any:
    return importlib.import_module("jsonschema").Draft202012Validator(VIGNETTE_SCHEMA)


def builtin_vignette_files() -> list[Traversable]:
    """The vignette files shipped in :mod:`stridewise.rulesets` (``vignettes/*.yaml``)."""
    root = files("stridewise.rulesets").joinpath("vignettes")
    if not root.is_dir():
        return []
    return sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def run_vignettes(
    packs: Iterable[RulePack], sources: Iterable[Path | Traversable]
) -> list[CaseResult]:
    """Run vignettes (a short history, the cards it must and must not show) on all packs."""
    engine = Engine(list(packs))
    results: list[CaseResult] = []
    for source in sources:
        origin = str(source)
        try:
            doc = parse_yaml(source.read_text("utf-8"), origin)
            check_schema(doc, _vignette_validator(), origin)
        except RulesetError as exc:
            results.append(
                CaseResult("vignettes", origin, "(file)", exc.line, (exc.reason,), (), ())
            )
            continue
        for i, vignette in enumerate(doc["vignettes"]):
            results.append(_run_vignette(engine, vignette, origin, line_of(doc, ["vignettes", i])))
    return results


def _training_runs(blocks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs from repeating weeks: ``km`` is the distance for each day of the week from
    ``start`` (0 = rest), repeated ``weeks`` times; each run at 5:30 min/km."""
    runs: list[dict[str, Any]] = []
    for b, block in enumerate(blocks):
        start = dt.date.fromisoformat(block["start"])
        for i in range(7 * block["weeks"]):
            km = block["km"][i % 7]
            if not km:
                continue
            day = start + dt.timedelta(days=i)
            run = {
                "kind": "run",
                "id": f"vignette-{b}-{i}",
                "source": "vignette",
                "start": f"{day.isoformat()}T07:00:00+00:00",
                "distance_m": km * 1000.0,
                "moving_time_s": km * 330.0,
            }
            for key, name in (
                ("shoe", "shoe_id"),
                ("rpe", "rpe"),
                ("cadence_spm", "cadence_spm"),
                ("surface", "surface"),
            ):
                if key in block:
                    run[name] = block[key]
            runs.append(run)
    return runs


def _run_vignette(
    engine: Engine, vignette: Mapping[str, Any], origin: str, line: int | None
) -> CaseResult:
    name = str(vignette["name"])
    try:
        as_of = dt.date.fromisoformat(vignette["as_of"])
        events = [*vignette["events"], *_training_runs(vignette.get("training") or ())]
        evaluation = engine.evaluate_facts(
            case_facts({"events": events}, as_of), as_of, athlete="vignette"
        )
    except (ValueError, StridewiseError) as exc:
        reason = getattr(exc, "reason", str(exc))
        return CaseResult("vignettes", origin, name, line, (reason,), (), ())
    shown = [c.key for c in evaluation.cards]
    merged = {k for c in evaluation.cards for k in c.merged}
    hidden = {c.key: c for c in evaluation.suppressed}
    fired = set(evaluation.fired) | {c.key for c in evaluation.all_cards}
    failures: list[str] = []
    first = vignette.get("first")
    if first and (not shown or shown[0] != first):
        failures.append(f"expected {first} first; got {shown[0] if shown else 'no card'}")
    for key in vignette.get("shown") or ():
        if key not in shown and key not in merged:
            why = f" (set aside: {hidden[key].suppression})" if key in hidden else ""
            failures.append(f"expected {key} to show; it did not{why}")
    for key in vignette.get("suppressed") or ():
        if key not in hidden:
            state = "it showed" if key in shown else "it did not fire"
            failures.append(f"expected {key} to fire and be set aside; {state}")
    for key in vignette.get("silent") or ():
        if key in fired:
            failures.append(f"expected {key} to stay silent; it fired")
    limit = vignette.get("max_shown")
    if limit is not None and len(shown) > limit:
        failures.append(f"expected at most {limit} cards; {len(shown)} showed: {shown}")
    for indicator, count in (vignette.get("indicators") or {}).items():
        got = sum(1 for c in evaluation.cards if c.indicator == indicator)
        if got != count:
            failures.append(f"expected {count} {indicator} card(s); got {got}")
    cards = tuple((c.key, c.indicator) for c in evaluation.cards)
    return CaseResult("vignettes", origin, name, line, tuple(failures), tuple(sorted(fired)), cards)
