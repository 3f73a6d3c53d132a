"""``explain``: which rules fired on which facts, and the first failing test of the others."""

from __future__ import annotations

import datetime as dt
import json
import random
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stridewise import plugin_packs
from stridewise.cli_rulesets import explain as explain_cmd
from stridewise.engine.events import SEXES, SITES
from stridewise.engine.facts import FACT_FIELDS
from stridewise.engine.packs import DecisionLog, RuleExplanation, explain
from stridewise.engine.rules import RulePack, load_packs
from stridewise.engine.runtime import Engine

DATA = Path(__file__).parent / "data"
PACKS = DATA / "packs"
DAY = dt.date(2026, 3, 31)
DIVERGED = "its conditions hold here, yet the rules engine did not fire it"
ONLY_FIXTURES = {"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"}


def good() -> list[RulePack]:
    return load_packs([PACKS / "good"])[0]


def explained(engine: Engine, facts: list[dict[str, Any]]) -> dict[str, RuleExplanation]:
    return {e.key: e for e in explain(engine, engine.evaluate_facts(facts, DAY))}


def test_fired_rules_show_their_facts_and_parameters() -> None:
    out = explained(
        Engine(good()),
        [
            {"type": "training", "enough_history": True, "load_7d_km": 60.0, "monotony": 1.2},
            {"type": "pain", "site": "shin", "severity": 4},
        ],
    )
    long_week = out["alpha/long-week"]
    assert long_week.status == "fired" and long_week.reason is None
    assert long_week.matched == ({"training": {"load_7d_km": 60.0}},)
    assert long_week.parameters == {"threshold": 50}
    assert [c.summary for c in long_week.cards] == ["60 km this week, above 50 km."]
    # a chained rule shows the derived fact and the rule that derived it
    sore = out["alpha/sore-and-long"]
    assert sore.status == "fired"
    assert sore.matched == (
        {"alpha_flag": {"rule": "alpha/long-week"}, "pain": {"severity": 4, "site": "shin"}},
    )


def test_silent_rules_name_the_first_failing_test() -> None:
    out = explained(
        Engine(good()), [{"type": "training", "enough_history": True, "load_7d_km": 20}]
    )
    assert out["alpha/long-week"].status == "silent"
    assert out["alpha/long-week"].reason == "training.load_7d_km = 20, needs > 50 (threshold)"
    assert out["alpha/sore-and-long"].reason == "no alpha_flag fact"
    assert out["alpha/night-or-rest"].reason == "no pain fact"
    assert out["alpha/rested"].status == "fired"
    assert out["beta/load-points"].reason == "training.load_7d_km = 20, needs > 40"
    assert out["beta/risk-low"].reason == "no rule scored risk"


def test_reasons_use_the_engines_parameter_values() -> None:
    engine = Engine(good(), overrides={"alpha": {"threshold": 30, "severity_min": 5}})
    out = explained(
        engine,
        [
            {"type": "training", "enough_history": True, "load_7d_km": 40.0},
            {"type": "pain", "site": "shin", "severity": 2},
            {"type": "pain", "site": "foot", "severity": 4},
        ],
    )
    assert out["alpha/long-week"].status == "fired"
    assert out["alpha/long-week"].parameters == {"threshold": 30}
    # two pain facts, neither severe enough: the closest one is named
    assert out["alpha/sore-and-long"].reason == (
        "no pain fact matches (closest: pain.severity = 2, needs >= 5 (severity_min))"
    )
    assert out["alpha/rested"].reason == "a pain fact is present (the rule needs none)"
    # an 'any' fails only when every alternative does: each is named
    assert out["alpha/night-or-rest"].reason == (
        "no pain fact matches (closest: pain.at_night is not known; needs yes); "
        "and no pain fact matches (closest: pain.at_rest is not known; needs yes)"
    )


def test_booleans_missing_fields_disabled_rules_and_score_bands() -> None:
    engine = Engine(good(), disabled=["alpha/rested", "beta/risk-high"])
    out = explained(
        engine,
        [
            {"type": "training", "enough_history": False, "load_7d_km": 45.0},
            {"type": "pain", "site": "hip", "severity": 1, "at_night": False, "at_rest": False},
        ],
    )
    assert out["alpha/rested"].status == "disabled"
    assert out["beta/risk-high"].status == "disabled"
    assert out["alpha/night-or-rest"].reason == (
        "pain.at_night = no, needs yes; and pain.at_rest = no, needs yes"
    )
    band = out["beta/risk-low"]
    assert band.status == "fired"
    assert band.matched == ({"score": {"total": 1, "load": 1}},)
    assert [c.summary for c in band.cards] == ["Beta risk score 1: low."]
    out = explained(Engine(good()), [{"type": "training"}])
    assert (
        out["alpha/long-week"].reason == "training.load_7d_km is not known; needs > 50 (threshold)"
    )


def _random_facts(rng: random.Random) -> list[dict[str, Any]]:
    numbers = [0, 0.5, 0.79, 0.8, 1.0, 1.3, 1.5, 1.51, 1.8, 2.0, 2.6, 5, 9.9, 10, 14, 18.5, 20, 30]
    numbers += [45, 50, 80, 100, 150, 300, 425, 500, 700, 1000, 1500, 2500, -20]
    strings = {"site": SITES, "sex": SEXES, "disordered_eating": ("none", "diagnosed")}

    def fact(kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind}
        for name, ftype in FACT_FIELDS[kind].items():
            if rng.random() < 0.35:
                continue
            if ftype == "boolean":
                out[name] = rng.random() < 0.5
            elif ftype == "integer":
                out[name] = int(abs(rng.choice(numbers)))
            elif ftype == "number":
                out[name] = float(rng.choice(numbers))
            else:
                out[name] = rng.choice(strings.get(name, ("a", "b", "left")))
        return out

    facts = [fact("training"), fact("athlete")]
    for kind in ("pain", "shoe", "injury", "nutrition"):
        facts += [fact(kind) for _ in range(rng.randrange(3))]
    return facts


def test_explanations_agree_with_the_engine_on_random_facts() -> None:
    """The Python reading of the condition language fires exactly when the rules core does."""
    builtin, errors = plugin_packs()
    assert errors == []
    engine = Engine([*builtin, *good()])
    rng = random.Random(20261122)
    fired_somewhere: set[str] = set()
    for _ in range(120):
        evaluation = engine.evaluate_facts(_random_facts(rng), DAY)
        for e in explain(engine, evaluation):
            assert e.reason != DIVERGED, e.key
            if e.status == "fired":
                assert e.reason is None, e.key
                fired_somewhere.add(e.key)
    assert len(fired_somewhere) > 20  # the random facts exercise a good share of the rules


def test_cli_explain_on_the_sample_athlete(tmp_path: Path) -> None:
    profile = tmp_path / "clinic.yaml"
    profile.write_text(
        "clinic: {id: demo-clinic, name: Demo Clinic}\n"
        "packs: {alpha: '*', beta: '*'}\n"
        "parameters: {alpha: {threshold: 40}}\n"
    )
    log = tmp_path / "decisions.jsonl"
    with as_file(files("stridewise").joinpath("data/demo_athlete.yaml")) as demo:
        args = [str(demo), "--as-of", "2026-10-31", "--pack", str(PACKS / "good")]
        args += ["--profile", str(profile)]
        result = CliRunner().invoke(
            explain_cmd, [*args, "--json", "--decision-log", str(log)], env=ONLY_FIXTURES
        )
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        text = CliRunner().invoke(explain_cmd, args, env=ONLY_FIXTURES)
    assert doc["as_of"] == "2026-10-31" and doc["clinic"] == "demo-clinic"
    assert doc["packs"] == [{"id": "alpha", "version": "1.2.0"}, {"id": "beta", "version": "2.0.0"}]
    rules = {r["rule"]: r for r in doc["rules"]}
    training = next(f for f in doc["facts"] if f["type"] == "training")
    assert training["load_7d_km"] > 40
    assert rules["alpha/long-week"]["status"] == "fired"
    assert rules["alpha/long-week"]["matched"] == [
        {"training": {"load_7d_km": training["load_7d_km"]}}
    ]
    assert rules["alpha/long-week"]["parameters"] == {"threshold": 40}
    assert rules["alpha/night-or-rest"]["status"] == "silent"
    assert rules["alpha/night-or-rest"]["reason"] == (
        "pain.at_night = no, needs yes; and pain.at_rest = no, needs yes"
    )
    (entry,) = DecisionLog(log).entries()
    assert entry["decision_id"] == doc["decision_id"]
    assert entry["clinic"] == "demo-clinic"
    assert entry["parameters"]["alpha"]["threshold"] == 40
    assert text.exit_code == 0
    assert "Explanation as of 2026-10-31 (rule packs: alpha 1.2.0, beta 2.0.0)" in text.stdout
    km = f"{training['load_7d_km']:g}"
    assert f"alpha/long-week: {km} km this week, above 40 km." in text.stdout
    assert f"    on training: load_7d_km = {km}" in text.stdout
    assert "alpha/night-or-rest: pain.at_night = no, needs yes; and pain.at_rest" in text.stdout


def test_cli_explain_user_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "nothing.txt"
    empty.write_text("")
    result = CliRunner().invoke(explain_cmd, [str(empty)], env=ONLY_FIXTURES)
    assert result.exit_code == 2
    assert "error: nothing was imported, so there is nothing to evaluate" in result.stderr
    bad = DATA / "clinics" / "out_of_bounds.yaml"
    with as_file(files("stridewise").joinpath("data/demo_athlete.yaml")) as demo:
        result = CliRunner().invoke(
            explain_cmd,
            [str(demo), "--pack", str(PACKS / "good"), "--profile", str(bad)],
            env=ONLY_FIXTURES,
        )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}:9: pack 'alpha': parameter 'threshold' = 500")
    assert "Traceback" not in result.output
