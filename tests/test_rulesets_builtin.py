"""The built-in rule packs: every test case inside every pack passes, and covers every rule.

Each case gives facts (or events, turned into facts by :class:`History`) as of a date, the
rules it expects to fire (by rule id, optionally with the card's indicator) and the rules that
must stay silent. A derive-only or score-component rule has no card of its own: it counts as
expected when it fired. Every rule id and score band of every pack must be expected by at
least one case (100% rule coverage).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest
from packaging.version import Version

from stridewise.engine.events import load_event
from stridewise.engine.facts import History
from stridewise.engine.rules import RulePack, builtin_pack_files, load_pack
from stridewise.engine.runtime import Engine, Evaluation

PACKS: dict[str, RulePack] = {p.id: p for p in (load_pack(f) for f in builtin_pack_files())}
EXPECTED_PACKS = {
    "training-load",
    "footwear",
    "nutrition",
    "recurrence-risk",
    "symptoms",
    "return-to-run",
}
CASES = [(pid, i) for pid, pack in sorted(PACKS.items()) for i in range(len(pack.tests))]


@cache
def _engine(pack_id: str, overrides: str) -> Engine:
    return Engine(
        [PACKS[pack_id]], overrides={pack_id: json.loads(overrides)}, allow_protected=True
    )


def run_case(pack: RulePack, case: Mapping[str, Any]) -> Evaluation:
    """Evaluate one pack test case (facts, or events through History, plus any extra facts)."""
    as_of = dt.date.fromisoformat(case["as_of"])
    engine = _engine(pack.id, json.dumps(case.get("parameters") or {}, sort_keys=True))
    facts: list[Mapping[str, Any]] = []
    if case.get("events"):
        facts.extend(History([load_event(e) for e in case["events"]]).facts(as_of))
    facts.extend(case.get("facts") or [])
    return engine.evaluate_facts(facts, as_of)


def fired_ids(pack: RulePack, ev: Evaluation) -> set[str]:
    """Rule ids that fired or produced a card (score bands appear only as cards)."""
    prefix = pack.id + "/"
    return {k.removeprefix(prefix) for k in ev.fired} | {c.rule_id for c in ev.all_cards}


def test_every_expected_pack_ships() -> None:
    assert set(PACKS) >= EXPECTED_PACKS


@pytest.mark.parametrize(("pack_id", "index"), CASES)
def test_pack_case(pack_id: str, index: int) -> None:
    pack = PACKS[pack_id]
    case = pack.tests[index]
    ev = run_case(pack, case)
    fired = fired_ids(pack, ev)
    cards = {(c.rule_id, c.indicator) for c in ev.all_cards}
    for want in case.get("expect") or []:
        assert want["rule"] in fired, f"{case['name']}: {want['rule']} did not fire ({fired})"
        if "indicator" in want:
            assert (want["rule"], want["indicator"]) in cards, f"{case['name']}: {cards}"
    for rule in case.get("silent") or []:
        assert rule in pack.rule_ids, f"{case['name']}: unknown rule {rule}"
        assert rule not in fired, f"{case['name']}: {rule} should stay silent"
    for card in ev.all_cards:
        assert not card.summary.endswith("…"), card.summary  # never truncated
        if card.kind != "question":
            assert "?" not in card.summary, f"{card.rule_id}: a placeholder had no value"
        assert card.source["label"]


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_every_rule_is_covered_by_a_case(pack_id: str) -> None:
    pack = PACKS[pack_id]
    expected = {e["rule"] for case in pack.tests for e in case.get("expect") or []}
    missing = [r for r in pack.rule_ids if r not in expected]
    assert not missing, f"{pack_id}: rules no test case expects: {missing}"


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_manifest_and_parameters(pack_id: str) -> None:
    pack = PACKS[pack_id]
    # 1.x: content changes; 2.0: a default or an output field changed (see each pack's header)
    assert Version(pack.version) >= Version("1.0.0")
    assert pack.status == "active"
    assert pack.reviewed and pack.description
    for param in pack.parameters.values():
        assert param.source, f"{pack_id}: parameter {param.name} has no source"
        if param.type in ("number", "integer"):
            assert param.min is not None and param.max is not None, param.name


def test_all_packs_compile_together() -> None:
    engine = Engine(PACKS.values())
    assert engine.rules


def _vignettes() -> list[Any]:
    from stridewise.engine.packs import builtin_vignette_files, run_vignettes

    return run_vignettes(PACKS.values(), builtin_vignette_files())


VIGNETTES = _vignettes()


def test_vignettes_ship_with_the_packs() -> None:
    assert len(VIGNETTES) >= 10


@pytest.mark.parametrize("result", VIGNETTES, ids=lambda r: r.case)
def test_vignette(result: Any) -> None:
    assert result.ok, result.failures


def test_a_vignette_that_is_not_met_says_what_showed_instead(tmp_path: Any) -> None:
    from stridewise.engine.packs import run_vignettes

    path = tmp_path / "v.yaml"
    path.write_text(
        "vignettes:\n"
        "  - name: night pain\n"
        "    as_of: '2026-03-31'\n"
        "    events:\n"
        "      - {kind: pain, id: p, source: t, date: '2026-03-30', site: shin, severity: 4,\n"
        "         at_night: true}\n"
        "    first: footwear/shoe-worn\n"
        "    shown: [training-load/acwr-spike]\n",
        "utf-8",
    )
    [result] = run_vignettes(PACKS.values(), [path])
    assert result.line == 2
    assert result.failures == (
        "expected footwear/shoe-worn first; got symptoms/pain-at-rest-or-night",
        "expected training-load/acwr-spike to show; it did not",
    )
