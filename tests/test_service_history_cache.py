"""The service keeps recently used athletes' History between requests: the cards are always the
ones a History built afresh from the store gives (after uploads, from this process or another,
after erasure, and for a day before the athlete's latest events)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stridewise.engine.events import load_event
from stridewise.engine.facts import History
from stridewise.service.app import Clinic, Service, ServiceError
from stridewise.service.auth import hash_key
from stridewise.service.config import ServiceConfig
from stridewise.storage import open_store

CLINIC = Clinic(id="riverside", profile=None)
START = dt.date(2026, 5, 1)


def run(n: int, km: float = 8.0) -> dict[str, Any]:
    day = START + dt.timedelta(days=n)
    return {
        "kind": "run",
        "id": f"run-{n}",
        "source": "app",
        "start": f"{day.isoformat()}T07:00:00Z",
        "distance_m": km * 1000,
        "moving_time_s": km * 330,
    }


def profile(recorded: dt.date) -> dict[str, Any]:
    return {
        "kind": "profile",
        "id": "me",
        "source": "app",
        "recorded": recorded.isoformat(),
        "sex": "female",
        "birth_year": 1994,
        "prior_bsi": [{"site": "tibia_posteromedial"}],
    }


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    store = open_store(f"sqlite:///{tmp_path / 'service.db'}")
    store.add_clinic(CLINIC.id, hash_key("a key for the tests only"), None)
    svc = Service(ServiceConfig(workers=1), store=store)
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()
        store.close()


def fresh_cards(service: Service, athlete: str, as_of: dt.date) -> list[dict[str, Any]]:
    """What a History built afresh from the store's events up to the day gives."""
    events = service.store.events(CLINIC.id, athlete, until=as_of)
    engine = service.engine(CLINIC)
    evaluation = engine.evaluate_facts(
        History(events).facts(as_of), as_of, athlete=f"{CLINIC.id}/{athlete}"
    )
    return [c.to_dict() for c in evaluation.cards]


def cards(service: Service, athlete: str, as_of: dt.date) -> list[dict[str, Any]]:
    return service.cards(CLINIC, athlete, as_of)[1]["cards"]


def test_cards_after_each_upload_equal_a_history_built_afresh(service: Service) -> None:
    service.put_events(CLINIC, "ann", [run(n) for n in range(40)])
    day = START + dt.timedelta(days=39)
    assert cards(service, "ann", day) == fresh_cards(service, "ann", day)
    assert (
        service.histories.get((CLINIC.id, "ann"), service.store.athlete_version(CLINIC.id, "ann"))
        is not None
    )  # kept
    for n in range(40, 47):  # a sudden spike: the cards change with each upload
        service.put_events(CLINIC, "ann", [run(n, km=25.0)])
        day = START + dt.timedelta(days=n)
        kept = service.histories.get(
            (CLINIC.id, "ann"), service.store.athlete_version(CLINIC.id, "ann")
        )
        assert kept is not None, "the upload through this process moved the kept History along"
        assert cards(service, "ann", day) == fresh_cards(service, "ann", day)
    assert any(c["indicator"] != "info" for c in cards(service, "ann", day))


def test_an_upload_through_another_process_is_seen(service: Service, tmp_path: Path) -> None:
    service.put_events(CLINIC, "bea", [run(n) for n in range(30)])
    day = START + dt.timedelta(days=35)
    before = cards(service, "bea", day)
    other = open_store(f"sqlite:///{tmp_path / 'service.db'}")  # another service process
    try:
        other.put_events(CLINIC.id, "bea", [load_event(run(n, km=30.0)) for n in range(30, 36)])
    finally:
        other.close()
    after = cards(service, "bea", day)
    assert after == fresh_cards(service, "bea", day)
    assert after != before


def test_a_day_before_the_latest_events_reads_the_store_up_to_that_day(service: Service) -> None:
    # the profile is recorded after the runs: cards as of an earlier day must not see it
    service.put_events(CLINIC, "cat", [run(n) for n in range(20)])
    service.put_events(
        CLINIC,
        "cat",
        [
            load_event(profile(START + dt.timedelta(days=25)))
            and profile(START + dt.timedelta(days=25))
        ],
    )
    early = START + dt.timedelta(days=19)
    late = START + dt.timedelta(days=25)
    assert cards(service, "cat", early) == fresh_cards(service, "cat", early)
    assert cards(service, "cat", late) == fresh_cards(service, "cat", late)


def test_an_erased_athlete_is_not_found_even_after_being_kept(service: Service) -> None:
    service.put_events(CLINIC, "dan", [run(n) for n in range(10)])
    cards(service, "dan", START + dt.timedelta(days=9))
    assert service.delete(CLINIC, "dan")
    with pytest.raises(ServiceError) as caught:
        cards(service, "dan", START + dt.timedelta(days=9))
    assert caught.value.status == 404
