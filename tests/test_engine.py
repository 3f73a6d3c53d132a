"""End to end: events -> facts -> rules -> cards, for one date and for a timeline."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

import stridewise
from stridewise import History
from stridewise.adapters.journal import read_journal
from stridewise.engine.events import Event
from stridewise.plugins import Skipped

REPO = Path(__file__).parent.parent
DEMO = REPO / "src" / "stridewise" / "data" / "demo_athlete.yaml"
AS_OF = dt.date(2026, 10, 31)


@pytest.fixture(scope="module")
def demo_events() -> list[Event]:
    items = list(read_journal(DEMO))
    assert not [i for i in items if isinstance(i, Skipped)]
    return [i for i in items if not isinstance(i, Skipped)]


@pytest.fixture(scope="module")
def engine() -> stridewise.Engine:
    return stridewise.build_engine(strict=True)


def test_bundled_demo_is_what_the_generator_makes() -> None:
    import yaml

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from synthetic import demo_journal
    finally:
        sys.path.pop(0)
    assert yaml.safe_load(DEMO.read_text()) == demo_journal()


def test_demo_athlete_gets_sourced_cards_with_their_facts(
    engine: stridewise.Engine, demo_events: list[Event]
) -> None:
    evaluation = engine.evaluate_facts(History(demo_events).facts(AS_OF), AS_OF, athlete="demo")
    cards = engine.evaluate(demo_events, AS_OF, athlete="demo")
    assert cards == list(evaluation.cards)
    by_key = {c.key: c for c in evaluation.all_cards}
    # The lingering, tender shin pain leads: "stop running and see a physician", with the
    # lingering-pain and tender-spot findings listed in it (one card per painful site).
    lead = cards[0]
    assert (lead.ruleset_id, lead.advice) == ("symptoms", "stop")
    assert "physician" in lead.summary + lead.detail
    assert {"symptoms/pain-lingers", "symptoms/point-tenderness"} <= set(lead.merged)
    assert "footwear/shoe-worn" in {c.key for c in cards}
    for card in evaluation.all_cards:
        assert card.source["label"]
        assert len(card.summary) < 140
        assert card.facts, card.key  # no recommendation without the facts that triggered it
        assert card.date == AS_OF
    # The load spike fired, but "stop running" outranks "reduce volume": the spike cards are
    # kept, set aside, naming the card that took their place.
    spikes = [c for c in evaluation.suppressed if c.ruleset_id == "training-load"]
    assert spikes and all(c.suppressed_by == lead.key for c in spikes if c.advice == "reduce")
    shoe = by_key["footwear/shoe-worn"]
    assert shoe.facts[0]["shoe"]["name"] == "Pegasus 40"
    assert shoe.facts[0]["shoe"]["distance_km"] >= 500


def test_as_of_sees_nothing_later(engine: stridewise.Engine, demo_events: list[Event]) -> None:
    earlier = AS_OF - dt.timedelta(days=20)
    keys = {c.key for c in engine.evaluate(demo_events, earlier)}
    assert "symptoms/pain-lingers" not in keys  # the pain report is dated later
    assert "training-load/acwr-spike" not in keys


def test_red_flag_is_critical_and_sends_to_a_physician(
    engine: stridewise.Engine, demo_events: list[Event]
) -> None:
    night = stridewise.load_event(
        {
            "kind": "pain",
            "id": "p-night",
            "source": "test",
            "date": AS_OF.isoformat(),
            "site": "shin",
            "severity": 6,
            "at_night": True,
        }
    )
    cards = engine.evaluate([*demo_events, night], AS_OF)
    assert cards[0].indicator == "critical"
    assert "physician" in (cards[0].summary + cards[0].detail).lower()


def test_timeline_matches_day_by_day_evaluation(
    engine: stridewise.Engine, demo_events: list[Event]
) -> None:
    history = stridewise.History(demo_events)
    start = AS_OF - dt.timedelta(days=40)
    replay = dict(engine.timeline(history, start, AS_OF))
    assert len(replay) == 41
    for day in (start, AS_OF - dt.timedelta(days=7), AS_OF):
        single = engine.evaluate(stridewise.History(demo_events), day)
        assert [c.to_dict() for c in replay[day]] == [c.to_dict() for c in single]


def test_card_uuids_are_deterministic(engine: stridewise.Engine, demo_events: list[Event]) -> None:
    a = engine.evaluate(demo_events, AS_OF, athlete="x")
    b = engine.evaluate(demo_events, AS_OF, athlete="x")
    c = engine.evaluate(demo_events, AS_OF, athlete="y")
    assert [x.uuid for x in a] == [x.uuid for x in b]
    assert {x.uuid for x in a}.isdisjoint({x.uuid for x in c})


def test_empty_history_gives_no_findings(engine: stridewise.Engine) -> None:
    cards = engine.evaluate([], AS_OF)
    assert all(c.indicator != "critical" for c in cards)
    assert not [c for c in cards if c.kind == "finding" and c.indicator == "warning"]


def test_card_uuid_is_a_standard_uuid5() -> None:
    import uuid

    from stridewise.engine.cards import _NAMESPACE, card_uuid

    day = dt.date(2026, 3, 1)
    for athlete in ("x", "athlete-42", "ü"):
        expected = uuid.uuid5(_NAMESPACE, f"{athlete}|training-load/acwr-spike|2026-03-01")
        assert card_uuid(athlete, "training-load/acwr-spike", day) == str(expected)


def test_no_load_ratio_against_an_empty_chronic_window(engine: stridewise.Engine) -> None:
    def run(day: str, km: float) -> Event:
        return stridewise.load_event(
            {
                "kind": "run",
                "id": f"r{day}",
                "source": "t",
                "start": f"{day}T07:00:00Z",
                "distance_m": km * 1000,
                "moving_time_s": km * 330,
            }
        )

    old = [run(f"2023-01-{d:02d}", 8) for d in range(1, 29)]
    comeback = run("2026-03-01", 6)
    history = stridewise.History([*old, comeback])
    (training,) = [f for f in history.facts(dt.date(2026, 3, 1)) if f["type"] == "training"]
    assert training["enough_history"] is True and training["load_7d_km"] == 6.0
    assert not {"acwr_ewma", "acwr_rolling", "acwr_uncoupled"} & set(training)
    keys = {c.key for c in engine.evaluate(history, dt.date(2026, 3, 1))}
    assert not {k for k in keys if "acwr" in k}
    # Two weeks later, with running in the chronic window again, the ratio is back.
    back = [run(f"2026-03-{d:02d}", 6) for d in range(2, 16)]
    later = stridewise.History([*old, comeback, *back])
    (training,) = [f for f in later.facts(dt.date(2026, 3, 15)) if f["type"] == "training"]
    assert "acwr_ewma" in training
