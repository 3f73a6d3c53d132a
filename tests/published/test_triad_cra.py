"""The Female Athlete Triad Cumulative Risk Assessment, row by row and band by band.

De Souza MJ, Nattiv A, Joy E, et al. 2014 Female Athlete Triad Coalition Consensus Statement
on Treatment and Return to Play of the Female Athlete Triad. Br J Sports Med 2014;48:289.
https://bjsm.bmj.com/content/48/4/289 (table 4: cumulative risk assessment; table 5:
clearance: 0-1 full, 2-5 provisional/limited, >= 6 restricted).

The male adaptation without the menstrual items follows Kraus E et al., Br J Sports Med
2019;53:237 (doi:10.1136/bjsports-2018-099861): low energy availability, low BMI, low BMD and
prior bone stress injury. Its cut-offs and bands could not be verified against the paper
(nor Fredericson 2021); stridewise reuses the female cut-offs and scales the bands (0-1 /
2-3 / >= 4), tunable and flagged as such in the cards.

Each case goes through the engine with the shipped ``recurrence-risk`` pack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stridewise.engine.cards import Card
from stridewise.engine.rules import builtin_pack_files, load_pack
from stridewise.engine.runtime import Engine

DAY = dt.date(2026, 3, 31)
PACK = next(p for p in (load_pack(f) for f in builtin_pack_files()) if p.id == "recurrence-risk")
ENGINE = Engine([PACK])

#: A female athlete scoring 0 on every row.
LOW_RISK: dict[str, Any] = {
    "type": "athlete",
    "has_profile": True,
    "sex": "female",
    "age_y": 24,
    "bmi": 21.0,
    "disordered_eating": "none",
    "weight_loss_pct_month": 0.0,
    "menarche_age_y": 13.0,
    "menses_last_12_months": 12,
    "hormonal_contraception": False,
    "bmd_z_score": 0.0,
    "prior_bsi_count": 0,
    "prior_high_risk_bsi": False,
    "prior_trabecular_bsi": False,
    "profile_age_days": 30,
}
TRIAD_BANDS = {"triad-full-clearance", "triad-provisional-clearance", "triad-restricted"}
MALE_BANDS = {"male-cra-low", "male-cra-moderate", "male-cra-high"}


def score_card(facts: list[dict[str, Any]], bands: set[str]) -> Card:
    cards = [c for c in ENGINE.evaluate_facts(facts, DAY).cards if c.rule_id in bands]
    assert len(cards) == 1, [c.rule_id for c in cards]
    return cards[0]


def points(card: Card) -> dict[str, int]:
    return {f["component"]: f["points"] for f in card.facts}


def athlete(**changes: Any) -> dict[str, Any]:
    fact = {**LOW_RISK, **changes}
    return {k: v for k, v in fact.items() if v is not None}


# (row, field changes, expected points). Boundaries as printed in the table.
ROWS = [
    ("energy_intake", {"disordered_eating": "none"}, 0),
    ("energy_intake", {"disordered_eating": "some_restriction"}, 1),
    ("energy_intake", {"disordered_eating": "current_or_past"}, 1),
    ("energy_intake", {"disordered_eating": "diagnosed"}, 2),
    ("body_weight", {"bmi": 18.5}, 0),
    ("body_weight", {"bmi": 18.4}, 1),
    ("body_weight", {"bmi": 17.6}, 1),
    ("body_weight", {"bmi": 17.5}, 2),
    ("body_weight", {"bmi": 16.0}, 2),
    ("body_weight", {"weight_loss_pct_month": 4.9}, 0),
    ("body_weight", {"weight_loss_pct_month": 5.0}, 1),
    ("body_weight", {"weight_loss_pct_month": 9.9}, 1),
    ("body_weight", {"weight_loss_pct_month": 10.0}, 2),
    ("age_at_first_period", {"menarche_age_y": 14.9}, 0),
    ("age_at_first_period", {"menarche_age_y": 15.0}, 1),
    ("age_at_first_period", {"menarche_age_y": 15.9}, 1),
    ("age_at_first_period", {"menarche_age_y": 16.0}, 2),
    ("periods_per_year", {"menses_last_12_months": 10}, 0),
    ("periods_per_year", {"menses_last_12_months": 9}, 1),
    ("periods_per_year", {"menses_last_12_months": 6}, 1),
    ("periods_per_year", {"menses_last_12_months": 5}, 2),
    ("periods_per_year", {"menses_last_12_months": 0}, 2),
    ("bone_density", {"bmd_z_score": -1.0}, 0),
    ("bone_density", {"bmd_z_score": -1.1}, 1),
    ("bone_density", {"bmd_z_score": -1.9}, 1),
    ("bone_density", {"bmd_z_score": -2.0}, 2),
    ("past_stress_fractures", {"prior_bsi_count": 0}, 0),
    ("past_stress_fractures", {"prior_bsi_count": 1}, 1),
    ("past_stress_fractures", {"prior_bsi_count": 2}, 2),
    ("past_stress_fractures", {"prior_bsi_count": 1, "prior_trabecular_bsi": True}, 2),
]


@pytest.mark.parametrize(("row", "changes", "expected"), ROWS)
def test_each_row_of_the_table(row: str, changes: dict[str, Any], expected: int) -> None:
    card = score_card([athlete(**changes)], TRIAD_BANDS)
    got = points(card)
    assert got[row] == expected
    assert sum(got.values()) == card.parameters["score"] == expected  # the other rows score 0


def test_low_intake_on_a_diet_log_counts_as_some_restriction() -> None:
    nutrition = {"type": "nutrition", "log_id": "n", "days_ago": 1}
    low = {**nutrition, "energy_availability_kcal_per_kg_ffm": 25.0}
    card = score_card([athlete(disordered_eating=None), low], TRIAD_BANDS)
    assert points(card)["energy_intake"] == 1
    ok = {**nutrition, "energy_availability_kcal_per_kg_ffm": 40.0}
    card = score_card([athlete(disordered_eating=None), ok], TRIAD_BANDS)
    assert "energy_intake" not in points(card)  # adequate EA is not 'no restriction'


def test_a_row_scores_its_highest_criterion() -> None:
    card = score_card([athlete(bmi=21.0, weight_loss_pct_month=12.0)], TRIAD_BANDS)
    assert points(card)["body_weight"] == 2


@pytest.mark.parametrize(
    ("changes", "total", "band", "indicator"),
    [
        ({}, 0, "triad-full-clearance", "info"),
        ({"bmd_z_score": -1.5}, 1, "triad-full-clearance", "info"),
        (
            {"bmd_z_score": -1.5, "menarche_age_y": 15.0},
            2,
            "triad-provisional-clearance",
            "warning",
        ),
        (
            {"bmd_z_score": -2.5, "menarche_age_y": 16.0, "prior_bsi_count": 1},
            5,
            "triad-provisional-clearance",
            "warning",
        ),
        (
            {"bmd_z_score": -2.5, "menarche_age_y": 16.0, "prior_bsi_count": 2},
            6,
            "triad-restricted",
            "critical",
        ),
        (
            {
                "disordered_eating": "diagnosed",
                "bmi": 17.0,
                "menarche_age_y": 16.5,
                "menses_last_12_months": 2,
                "bmd_z_score": -2.5,
                "prior_bsi_count": 3,
            },
            12,
            "triad-restricted",
            "critical",
        ),
    ],
)
def test_clearance_bands(changes: dict[str, Any], total: int, band: str, indicator: str) -> None:
    card = score_card([athlete(**changes)], TRIAD_BANDS)
    assert card.parameters["score"] == total
    assert (card.rule_id, card.indicator) == (band, indicator)
    assert str(total) in card.summary
    if indicator == "critical":
        assert "physician" in card.summary + card.detail


def test_missing_items_are_listed_not_scored_as_zero() -> None:
    card = score_card([athlete(bmd_z_score=None, menses_last_12_months=None)], TRIAD_BANDS)
    assert set(card.parameters["missing"]) == {"periods_per_year", "bone_density"}
    assert "Not scored (no data)" in card.detail
    assert "periods per year" in card.detail


def test_with_most_items_missing_a_low_total_is_incomplete_not_low_risk() -> None:
    # Three of six items unknown: "Score what is known and say what is missing" (De Souza
    # 2014); a total of 0 then says too little to call the risk low.
    facts = [athlete(bmd_z_score=None, menses_last_12_months=None, disordered_eating=None)]
    every = ENGINE.evaluate_facts(facts, DAY).all_cards  # requests for data fold into one card
    (card,) = [c for c in every if c.rule_id in TRIAD_BANDS | {"triad-cra-incomplete"}]
    assert card.rule_id == "triad-cra-incomplete"
    assert (card.indicator, card.advice, card.kind) == ("info", "inform", "information-needed")
    assert set(card.parameters["missing"]) == {
        "energy_intake",
        "periods_per_year",
        "bone_density",
    }
    assert "not scored" in card.summary and "low risk" not in card.summary


def test_hormonal_contraception_leaves_the_menstrual_item_unscored() -> None:
    card = score_card([athlete(hormonal_contraception=True, menses_last_12_months=3)], TRIAD_BANDS)
    assert "periods_per_year" in card.parameters["missing"]


def test_male_assessment_has_no_menstrual_items() -> None:
    male = athlete(sex="male", menarche_age_y=None, menses_last_12_months=None)
    card = score_card([male], MALE_BANDS)
    assert set(points(card)) == {
        "energy_intake",
        "body_weight",
        "bone_density",
        "past_stress_fractures",
    }
    assert card.rule_id == "male-cra-low"
    assert "could not verify" in card.detail
    facts = ENGINE.evaluate_facts([male], DAY)
    assert not any(c.rule_id in TRIAD_BANDS for c in facts.cards)


@pytest.mark.parametrize(
    ("changes", "total", "band"),
    [
        ({}, 0, "male-cra-low"),
        ({"bmi": 18.0}, 1, "male-cra-low"),
        ({"bmi": 18.0, "bmd_z_score": -1.5}, 2, "male-cra-moderate"),
        ({"bmi": 18.0, "bmd_z_score": -2.2}, 3, "male-cra-moderate"),
        ({"bmi": 17.0, "bmd_z_score": -2.2}, 4, "male-cra-high"),
        (
            {
                "bmi": 17.0,
                "bmd_z_score": -2.2,
                "prior_bsi_count": 2,
                "disordered_eating": "diagnosed",
            },
            8,
            "male-cra-high",
        ),
    ],
)
def test_male_bands(changes: dict[str, Any], total: int, band: str) -> None:
    card = score_card([athlete(sex="male", **changes)], MALE_BANDS)
    assert (card.parameters["score"], card.rule_id) == (total, band)
