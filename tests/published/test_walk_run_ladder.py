"""The walk-run ladder as published, and as the return-to-run pack presents and drives it.

Standard return-to-run program, table 1 of: The effectiveness of telehealth gait retraining in
addition to standard physical therapy treatment for overuse knee injuries in soldiers: a
protocol for a randomized clinical trial. Trials 2023. doi:10.1186/s13063-023-07502-x
(https://trialsjournal.biomedcentral.com/articles/10.1186/s13063-023-07502-x/tables/1)

    phase  RPE   walk   run          distance
    1      3/10  2 min  3 min        1.0 mile
    2      3/10  2 min  3 min        1.5 miles
    3      4/10  2 min  4 min        1.5 miles
    4      4/10  2 min  4 min        2.0 miles
    5      5/10  1 min  4 min        2.0 miles
    6      5/10  0 min  all minutes  2.0 miles

Notes to the table: at least one day of rest between runs; try each phase at least twice
before progressing; with swelling, stiffness or more pain during or after running, do not
progress. The step back when pain lasts more than 24 hours comes from the stridewise evidence
brief (domain.md), not from this table. After the ladder: seed 002's build-up (a third to a
half of the usual distance, alternate days, at most +10% a week).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stridewise.engine.events import Event, load_event
from stridewise.engine.facts import LADDER_PHASES, LADDER_SESSIONS_PER_PHASE, History
from stridewise.engine.rules import builtin_pack_files, load_pack
from stridewise.engine.runtime import Engine, Evaluation

PUBLISHED = [
    # phase, RPE, walk, run, miles
    (1, 3, "2 min", "3 min", 1.0),
    (2, 3, "2 min", "3 min", 1.5),
    (3, 4, "2 min", "4 min", 1.5),
    (4, 4, "2 min", "4 min", 2.0),
    (5, 5, "1 min", "4 min", 2.0),
    (6, 5, "0 min", "continuous", 2.0),
]
PACK = next(p for p in (load_pack(f) for f in builtin_pack_files()) if p.id == "return-to-run")
ENGINE = Engine([PACK])
DIAGNOSED = dt.date(2026, 3, 1)
CLEARED = dt.date(2026, 4, 20)


def phase_card(phase: int) -> Any:
    fact = {
        "type": "injury",
        "injury_id": "i",
        "site": "fibula",
        "high_risk_site": False,
        "latest": True,
        "cleared": True,
        "days_since_cleared": 10,
        "runs_since_cleared": 3,
        "ladder_phase": phase,
        "ladder_sessions_in_phase": 1,
        "ladder_complete": False,
        "ladder_last_action": "session",
        "ladder_action_days_ago": 1,
    }
    cards = [
        c
        for c in ENGINE.evaluate_facts([fact], CLEARED).cards
        if c.rule_id.startswith("rtr-phase-")
    ]
    assert [c.rule_id for c in cards] == [f"rtr-phase-{phase}"]
    return cards[0]


def test_the_ladder_has_six_phases_each_done_twice() -> None:
    assert LADDER_PHASES == len(PUBLISHED) == 6
    assert LADDER_SESSIONS_PER_PHASE == 2
    assert {f"rtr-phase-{p}" for p, *_ in PUBLISHED} <= set(PACK.rule_ids)


@pytest.mark.parametrize(("phase", "rpe", "walk", "run", "miles"), PUBLISHED)
def test_each_phase_card_states_the_published_prescription(
    phase: int, rpe: int, walk: str, run: str, miles: float
) -> None:
    card = phase_card(phase)
    km = round(miles * 1.609344, 1)
    unit = "mile" if miles == 1 else "miles"
    assert f"phase {phase} of 6" in card.summary
    assert f"effort {rpe}/10" in card.summary
    assert f"{miles:.1f} {unit} ({km} km)" in card.summary
    if run == "continuous":
        assert "run continuously" in card.summary
    else:
        assert f"walk {walk}, run {run}" in card.summary
    detail = " ".join(card.detail.split())
    assert f"effort {rpe}/10, walk interval {walk}, run interval {run}" in detail
    for rule in ("at least twice", "rest day between runs", "do not progress", "step back"):
        assert rule in detail
    assert card.source["url"].endswith("s13063-023-07502-x/tables/1")


# -- the ladder driven by events -------------------------------------------------------------


def injury() -> Event:
    return load_event(
        {
            "kind": "injury",
            "id": "inj",
            "source": "test",
            "date": DIAGNOSED.isoformat(),
            "site": "tibia_posteromedial",
            "cleared": CLEARED.isoformat(),
        }
    )


def run_on(day: dt.date, km: float = 2.4) -> Event:
    return load_event(
        {
            "kind": "run",
            "id": f"run-{day}",
            "source": "test",
            "start": f"{day}T07:00:00+00:00",
            "distance_m": km * 1000,
        }
    )


def pain_on(day: dt.date, **flags: Any) -> Event:
    return load_event(
        {
            "kind": "pain",
            "id": f"pain-{day}",
            "source": "test",
            "date": day.isoformat(),
            "site": "shin",
            "severity": 2,
            "with_activity": True,
            **flags,
        }
    )


def evaluate(events: list[Event], day: dt.date) -> Evaluation:
    return ENGINE.evaluate_facts(History(events).facts(day), day)


def phase_shown(ev: Evaluation) -> int | None:
    phases = [
        int(c.rule_id.rsplit("-", 1)[1]) for c in ev.cards if c.rule_id.startswith("rtr-phase-")
    ]
    assert len(phases) <= 1
    return phases[0] if phases else None


def test_clean_sessions_on_alternate_days_climb_one_phase_every_two_sessions() -> None:
    events = [injury()]
    for k in range(1, 2 * LADDER_PHASES + 1):
        day = CLEARED + dt.timedelta(days=2 * k - 1)
        events.append(run_on(day))
        ev = evaluate(events, day + dt.timedelta(days=1))
        keys = {c.rule_id for c in ev.cards}
        assert "rtr-back-to-back" not in keys
        if k < 2 * LADDER_PHASES:
            assert phase_shown(ev) == k // 2 + 1, k  # the phase of the *next* session
        else:
            assert phase_shown(ev) is None
            assert "rtr-after-ladder" in keys


def test_pain_after_a_session_holds_the_phase() -> None:
    days = [CLEARED + dt.timedelta(days=d) for d in (1, 3, 5)]
    events = [injury(), *(run_on(d) for d in days), pain_on(days[-1])]
    ev = evaluate(events, days[-1] + dt.timedelta(days=1))
    # Phase 1 twice, then phase 2 once, but that session hurt: phase 2 again, 0 clean sessions.
    assert phase_shown(ev) == 2
    assert "rtr-hold" in {c.rule_id for c in ev.cards}
    fact = next(f for f in History(events).facts(days[-1]) if f["type"] == "injury")
    assert fact["ladder_sessions_in_phase"] == 0


def test_pain_that_lingers_steps_back_a_phase() -> None:
    days = [CLEARED + dt.timedelta(days=d) for d in (1, 3, 5, 7, 9)]
    lingering = pain_on(days[-1] + dt.timedelta(days=1), after_rest=True)
    events = [injury(), *(run_on(d) for d in days), lingering]
    ev = evaluate(events, days[-1] + dt.timedelta(days=1))
    # Sessions: phase 1, 1, 2, 2, 3; pain the next day after rest: back to phase 2.
    assert phase_shown(ev) == 2
    assert "rtr-step-back" in {c.rule_id for c in ev.cards}


def test_runs_on_consecutive_days_are_flagged() -> None:
    days = [CLEARED + dt.timedelta(days=d) for d in (1, 2)]
    ev = evaluate([injury(), *(run_on(d) for d in days)], days[-1])
    assert "rtr-back-to-back" in {c.rule_id for c in ev.cards}


def test_after_the_ladder_seed_002_takes_over() -> None:
    before = [run_on(DIAGNOSED - dt.timedelta(days=d), km=9.0) for d in (3, 6, 10, 13, 17, 20)]
    sessions = [CLEARED + dt.timedelta(days=2 * k - 1) for k in range(1, 13)]
    first_real = sessions[-1] + dt.timedelta(days=2)
    events = [injury(), *before, *(run_on(d) for d in sessions), run_on(first_real, km=7.0)]
    ev = evaluate(events, first_real)
    keys = {c.rule_id for c in ev.cards}
    assert {"rtr-after-ladder", "rtr-run-too-long"} <= keys
    guidance = next(c for c in ev.cards if c.rule_id == "rtr-after-ladder")
    assert "third" in guidance.summary and "half" in guidance.summary
    assert "alternate days" in guidance.summary and "+10% a week" in guidance.summary
    too_long = next(c for c in ev.cards if c.rule_id == "rtr-run-too-long")
    assert too_long.facts[0]["injury"]["last_run_vs_usual_pct"] == pytest.approx(
        7.0 / 9.0 * 100, abs=0.1
    )
