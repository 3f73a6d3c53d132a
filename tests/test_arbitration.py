"""The decision step: the cards that fire are read as one message (engine/arbitration.py).

These tests pin the mechanism on a small pack written for them; the built-in packs' scenarios
(night pain during a return to run, one long run, one worn pair) are in test_one_message.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stridewise.engine.errors import RulesetError
from stridewise.engine.rules import parse_pack
from stridewise.engine.runtime import Engine

DAY = dt.date(2026, 3, 31)

PACK = """
ruleset: {id: house, version: 1.0.0, title: House rules, status: active}
sources:
  a: {label: "Source A, a paper", url: "https://doi.org/10.1/a"}
  b: {label: "Source B, a handout"}
parameters:
  big: {type: number, default: 40, min: 10, max: 100, description: a big week, source: a}
rules:
  - id: night-pain
    priority: 100
    when: [{fact: pain, where: {at_night: true}}]
    then:
      card: {indicator: critical, advice: stop, topic: "pain:{pain.site}",
             summary: "Night pain ({pain.site}): stop running and see a physician.",
             detail: Red flag., source: a}
  - id: tender
    priority: 70
    when: [{fact: pain, where: {point_tenderness: true}}]
    then:
      card: {indicator: warning, advice: stop, topic: "pain:{pain.site}",
             summary: "A tender spot ({pain.site}): stop running, get it assessed.",
             detail: Tender spot., source: b}
  - id: cut-back
    priority: 60
    when: [{fact: pain, where: {with_activity: true}}]
    then:
      card: {indicator: warning, advice: reduce, summary: "Pain with running: cut back.",
             detail: Cut back., source: b}
  - id: next-phase
    when: [{fact: injury, where: {cleared: true}}]
    then:
      card: {indicator: info, advice: progress, kind: guidance,
             summary: "Walk-run phase 2: walk 2 min, run 3 min.", detail: Go on., source: b}
  - id: low-risk
    when: [{fact: athlete, where: {has_profile: true}}]
    then:
      card: {indicator: info, advice: reassure, summary: "Low risk: full clearance to train.",
             detail: All fine., source: a, conflicts_with: [{category: worries}]}
  - id: big-week
    priority: 55
    when: [{fact: training, where: {load_7d_km: {gt: $big}}}]
    then:
      card: {indicator: warning, advice: reduce, topic: load-spike,
             summary: "A big week: {training.load_7d_km} km.", detail: A big week., source: a}
  - id: long-run
    priority: 58
    when: [{fact: training, where: {run_vs_longest_30d_pct: {gt: 30}}}]
    then:
      card: {indicator: warning, advice: reduce, topic: load-spike,
             summary: "A long run, {training.run_vs_longest_30d_pct}% over your longest.",
             detail: A long run., source: b}
  - id: small-note
    priority: 10
    when: [{fact: training, where: {load_7d_km: {gt: $big}}}]
    then:
      card: {indicator: warning, advice: modify, category: worries,
             summary: "Streak of {training.days_since_rest} days.", detail: A note., source: b}
  - id: shoe-worn
    when: [{fact: shoe, where: {distance_km: {gt: 500}}}]
    then:
      card: {indicator: warning, advice: modify, topic: "shoe:{shoe.shoe_id}",
             summary: "'{shoe.name}' is worn.", detail: Worn out., source: b,
             supersedes: [shoe-soon]}
  - id: shoe-soon
    when: [{fact: shoe, where: {distance_km: {gt: 400}}}]
    then:
      card: {indicator: info, advice: modify, summary: "'{shoe.name}' is nearly worn.",
             detail: Soon worn., source: b}
  - id: shoe-main-pair
    priority: 60
    when: [{fact: shoe, where: {distance_km: {gt: 500}, share_of_28d_pct: {gt: 90}}}]
    then:
      card: {indicator: warning, advice: modify, topic: "shoe:{shoe.shoe_id}",
             summary: "All your running is in '{shoe.name}'.", detail: Rotate., source: a}
  - id: add-shoes
    when: [{fact: nutrition, where: {days_ago: {gte: 0}}}, {absent: shoe}]
    then:
      card: {indicator: info, advice: inform, kind: information-needed,
             summary: "Add your shoes.", detail: Shoes., source: b}
  - id: add-profile
    when: [{fact: nutrition, where: {days_ago: {gte: 0}}}, {absent: athlete}]
    then:
      card: {indicator: info, advice: inform, kind: information-needed,
             summary: "Add your profile.", detail: Profile., source: a}
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine([parse_pack(PACK, origin="house.yaml")])


def run(engine: Engine, *facts: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    ev = engine.evaluate_facts(list(facts), DAY, athlete="a1")
    return [c.rule_id for c in ev.cards], {c.rule_id: c for c in ev.suppressed}


def test_stop_wins_over_cut_back_go_on_and_low_risk(engine: Engine) -> None:
    shown, hidden = run(
        engine,
        {"type": "pain", "site": "shin", "at_night": True, "with_activity": True},
        {"type": "injury", "cleared": True},
        {"type": "athlete", "has_profile": True},
    )
    assert shown == ["night-pain"]
    assert set(hidden) == {"cut-back", "next-phase", "low-risk"}
    for card in hidden.values():
        assert card.suppressed_by == "house/night-pain"
        assert "says stop running" in card.suppression
        assert card.to_dict()["suppressed_by"] == "house/night-pain"


def test_without_a_stop_card_the_go_on_cards_stand(engine: Engine) -> None:
    shown, hidden = run(
        engine, {"type": "injury", "cleared": True}, {"type": "athlete", "has_profile": True}
    )
    assert sorted(shown) == ["low-risk", "next-phase"] and hidden == {}


def test_findings_about_one_site_collapse_into_the_red_flag_naming_all_evidence(
    engine: Engine,
) -> None:
    ev = engine.evaluate_facts(
        [{"type": "pain", "site": "shin", "at_night": True, "point_tenderness": True}], DAY
    )
    [card] = ev.cards
    assert card.rule_id == "night-pain" and card.merged == ("house/tender",)
    assert "A tender spot (shin): stop running, get it assessed." in card.detail
    assert len(card.facts) == 2
    assert [s["label"] for s in card.sources] == ["Source A, a paper", "Source B, a handout"]
    assert ev.suppressed[0].suppressed_by == "house/night-pain"


def test_pain_at_two_sites_stays_two_cards(engine: Engine) -> None:
    ev = engine.evaluate_facts(
        [
            {"type": "pain", "site": "shin", "at_night": True},
            {"type": "pain", "site": "foot", "point_tenderness": True},
        ],
        DAY,
    )
    assert [c.topic for c in ev.cards] == ["pain:shin", "pain:foot"]


def test_one_long_run_gives_one_load_card_listing_the_others(engine: Engine) -> None:
    shown, hidden = run(
        engine,
        {
            "type": "training",
            "load_7d_km": 60.0,
            "run_vs_longest_30d_pct": 80.0,
            "days_since_rest": 1,
        },
    )
    assert shown == ["long-run", "small-note"]
    assert hidden["big-week"].advice == "reduce"
    assert hidden["big-week"].suppressed_by == "house/long-run"
    assert "same cause (load-spike)" in hidden["big-week"].suppression


def test_conflicts_with_sets_the_lower_ranked_card_aside_whichever_declares_it(
    engine: Engine,
) -> None:
    shown, hidden = run(
        engine,
        {"type": "training", "load_7d_km": 60.0, "days_since_rest": 1},
        {"type": "athlete", "has_profile": True},
    )
    assert "low-risk" in hidden and hidden["low-risk"].suppressed_by == "house/small-note"
    assert "conflicts with" in hidden["low-risk"].suppression
    assert "small-note" in shown


def test_supersedes_and_one_card_per_worn_pair(engine: Engine) -> None:
    shown, hidden = run(
        engine,
        {
            "type": "shoe",
            "shoe_id": "peg",
            "name": "Pegasus",
            "distance_km": 620.0,
            "share_of_28d_pct": 100.0,
        },
    )
    # "nearly worn" is superseded by "worn", and "worn" joins "all your running is in it"
    assert shown == ["shoe-main-pair"]
    assert hidden["shoe-soon"].suppressed_by == "house/shoe-worn"
    assert "superseded by" in hidden["shoe-soon"].suppression
    assert hidden["shoe-worn"].suppressed_by == "house/shoe-main-pair"


def test_requests_for_data_fold_into_one_card() -> None:
    engine = Engine([parse_pack(PACK, origin="house.yaml")])
    ev = engine.evaluate_facts([{"type": "nutrition", "days_ago": 3}], DAY, athlete="a1")
    [fold] = ev.cards
    assert fold.summary == "What would sharpen this advice: 2 things to add to your records."
    assert "- Add your profile." in fold.detail and "- Add your shoes." in fold.detail
    assert fold.kind == "information-needed" and fold.indicator == "info"
    assert {c.suppressed_by for c in ev.suppressed} == {"stridewise/sharpen-advice"}
    assert fold.merged == ("house/add-profile", "house/add-shoes")


def test_one_day_not_one_days(engine: Engine) -> None:
    ev = engine.evaluate_facts(
        [{"type": "training", "load_7d_km": 60.0, "days_since_rest": 1}], DAY
    )
    assert "Streak of 1 day." in [c.summary for c in ev.all_cards]
    ev = engine.evaluate_facts(
        [{"type": "training", "load_7d_km": 60.0, "days_since_rest": 21}], DAY
    )
    assert "Streak of 21 days." in [c.summary for c in ev.all_cards]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "indicator: critical, advice: stop,",
            "indicator: critical, advice: reduce,",
            "a critical card's advice must be 'stop'",
        ),
        (
            "indicator: info, advice: progress,",
            "indicator: warning, advice: progress,",
            "advice 'progress' belongs on an info card",
        ),
        (
            "supersedes: [shoe-soon]",
            "supersedes: [tender]",
            "'tender' tells the runner to stop: nothing may set it aside",
        ),
        (
            "conflicts_with: [{category: worries}]",
            "conflicts_with: [{indicator: critical}]",
            "nothing may set a red flag aside",
        ),
        ("supersedes: [shoe-soon]", "supersedes: [no-such-rule]", "no rule 'no-such-rule'"),
        (
            'label: "Source B, a handout"',
            'label: "seeds/001_e52c58ad04ae0722.txt (see a doctor)"',
            "is labelled with a file name",
        ),
        ('topic: "shoe:{shoe.shoe_id}"', 'topic: "shoe:{shoe.colour}"', "topic:"),
    ],
)
def test_packs_that_could_break_the_message_are_refused_with_file_and_line(
    old: str, new: str, message: str
) -> None:
    assert old in PACK
    with pytest.raises(RulesetError) as info:
        parse_pack(PACK.replace(old, new, 1), origin="house.yaml")
    assert message in info.value.reason
    assert info.value.file == "house.yaml" and info.value.line


def test_a_card_without_advice_is_refused() -> None:
    with pytest.raises(RulesetError, match="'advice' is a required property"):
        parse_pack(PACK.replace("indicator: info, advice: inform,", "indicator: info,", 1))
