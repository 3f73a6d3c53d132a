"""One coherent message from the built-in packs (issue 7, section 1), on real histories.

Each test is named after what a runner saw before the decision step; the property test at the
end generates many athlete histories and checks the invariant on every one of them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stridewise
from stridewise.engine.cards import Card
from stridewise.engine.runtime import Engine, Evaluation

AS_OF = dt.date(2026, 3, 31)
#: Words that tell a runner to go on, progress or relax.
GO_ON_WORDS = re.compile(
    r"low risk|full clearance|all clear|ready for phase|walk-run phase|keep going|"
    r"you can progress|step back to phase|cut back",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return stridewise.build_engine(strict=True)


def evaluate(engine: Engine, events: list[dict[str, Any]], day: dt.date = AS_OF) -> Evaluation:
    history = stridewise.History(stridewise.load_events(events))
    return engine.evaluate_facts(history.facts(day), day, athlete="t")


def run(day: dt.date, km: float, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "run",
        "id": f"run-{day.isoformat()}-{n}",
        "source": "test",
        "start": f"{day.isoformat()}T07:00:00+00:00",
        "distance_m": km * 1000,
        "moving_time_s": km * 330,
        **extra,
    }


def steady_weeks(end: dt.date, weeks: int, pattern: tuple[float, ...]) -> list[dict[str, Any]]:
    """``weeks`` repeating weeks ending at ``end``; ``pattern`` is km Monday..Sunday (0 = rest)."""
    start = end - dt.timedelta(days=7 * weeks - 1)
    events = []
    for i in range(7 * weeks):
        day = start + dt.timedelta(days=i)
        km = pattern[day.weekday()]
        if km:
            events.append(run(day, km, i))
    return events


def check_invariant(ev: Evaluation) -> None:
    """No critical card beside one that says go on, progress, cut back or low risk; no
    critical card lost; nothing set aside without saying by what."""
    shown = ev.cards
    if any(c.indicator == "critical" for c in shown):
        for card in shown:
            assert card.advice not in ("progress", "reassure", "reduce"), card.summary
            assert not GO_ON_WORDS.search(card.summary), card.summary
    keys = {c.key: c for c in shown}
    for card in ev.suppressed:
        assert card.suppressed_by and card.suppression, card.key
        if card.indicator == "critical":
            # a red flag only ever merges into another shown red flag
            assert keys[card.suppressed_by].indicator == "critical", card.key
    fired_critical = {c.key for c in ev.all_cards if c.indicator == "critical"}
    assert fired_critical <= {c.key for c in shown} | {
        k for c in shown if c.indicator == "critical" for k in c.merged
    }


def keys(cards: tuple[Card, ...] | list[Card]) -> list[str]:
    return [c.key for c in cards]


# -- what runners saw ---------------------------------------------------------------------------


def test_night_pain_during_a_return_to_run_is_not_beside_walk_run_steps(engine: Engine) -> None:
    events = [
        {
            "kind": "injury",
            "id": "inj",
            "source": "test",
            "date": "2026-01-10",
            "site": "tibia_posteromedial",
            "cleared": "2026-03-01",
            "imaging_healed": True,
        },
        *[run(dt.date(2026, 3, d), 2.4, d) for d in (3, 5, 7, 9, 11, 13, 15, 17, 19, 21)],
        {
            "kind": "pain",
            "id": "p1",
            "source": "test",
            "date": "2026-03-30",
            "site": "shin",
            "severity": 4,
            "at_night": True,
            "after_rest": True,
        },
    ]
    ev = evaluate(engine, events)
    check_invariant(ev)
    assert ev.cards[0].indicator == "critical" and "physician" in ev.cards[0].summary
    assert not [c for c in ev.cards if c.ruleset_id == "return-to-run" and c.advice != "stop"]
    hidden = {c.rule_id: c for c in ev.suppressed}
    assert any(r.startswith("rtr-") for r in hidden), "the ladder cards fired and were set aside"


def test_groin_pain_is_not_beside_cut_back_or_low_risk(engine: Engine) -> None:
    events = [
        *steady_weeks(AS_OF, 6, (8, 0, 10, 0, 8, 16, 0)),
        {
            "kind": "profile",
            "id": "me",
            "source": "test",
            "recorded": "2026-03-01",
            "sex": "female",
            "birth_year": 1995,
            "height_m": 1.68,
            "weight_kg": 58,
        },
        {
            "kind": "pain",
            "id": "p1",
            "source": "test",
            "date": "2026-03-30",
            "site": "groin",
            "severity": 4,
            "with_activity": True,
        },
    ]
    ev = evaluate(engine, events)
    check_invariant(ev)
    assert ev.cards[0].indicator == "critical"
    for card in ev.cards:
        assert "low risk" not in card.summary.lower()
        assert "full clearance" not in card.summary.lower()


def test_one_long_run_gives_one_load_card(engine: Engine) -> None:
    events = steady_weeks(AS_OF - dt.timedelta(days=1), 6, (8, 0, 10, 0, 8, 14, 0))
    events.append(run(AS_OF, 32.0, 999))
    ev = evaluate(engine, events)
    check_invariant(ev)
    load = [c for c in ev.cards if c.ruleset_id == "training-load" and c.advice == "reduce"]
    assert len(load) == 1, keys(load)
    assert load[0].merged or load[0].topic == "load-spike"


def test_one_worn_pair_gives_one_card(engine: Engine) -> None:
    events = steady_weeks(AS_OF, 6, (8, 0, 10, 0, 8, 16, 0))
    for e in events:
        e["shoe_id"] = "peg"
    events.append(
        {
            "kind": "shoe",
            "id": "peg",
            "source": "test",
            "name": "Pegasus 40",
            "start_distance_m": 560_000,
        }
    )
    ev = evaluate(engine, events)
    shoes = [c for c in ev.cards if c.ruleset_id == "footwear"]
    assert len(shoes) == 1, keys(shoes)


def test_requests_for_data_come_as_one_card(engine: Engine) -> None:
    ev = evaluate(engine, steady_weeks(AS_OF, 6, (8, 0, 10, 0, 8, 16, 0)))
    asks = [c for c in ev.cards if c.kind == "information-needed"]
    assert len(asks) <= 1
    if asks and asks[0].merged:
        assert asks[0].summary.startswith("What would sharpen this advice")


def test_the_top_findings_come_first_and_nothing_is_hidden_silently(engine: Engine) -> None:
    events = [
        *steady_weeks(AS_OF, 6, (8, 0, 10, 0, 8, 16, 0)),
        {
            "kind": "pain",
            "id": "p1",
            "source": "test",
            "date": "2026-03-30",
            "site": "shin",
            "severity": 4,
            "at_night": True,
            "with_activity": True,
        },
    ]
    ev = evaluate(engine, events)
    order = [(c.indicator, -c.priority) for c in ev.cards]
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert order == sorted(order, key=lambda t: (rank[t[0]], t[1]))
    for card in ev.suppressed:
        assert card.to_dict()["suppressed_by"]


# -- the property ----------------------------------------------------------------------------------

SITES = [
    "shin",
    "foot",
    "hip",
    "groin",
    "thigh",
    "ankle",
    "knee",
    "heel",
    "tibia_anterior",
    "tibia_posteromedial",
    "navicular",
    "fibula",
    "metatarsal_shaft",
    "femoral_neck",
]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    days = draw(st.integers(min_value=0, max_value=70))
    start = AS_OF - dt.timedelta(days=days)
    events: list[dict[str, Any]] = []
    weekly = draw(st.lists(st.floats(min_value=0, max_value=30), min_size=7, max_size=7))
    spike = draw(st.floats(min_value=1.0, max_value=3.0))
    shoe = draw(st.booleans())
    for i in range(days + 1):
        day = start + dt.timedelta(days=i)
        km = weekly[day.weekday()] * (spike if i > days - 7 else 1.0)
        if km >= 1:
            extra = {"shoe_id": "s1"} if shoe else {}
            if draw(st.booleans()):
                extra["rpe"] = draw(st.integers(min_value=1, max_value=10))
            events.append(run(day, round(km, 1), i, **extra))
    if shoe:
        events.append(
            {
                "kind": "shoe",
                "id": "s1",
                "source": "t",
                "name": "Pair",
                "start_distance_m": draw(st.integers(0, 900_000)),
            }
        )
    if draw(st.booleans()):
        events.append(
            {
                "kind": "profile",
                "id": "pr",
                "source": "t",
                "recorded": "2026-01-01",
                "sex": draw(st.sampled_from(["female", "male", "other"])),
                "birth_year": draw(st.integers(1960, 2010)),
                "height_m": 1.7,
                "weight_kg": draw(st.integers(40, 90)),
                "prior_bsi": [{"site": draw(st.sampled_from(SITES[4:]))}]
                if draw(st.booleans())
                else [],
            }
        )
    for n in range(draw(st.integers(0, 3))):
        flags = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    k: st.booleans()
                    for k in (
                        "with_activity",
                        "after_rest",
                        "at_rest",
                        "at_night",
                        "swelling",
                        "point_tenderness",
                        "hop_pain",
                        "worsening",
                    )
                },
            )
        )
        events.append(
            {
                "kind": "pain",
                "id": f"p{n}",
                "source": "t",
                "date": (AS_OF - dt.timedelta(days=draw(st.integers(0, 13)))).isoformat(),
                "site": draw(st.sampled_from(SITES)),
                "severity": draw(st.integers(0, 10)),
                **flags,
            }
        )
    if draw(st.booleans()):
        cleared = draw(st.booleans())
        events.append(
            {
                "kind": "injury",
                "id": "inj",
                "source": "t",
                "date": "2026-01-05",
                "site": draw(st.sampled_from(SITES[4:])),
                **({"cleared": "2026-02-20"} if cleared else {}),
            }
        )
    return events


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(events=histories())
@pytest.mark.slow
def test_no_card_set_holds_a_critical_card_beside_go_on_advice(
    events: list[dict[str, Any]],
) -> None:
    check_invariant(evaluate(ENGINE, events))


ENGINE = stridewise.build_engine(strict=True)


def test_the_readme_journal_counts_one_past_fracture_and_shows_one_red_flag_first(
    engine: Engine,
) -> None:
    from pathlib import Path

    from stridewise.adapters.journal import read_journal
    from stridewise.plugins import Skipped

    path = Path(__file__).parent / "data" / "journals" / "return_to_run_night_pain.yaml"
    events = [e for e in read_journal(path) if not isinstance(e, Skipped)]
    assert len(events) == len(list(read_journal(path)))  # nothing in it is skipped
    history = stridewise.History(events)
    ev = engine.evaluate_facts(history.facts(AS_OF), AS_OF, athlete="t")
    athlete = next(f for f in history.facts(AS_OF) if f["type"] == "athlete")
    assert athlete["prior_bsi_count"] == 1  # told in the profile and logged: one fracture
    check_invariant(ev)
    assert [c.indicator for c in ev.cards].count("critical") == 1
    assert ev.cards[0].rule_id == "pain-at-rest-or-night"
    hidden = {c.rule_id for c in ev.suppressed}
    assert {"rtr-step-back", "shoe-worn-main-pair"} <= hidden
    assert any(r.startswith("rtr-phase-") for r in hidden)
