"""What a runner reads from the recurrence-risk, nutrition and footwear packs (issue 7).

Sex-specific wording (the Female Athlete Triad only for women), plain words in summaries,
sources a reader can look up, an honest bone-risk score, a past stress fracture that turns a
load spike into a recurrence warning, and one card per worn pair of shoes. Every case runs
events through the real engine with the shipped packs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

import stridewise
from stridewise.engine.cards import Card
from stridewise.engine.rules import builtin_pack_files, load_pack

DAY = dt.date(2026, 3, 31)
ENGINE = stridewise.build_engine()
MY_PACKS = ("recurrence-risk", "nutrition", "footwear")
PACKS = {p.id: p for p in (load_pack(f) for f in builtin_pack_files()) if p.id in MY_PACKS}
TRIAD_WORDS = re.compile(r"triad|menstrua|menarche|period", re.IGNORECASE)


def profile(**fields: Any) -> dict[str, Any]:
    return {"kind": "profile", "id": "pr", "source": "test", "recorded": "2026-03-01", **fields}


#: A woman with every Triad item recorded and scoring 0.
WOMAN = {
    "sex": "female",
    "birth_year": 1998,
    "height_m": 1.65,
    "weight_kg": 58.0,
    "disordered_eating": "none",
    "weight_loss_pct_month": 0.0,
    "menarche_age_y": 13.0,
    "menses_last_12_months": 12,
    "hormonal_contraception": False,
    "bmd_z_score": 0.2,
}
#: A man with every item of the male bone-health score recorded and scoring 0.
MAN = {
    "sex": "male",
    "birth_year": 1994,
    "height_m": 1.80,
    "weight_kg": 70.0,
    "disordered_eating": "none",
    "bmd_z_score": 0.1,
}

PAST_BSI = {**MAN, "prior_bsi": [{"site": "metatarsal_shaft", "date": "2024-05-01"}]}


def runs(km: float = 8.0, days: int = 70, every: int = 2, today_km: float | None = None) -> list:
    """A steady runner: ``km`` every ``every`` days for ``days`` days, then today's run."""
    out = [
        {
            "kind": "run",
            "id": f"r{n}",
            "source": "test",
            "start": f"{DAY - dt.timedelta(days=n)}T07:00:00+00:00",
            "distance_m": km * 1000,
            "moving_time_s": km * 330,
        }
        for n in range(every, days, every)
    ]
    if today_km:
        out.append(
            {
                "kind": "run",
                "id": "today",
                "source": "test",
                "start": f"{DAY}T07:00:00+00:00",
                "distance_m": today_km * 1000,
                "moving_time_s": today_km * 330,
            }
        )
    return out


def evaluate(events: Iterable[Mapping[str, Any]]) -> tuple[list[Card], list[Card]]:
    """Shown cards and every card that fired (shown or suppressed), as of DAY."""
    history = stridewise.History(stridewise.load_events(events))
    ev = ENGINE.evaluate_facts(history.facts(DAY), DAY)
    shown = list(ev.cards)
    return shown, list(ev.all_cards)


def ids(cards: Iterable[Card]) -> set[str]:
    return {c.rule_id for c in cards}


def mine(cards: Iterable[Card]) -> list[Card]:
    return [c for c in cards if c.ruleset_id in MY_PACKS]


def text(card: Card) -> str:
    return f"{card.summary}\n{card.detail}"


# --- 1. Sex-specific ----------------------------------------------------------------------------


def test_a_woman_gets_the_female_athlete_triad_score() -> None:
    _, every = evaluate([profile(**WOMAN)])
    assert "triad-full-clearance" in ids(every)
    assert not ids(every) & {"male-cra-low", "male-cra-moderate", "male-cra-high"}


def test_a_man_hears_about_energy_and_bone_health_and_never_about_the_triad() -> None:
    _, every = evaluate([profile(**{**MAN, "weight_kg": 58.0})])  # BMI 17.9
    assert "male-cra-moderate" in ids(every) or "male-cra-low" in ids(every)
    assert not any(i.startswith("triad") for i in ids(every))
    low_bmi = [c for c in every if c.ruleset_id == "nutrition" and "body mass index" in c.summary]
    assert low_bmi, ids(every)
    assert "energy" in text(low_bmi[0]) and "bone" in text(low_bmi[0])
    for card in mine(every):
        assert not TRIAD_WORDS.search(text(card)), (card.rule_id, text(card))


def test_a_woman_with_a_low_bmi_is_told_its_triad_band() -> None:
    _, every = evaluate([profile(**{**WOMAN, "weight_kg": 49.0})])  # BMI 18.0
    band = [c for c in every if c.rule_id == "bmi-triad-moderate"]
    assert band and "Triad" in band[0].detail
    assert "bmi-low-moderate" not in ids(every)


@pytest.mark.parametrize("sex", ["other", None])
def test_sex_other_or_unknown_gets_no_triad_and_no_male_score(sex: str | None) -> None:
    person = {**MAN, "sex": sex, "weight_kg": 58.0, "prior_bsi": [{"site": "fibula"}]}
    _, every = evaluate([profile(**person)])
    assert not any(i.startswith(("triad", "male-cra")) for i in ids(every)), ids(every)
    for card in mine(every):
        if card.rule_id in ("sex-unknown", "sex-other"):
            continue  # these two explain why no score is given
        assert not TRIAD_WORDS.search(text(card)), (card.rule_id, text(card))
    assert "bmi-low-moderate" in ids(every)  # the risk factors still show, in neutral words
    assert "prior-bsi" in ids(every)
    expected = "sex-other" if sex == "other" else "sex-unknown"
    assert expected in ids(every)


def test_hormonal_contraception_card_only_for_women() -> None:
    _, every = evaluate([profile(**{**MAN, "hormonal_contraception": True})])
    assert "triad-hormonal-contraception" not in ids(every)
    _, every = evaluate([profile(**{**WOMAN, "hormonal_contraception": True})])
    assert "triad-hormonal-contraception" in ids(every)


def test_a_stale_profile_asks_a_man_about_injuries_not_periods() -> None:
    old = profile(**MAN) | {"recorded": "2024-01-10"}
    _, every = evaluate([old])
    stale = [c for c in every if c.rule_id == "profile-stale"]
    assert stale and not TRIAD_WORDS.search(text(stale[0]))


# --- 2. Plain words -----------------------------------------------------------------------------


def nutrition(**fields: Any) -> dict[str, Any]:
    return {"kind": "nutrition", "id": "n1", "source": "test", "date": "2026-03-29", **fields}


def test_low_energy_availability_is_said_in_plain_words() -> None:
    log = nutrition(energy_intake_kcal=2000, exercise_energy_kcal=800, fat_free_mass_kg=48)
    _, every = evaluate([profile(**WOMAN), log])
    card = next(c for c in every if c.rule_id == "low-energy-availability")
    assert "energy left for your body after training" in card.summary
    assert "FFM" not in card.summary and "kcal/kg" not in card.summary
    assert "25" in card.summary  # the number follows, in plain form
    assert "fat-free mass" in card.detail  # the technical term stays in the detail


def test_vitamin_d_blood_level_is_said_in_plain_words() -> None:
    for serum, rule in ((50.0, "serum-25ohd-low"), (85.0, "serum-25ohd-below-preferred")):
        _, every = evaluate([profile(**WOMAN), nutrition(serum_25ohd_nmol_l=serum)])
        card = next(c for c in every if c.rule_id == rule)
        assert "vitamin D blood level" in card.summary
        assert "25(OH)D" not in card.summary and "25-OH" not in card.summary


def test_body_mass_index_is_explained_once_in_the_summary() -> None:
    _, every = evaluate([profile(**{**WOMAN, "weight_kg": 51.0})])  # BMI 18.7
    card = next(c for c in every if c.rule_id == "bmi-below-19")
    assert card.summary.count("body mass index") == 1
    assert "weight for height" in card.summary


def test_no_summary_in_these_packs_says_1_days() -> None:
    logs = [
        nutrition(energy_intake_kcal=2600, exercise_energy_kcal=500, fat_free_mass_kg=50)
        | {"id": "a", "date": "2026-03-28"},
        nutrition(energy_intake_kcal=2000, exercise_energy_kcal=700, fat_free_mass_kg=50)
        | {"id": "b", "date": "2026-03-29"},
    ]
    _, every = evaluate([profile(**WOMAN), *runs(today_km=12), *logs])
    for card in mine(every):
        assert not re.search(r"(?<![\d.])1 (days|runs|weeks|points)\b", text(card)), text(card)


def test_no_summary_uses_jargon_a_runner_cannot_read() -> None:
    jargon = re.compile(r"FFM|25\(OH\)D|\bCRA\b|\bBSI\b|\bEA\b|\bBMD\b|kcal/kg")
    for pack in PACKS.values():
        cards = [r["then"]["card"] for r in pack.rules if "card" in r["then"]]
        for score in pack.scores.values():
            cards += [b["card"] for b in score["bands"]]
            if "incomplete" in score:
                cards.append(score["incomplete"]["card"])
        for card in cards:
            assert not jargon.search(card["summary"]), (pack.id, card["summary"])


# --- 3. Sources ---------------------------------------------------------------------------------


def test_no_source_is_a_file_name_or_an_internal_brief() -> None:
    for pack in PACKS.values():
        for key, src in pack.sources.items():
            label = src["label"]
            assert "seeds/" not in label and ".txt" not in label, (pack.id, key, label)
            assert "evidence brief" not in label, (pack.id, key, label)


def test_seed_articles_are_cited_by_title_and_publisher_without_a_url() -> None:
    titles = {
        "seed000": 'b:joynz, "What Causes a Stress Fracture?"',
        "seed001": 'Mayo Clinic, "Stress fractures: symptoms and causes"',
        "seed002": 'UW Medicine sports medicine, "Stress fractures in runners',
        "seed003": 'Mobility Physical Therapy, "Stress Fractures: Why Rest Isn\'t Always Enough"',
    }
    for pack in PACKS.values():
        for key, src in pack.sources.items():
            if key in titles:
                assert src["label"].startswith(titles[key]), (pack.id, key)
                assert "url" not in src


@pytest.mark.parametrize(
    ("pack_id", "key", "doi"),
    [
        ("recurrence-risk", "desouza2014", "10.1136/bjsports-2013-093218"),
        ("recurrence-risk", "ioc_reds2023", "10.1136/bjsports-2023-106994"),
        ("recurrence-risk", "wright2015", "10.1136/bjsports-2015-094828"),
        ("recurrence-risk", "kelsey2007", "10.1249/mss.0b013e318074e54b"),
        ("recurrence-risk", "kraus2019", "10.1136/bjsports-2018-099861"),
        ("recurrence-risk", "heiderscheit2011", "10.1249/MSS.0b013e3181ebedf4"),
        ("nutrition", "desouza2014", "10.1136/bjsports-2013-093218"),
        ("nutrition", "ioc_reds2023", "10.1136/bjsports-2023-106994"),
        ("nutrition", "kelsey2007", "10.1249/mss.0b013e318074e54b"),
        ("nutrition", "lappe2008", "10.1359/jbmr.080102"),
    ],
)
def test_thresholds_from_papers_link_to_the_paper(pack_id: str, key: str, doi: str) -> None:
    assert PACKS[pack_id].sources[key]["url"] == f"https://doi.org/{doi}"


def test_every_card_cites_at_least_one_source_a_reader_can_find() -> None:
    _, every = evaluate([profile(**WOMAN), *runs(today_km=20)])
    for card in mine(every):
        assert card.source["label"] and "seeds/" not in card.source["label"]


# --- 4. An honest bone-risk score ---------------------------------------------------------------


def test_a_triad_score_with_most_items_unscored_is_incomplete_not_low_risk() -> None:
    sparse = {"sex": "female", "birth_year": 1998, "height_m": 1.65, "weight_kg": 58.0}
    _, every = evaluate([profile(**sparse)])
    scores = [c for c in every if c.rule_id.startswith(("triad", "triad_cra"))]
    assert "triad-full-clearance" not in ids(every)
    card = next(c for c in scores if "incomplete" in c.summary)
    assert card.advice == "inform" and card.kind == "information-needed"
    assert "not scored" in card.summary
    assert "low risk" not in text(card).lower() and "full clearance" not in text(card).lower()


def test_a_male_score_with_most_items_unscored_is_incomplete_not_low_risk() -> None:
    sparse = {"sex": "male", "birth_year": 1994, "height_m": 1.80, "weight_kg": 70.0}
    _, every = evaluate([profile(**sparse)])
    assert "male-cra-low" not in ids(every)
    card = next(c for c in every if c.rule_id.startswith("male_cra") or "incomplete" in c.summary)
    assert "not scored" in card.summary and "low" not in card.summary.lower()
    assert not TRIAD_WORDS.search(text(card))


def test_a_complete_low_score_reassures() -> None:
    _, every = evaluate([profile(**WOMAN)])
    card = next(c for c in every if c.rule_id == "triad-full-clearance")
    assert card.advice == "reassure"


def pain(**fields: Any) -> dict[str, Any]:
    return {"kind": "pain", "id": "p1", "source": "test", "date": "2026-03-31", **fields}


@pytest.mark.parametrize(
    "report",
    [
        {"site": "tibia_posteromedial", "severity": 3, "with_activity": True, "after_rest": True},
        {"site": "shin", "severity": 2, "worsening": True},
        {"site": "foot", "severity": 3, "point_tenderness": True},
    ],
)
def test_low_risk_never_sits_beside_a_pain_card(report: dict[str, Any]) -> None:
    shown, every = evaluate([profile(**WOMAN), pain(**report)])
    assert "triad-full-clearance" in ids(every)  # it fired ...
    assert any(c.category == "symptoms" and c.indicator != "info" for c in shown)
    assert "triad-full-clearance" not in ids(shown)  # ... but does not show beside pain


def test_low_risk_never_sits_beside_a_pain_question_and_the_question_stays() -> None:
    shown, every = evaluate([profile(**WOMAN), pain(site="shin", severity=2, with_activity=True)])
    asks = [c for c in every if c.category == "symptoms"]
    assert asks and all(c in shown or c.suppressed_by != c.key for c in asks)
    assert not [c for c in asks if c.suppressed_by == "recurrence-risk/triad-full-clearance"]
    assert "triad-full-clearance" not in ids(shown)


def test_low_risk_never_sits_beside_a_recurrence_warning() -> None:
    shown, every = evaluate([profile(**PAST_BSI), *runs(today_km=16)])
    assert "male-cra-low" in ids(every)
    assert "male-cra-low" not in ids(shown)
    assert "prior-bsi-load-spike" in ids(shown)


def test_the_restricted_triad_band_says_stop_and_see_a_physician() -> None:
    high = {**WOMAN, "menses_last_12_months": 3, "bmd_z_score": -2.5, "menarche_age_y": 16.5}
    _, every = evaluate([profile(**high)])
    card = next(c for c in every if c.rule_id == "triad-restricted")
    assert (card.indicator, card.advice) == ("critical", "stop")
    assert "physician" in card.summary


# --- 5. A past stress fracture and a load spike -------------------------------------------------


def test_a_past_stress_fracture_and_a_long_run_spike_is_a_recurrence_warning() -> None:
    shown, every = evaluate([profile(**PAST_BSI), *runs(today_km=16)])
    card = next(c for c in every if c.rule_id == "prior-bsi-load-spike")
    assert (card.indicator, card.advice, card.topic) == ("warning", "reduce", "load-spike")
    assert card.priority >= 80
    assert card in shown
    # the training-load spike cards collapse into it: one load-spike card shows
    assert [c.rule_id for c in shown if c.topic == "load-spike"] == ["prior-bsi-load-spike"]


def test_a_past_stress_fracture_with_steady_training_stays_informational() -> None:
    _, every = evaluate([profile(**PAST_BSI), *runs(today_km=8)])
    assert "prior-bsi" in ids(every)
    assert "prior-bsi-load-spike" not in ids(every)


def test_a_load_spike_without_a_past_stress_fracture_is_no_recurrence_warning() -> None:
    _, every = evaluate([profile(**MAN), *runs(today_km=16)])
    assert "prior-bsi-load-spike" not in ids(every)


# --- 6. One card per cause ----------------------------------------------------------------------


def shoe(sid: str, km: float) -> dict[str, Any]:
    return {
        "kind": "shoe",
        "id": sid,
        "source": "test",
        "name": f"Pair {sid}",
        "start_distance_m": km * 1000,
    }


def test_two_warnings_for_one_worn_pair_become_one_card() -> None:
    events = [shoe("a", 650), *[r | {"shoe_id": "a"} for r in runs(days=28)]]
    shown, every = evaluate(events)
    assert {"shoe-worn", "shoe-worn-main-pair"} <= ids(every)
    worn = [c for c in shown if c.topic == "worn-shoe:a"]
    assert len(worn) == 1
    assert len(worn[0].merged) == 1


def test_two_worn_pairs_are_both_named_and_never_merged_away() -> None:
    events = [shoe("a", 650), shoe("b", 700)]
    events += [r | {"shoe_id": "a" if n % 2 else "b"} for n, r in enumerate(runs(days=28))]
    shown, _ = evaluate(events)
    worn = [c for c in shown if c.rule_id == "shoe-worn"]
    assert len(worn) == 1  # one card per rule, listing every pair it found
    assert {f["shoe"]["shoe_id"] for f in worn[0].facts} == {"a", "b"}
    assert worn[0].topic in ("worn-shoe:a", "worn-shoe:b")


def test_low_cadence_after_a_stress_fracture_shares_the_cadence_topic() -> None:
    slow = [r | {"cadence_spm": 156} for r in runs(days=40)]
    _, every = evaluate([profile(**PAST_BSI), *slow])
    card = next(c for c in every if c.rule_id == "low-cadence-prior-bsi")
    assert card.topic == "cadence"


# --- 7. Advice ----------------------------------------------------------------------------------


def test_see_a_physician_warnings_are_modify_unless_they_say_stop() -> None:
    for pack in PACKS.values():
        cards = [(r["id"], r["then"]["card"]) for r in pack.rules if "card" in r["then"]]
        cards += [(b["id"], b["card"]) for s in pack.scores.values() for b in s["bands"]]
        for rid, card in cards:
            if card["indicator"] == "critical":
                assert card["advice"] == "stop", rid
            if card.get("kind") == "information-needed":
                assert card["advice"] == "inform", rid
            if card["advice"] == "stop":
                assert re.search(r"\bstop\b", card["summary"], re.IGNORECASE), rid
