"""Return-to-run gates (issue 7, section 6): before the first run after a bone stress injury,
pain-free walking AND pain-free cross-training (seed 002), a hop test at 2/10 pain or less and
a strength test passed (George 2024). "Ready for phase 1" never shows until every gate passes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

import stridewise
from stridewise.cli import cli
from stridewise.engine.cards import Card
from stridewise.engine.rules import builtin_pack_files, load_pack

AS_OF = dt.date(2026, 4, 20)
ENGINE = stridewise.build_engine()


def injury(**fields: Any) -> dict[str, Any]:
    base = {
        "kind": "injury",
        "id": "inj",
        "source": "test",
        "date": "2026-02-20",
        "site": "inner shin",
        "cleared": "2026-04-15",
    }
    return {**base, **fields}


WALK = {
    "kind": "cross_training",
    "id": "w1",
    "source": "test",
    "start": "2026-04-16T07:00:00+00:00",
    "sport": "walk",
    "duration_s": 2400,
}
RIDE = {
    "kind": "cross_training",
    "id": "c1",
    "source": "test",
    "start": "2026-04-17T07:00:00+00:00",
    "sport": "ride",
    "duration_s": 2700,
}


def evaluate(*events: Mapping[str, Any]) -> stridewise.Evaluation:
    history = stridewise.History(stridewise.load_events(events))
    return ENGINE.evaluate_facts(history.facts(AS_OF), AS_OF)


def rtr(ev: stridewise.Evaluation, *, shown_only: bool = False) -> dict[str, Card]:
    cards = ev.cards if shown_only else ev.all_cards
    return {c.rule_id: c for c in cards if c.ruleset_id == "return-to-run"}


def test_every_gate_passed_says_ready_for_phase_1() -> None:
    ev = evaluate(injury(hop_test_pain=2, strength_test_passed=True), WALK, RIDE)
    shown = rtr(ev, shown_only=True)
    assert "rtr-ready" in shown and shown["rtr-ready"].advice == "progress"
    assert not {"rtr-gate-cross-train", "rtr-gate-hop-needed", "rtr-gate-strength-needed"} & set(
        rtr(ev)
    )


def test_pain_free_walking_without_pain_free_cross_training_is_not_ready() -> None:
    ev = evaluate(injury(hop_test_pain=0, strength_test_passed=True), WALK)
    cards = rtr(ev)
    assert "rtr-ready" not in cards
    gate = cards["rtr-gate-cross-train"]
    assert gate.kind == "information-needed" and gate.advice == "inform"
    assert "cross-training" in gate.summary


def test_cross_training_before_the_last_pain_report_does_not_open_the_gate() -> None:
    early_ride = {**RIDE, "start": "2026-04-12T07:00:00+00:00"}
    pain = {
        "kind": "pain",
        "id": "p1",
        "source": "test",
        "date": "2026-04-14",
        "site": "shin",
        "severity": 2,
    }
    ev = evaluate(injury(hop_test_pain=0, strength_test_passed=True), early_ride, pain, WALK)
    assert "rtr-gate-cross-train" in rtr(ev) and "rtr-ready" not in rtr(ev)


def test_hop_and_strength_tests_not_recorded_are_asked_for_and_block_ready() -> None:
    cards = rtr(evaluate(injury(), WALK, RIDE))
    assert "rtr-ready" not in cards
    for rule in ("rtr-gate-hop-needed", "rtr-gate-strength-needed"):
        assert cards[rule].kind == "information-needed" and cards[rule].advice == "inform"


def test_a_hop_test_that_hurts_3_of_10_says_do_not_run() -> None:
    ev = evaluate(injury(hop_test_pain=3, strength_test_passed=True), WALK, RIDE)
    cards = rtr(ev, shown_only=True)
    card = cards["rtr-gate-hop-painful"]
    assert card.indicator == "warning" and card.advice == "stop"
    assert "3/10" in card.summary
    assert "rtr-ready" not in rtr(ev)
    assert not any(c.advice == "progress" for c in ev.cards)


def test_a_failed_strength_test_says_do_not_run_yet() -> None:
    ev = evaluate(injury(hop_test_pain=1, strength_test_passed=False), WALK, RIDE)
    card = rtr(ev, shown_only=True)["rtr-gate-strength-failed"]
    assert card.indicator == "warning" and card.advice == "stop"
    assert "rtr-ready" not in rtr(ev)


def test_walk_run_phases_progress_and_hold_or_step_back_reduce() -> None:
    pack = next(load_pack(f) for f in builtin_pack_files() if "return_to_run" in str(f))
    advice = {r["id"]: r["then"]["card"]["advice"] for r in pack.rules}
    for phase in range(1, 7):
        assert advice[f"rtr-phase-{phase}"] == "progress"
    assert advice["rtr-ready"] == "progress"
    assert advice["rtr-hold"] == advice["rtr-step-back"] == "reduce"
    assert advice["rtr-running-while-uncleared-high-risk"] == "stop"
    protected = {r["id"] for r in pack.rules if r.get("protected")}
    assert "rtr-running-while-uncleared-high-risk" in protected


def test_logging_the_injury_again_with_test_results_updates_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal.yaml"
    runner = CliRunner()

    def log(*args: str) -> None:
        result = runner.invoke(cli, ["log", *args, "--journal", str(journal)])
        assert result.exit_code == 0, result.output

    log("injury", "--date", "2026-02-20", "--site", "Tibia", "--side", "left")
    log(
        "injury",
        *("--date", "2026-02-20", "--site", "shin", "--side", "left"),
        *("--cleared", "2026-04-15", "--hop-test-pain", "1", "--strength-test-failed"),
    )
    stored = yaml.safe_load(journal.read_text())["injuries"]
    assert stored[1]["strength_test_passed"] is False  # a failed test is kept, not dropped
    doc = _report(runner, journal)
    rules = {c["rule_id"] for c in doc["cards"] + doc["suppressed"]}
    assert "rtr-gate-strength-failed" in rules and "rtr-ready" not in rules
    log(
        "injury",
        *("--date", "2026-02-20", "--site", "shin", "--side", "left"),
        "--strength-test-passed",
    )
    rules = {c["rule_id"] for c in _report(runner, journal)["cards"]}
    assert "rtr-gate-strength-failed" not in rules
    assert "rtr-gate-hop-painful" not in rules


def _report(runner: CliRunner, journal: Path) -> dict[str, Any]:
    out = runner.invoke(cli, ["report", str(journal), "--json", "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc
