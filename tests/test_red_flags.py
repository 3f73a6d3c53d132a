"""Red flags as runners report them (issue 7, section 2), through the real engine and CLI.

Severe pain or pain that stops a run is critical whatever the site; the words runners use for
where it hurts ("tibia", "front of the shin", "top of midfoot") load as regions or sites; a
region that holds a high-risk site asks the one question that decides and sends lingering or
tender pain to a physician; pain near an earlier stress fracture sends to a physician.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import stridewise
from stridewise.cli import cli
from stridewise.engine.cards import Card
from stridewise.engine.errors import InputError
from stridewise.engine.events import SITE_ALIASES, SITES, PainReport, normalize_site
from stridewise.engine.rules import builtin_pack_files, load_pack

AS_OF = dt.date(2026, 3, 31)
ENGINE = stridewise.build_engine()


def pain(**fields: Any) -> dict[str, Any]:
    return {"kind": "pain", "id": "p1", "source": "test", "date": "2026-03-30", **fields}


def cards_for(*events: Mapping[str, Any], as_of: dt.date = AS_OF) -> list[Card]:
    history = stridewise.History(stridewise.load_events(events))
    return list(ENGINE.evaluate(history, as_of))


def keys(cards: list[Card]) -> set[str]:
    return {c.key for c in cards}


def symptom_card(cards: list[Card], rule: str) -> Card:
    found = [c for c in cards if c.key == f"symptoms/{rule}"]
    assert found, f"{rule} not shown: {[c.key for c in cards]}"
    return found[0]


def sees_physician(card: Card) -> bool:
    return "physician" in card.summary.lower()


@pytest.mark.parametrize("site", ["thigh", "heel", "knee", "inner shin", "metatarsal_shaft"])
def test_pain_rated_7_of_10_is_critical_and_says_see_a_physician_whatever_the_site(
    site: str,
) -> None:
    cards = cards_for(pain(site=site, severity=7))
    card = symptom_card(cards, "severe-pain")
    assert card.indicator == "critical" and card.advice == "stop"
    assert sees_physician(card)
    assert cards[0].indicator == "critical"  # it leads the report


def test_pain_rated_6_of_10_alone_is_not_severe() -> None:
    assert "symptoms/severe-pain" not in keys(cards_for(pain(site="thigh", severity=6)))


def test_pain_that_stopped_the_run_is_critical_even_at_4_of_10() -> None:
    cards = cards_for(pain(site="thigh", severity=4, with_activity=True, stopped_run=True))
    card = symptom_card(cards, "pain-stopped-run")
    assert card.indicator == "critical" and card.advice == "stop" and sees_physician(card)


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("foot", "foot"),
        ("Shin", "shin"),
        ("tibia", "shin"),
        ("shinbone", "shin"),
        ("my calf", "shin"),
        ("femur", "thigh"),
        ("HIP", "hip"),
        (" groin ", "groin"),
        ("front of shin", "tibia_anterior"),
        ("Front of the shin", "tibia_anterior"),
        ("shin_front", "tibia_anterior"),
        ("inner shin", "tibia_posteromedial"),
        ("top of midfoot", "navicular"),
        ("base of fifth metatarsal", "metatarsal_5_proximal"),
        ("outer edge of foot", "metatarsal_5_proximal"),
        ("under big toe", "sesamoid"),
        ("inner ankle", "medial_malleolus"),
        ("tibia_anterior", "tibia_anterior"),
    ],
)
def test_runners_words_for_where_it_hurts_are_understood(word: str, code: str) -> None:
    assert normalize_site(word) == code
    (event,) = stridewise.load_events([pain(site=word, severity=3)])
    assert isinstance(event, PainReport) and event.site == code


def test_every_alias_names_a_known_site() -> None:
    assert set(SITE_ALIASES.values()) <= set(SITES)


def test_an_unknown_word_for_a_site_is_refused_listing_the_words_that_work() -> None:
    with pytest.raises(InputError) as info:
        stridewise.load_events([pain(site="elbow", severity=3)])
    text = str(info.value)
    assert "'elbow'" in text
    for word in ("shin", "foot", "groin", "front of shin", "top of midfoot", "navicular"):
        assert word in text


@pytest.mark.parametrize("site", ["groin", "Hip"])
def test_groin_or_hip_pain_with_running_is_critical_for_the_femoral_neck(site: str) -> None:
    cards = cards_for(pain(site=site, severity=2, with_activity=True))
    card = symptom_card(cards, "groin-hip-pain")
    assert card.indicator == "critical" and sees_physician(card)
    assert "femoral neck" in card.summary


def test_hip_pain_not_yet_linked_to_running_asks_whether_it_builds_with_running() -> None:
    cards = cards_for(pain(site="hip", severity=2))
    card = symptom_card(cards, "hip-pain-with-running")
    assert card.kind == "question" and card.advice == "inform" and "run" in card.summary


@pytest.mark.parametrize(
    "site", ["top of midfoot", "front of the shin", "base of fifth metatarsal"]
)
def test_pain_at_a_spot_that_is_a_high_risk_site_gets_a_physician_card(site: str) -> None:
    cards = cards_for(pain(site=site, severity=2))
    card = symptom_card(cards, "high-risk-site-pain")
    assert card.indicator == "critical" and sees_physician(card)


def test_shin_pain_asks_front_or_inner_edge() -> None:
    cards = cards_for(pain(site="shin", severity=2))
    card = symptom_card(cards, "which-part-of-shin")
    assert card.kind == "question" and card.advice == "inform"
    assert "front" in card.summary and "inner edge" in card.summary


def test_foot_pain_asks_which_part_of_the_foot() -> None:
    card = symptom_card(cards_for(pain(site="foot", severity=2)), "which-part-of-foot")
    assert card.kind == "question"
    assert "top of the midfoot" in card.summary and "big toe" in card.summary


def test_shin_pain_at_the_inner_edge_asks_nothing() -> None:
    assert not any(c.kind == "question" for c in cards_for(pain(site="inner shin", severity=2)))


def test_lingering_shin_pain_with_running_says_see_a_physician() -> None:
    cards = cards_for(pain(site="tibia", severity=3, with_activity=True, after_rest=True))
    card = symptom_card(cards, "possible-high-risk-region-pain")
    assert card.indicator == "warning" and card.advice == "stop" and sees_physician(card)


def test_tender_foot_pain_with_running_says_see_a_physician() -> None:
    cards = cards_for(pain(site="foot", severity=3, with_activity=True, point_tenderness=True))
    assert sees_physician(symptom_card(cards, "possible-high-risk-region-pain"))


def test_findings_about_one_painful_shin_collapse_into_one_card_naming_the_evidence() -> None:
    report = pain(
        site="shin", severity=4, with_activity=True, after_rest=True, point_tenderness=True
    )
    history = stridewise.History(stridewise.load_events([report]))
    ev = ENGINE.evaluate_facts(history.facts(AS_OF), AS_OF)
    shin = [c for c in ev.cards if c.topic == "bone-pain:shin"]
    assert len(shin) == 1, [c.key for c in shin]
    assert sees_physician(shin[0])
    folded = {c.key for c in ev.suppressed if c.topic == "bone-pain:shin"}
    assert {"symptoms/pain-lingers", "symptoms/point-tenderness"} <= folded


def test_every_symptom_finding_card_has_a_bone_pain_topic_and_advice() -> None:
    pack = next(load_pack(f) for f in builtin_pack_files() if "symptoms" in str(f))
    for rule in pack.rules:
        card = rule["then"]["card"]
        assert card["advice"]
        if card.get("kind", "finding") == "finding":
            assert card["topic"] == "bone-pain:{pain.site}", rule["id"]
        if card["indicator"] == "critical":
            assert card["advice"] == "stop", rule["id"]


def test_red_flag_rules_are_protected() -> None:
    packs = {p.id: p for p in (load_pack(f) for f in builtin_pack_files())}
    protected = {
        f"{pid}/{r['id']}" for pid, p in packs.items() for r in p.rules if r.get("protected")
    }
    assert {
        "symptoms/pain-at-rest-or-night",
        "symptoms/high-risk-site-pain",
        "symptoms/groin-hip-pain",
        "symptoms/hop-pain",
        "symptoms/tender-swollen-bone",
        "symptoms/severe-pain",
        "symptoms/pain-stopped-run",
        "return-to-run/rtr-running-while-uncleared-high-risk",
    } <= protected


def test_pain_near_an_earlier_stress_fracture_says_see_a_physician() -> None:
    profile = {
        "kind": "profile",
        "id": "pr",
        "source": "test",
        "recorded": "2026-01-01",
        "prior_bsi": [{"site": "tibia_posteromedial", "date": "2024-05-01", "side": "left"}],
    }
    cards = cards_for(profile, pain(site="shin", side="left", severity=2))
    card = symptom_card(cards, "near-prior-bsi")
    assert card.indicator == "warning" and sees_physician(card)
    assert "posteromedial tibia" in card.detail


def test_pain_near_an_old_diagnosed_injury_from_the_journal_says_see_a_physician() -> None:
    injury = {
        "kind": "injury",
        "id": "i1",
        "source": "test",
        "date": "2024-02-01",
        "site": "navicular",
        "cleared": "2024-06-01",
    }
    cards = cards_for(injury, pain(site="foot", severity=2))
    assert sees_physician(symptom_card(cards, "near-prior-bsi"))


def test_pain_on_the_other_leg_is_not_near_the_earlier_fracture() -> None:
    profile = {
        "kind": "profile",
        "id": "pr",
        "source": "test",
        "recorded": "2026-01-01",
        "prior_bsi": [{"site": "tibia", "side": "left"}],
    }
    cards = cards_for(profile, pain(site="shin", side="right", severity=2))
    assert "symptoms/near-prior-bsi" not in keys(cards)


def test_logged_severe_pain_that_stopped_a_run_is_critical_in_the_json_report(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.yaml"
    runner = CliRunner()
    logged = runner.invoke(
        cli,
        [
            "log",
            "pain",
            "--journal",
            str(journal),
            "--date",
            "2026-03-30",
            "--site",
            "Front of the shin",
            "--severity",
            "5",
            "--with-activity",
            "--stopped-run",
        ],
        catch_exceptions=False,
    )
    assert logged.exit_code == 0, logged.output
    out = runner.invoke(
        cli,
        ["report", str(journal), "--json", "--as-of", "2026-03-31"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    shown = {f"{c['ruleset_id']}/{c['rule_id']}": c for c in doc["cards"]}
    every = {**shown, **{f"{c['ruleset_id']}/{c['rule_id']}": c for c in doc["suppressed"]}}
    assert "symptoms/pain-stopped-run" in every and "symptoms/high-risk-site-pain" in every
    top = doc["cards"][0]
    assert top["indicator"] == "critical" and top["advice"] == "stop"
    assert "physician" in top["summary"]
    assert all(c["advice"] not in ("progress", "reassure", "reduce") for c in doc["cards"])


def test_an_unknown_site_word_on_the_command_line_names_the_words_that_work(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.yaml"
    result = CliRunner().invoke(
        cli,
        [
            *("log", "pain", "--journal", str(journal), "--date", "2026-03-30"),
            *("--site", "elbow", "--severity", "3"),
        ],
    )
    assert result.exit_code != 0
    assert "top of midfoot" in result.output + (result.stderr or "")
    assert not journal.exists()
