"""The service store gives the same guarantees on SQLite and on a real PostgreSQL server.

Every test here runs on both backends: the SQLite run is a plain test (tox envs py311/py312),
the PostgreSQL run is marked ``postgres`` (tox env ``postgres``) and uses a throwaway server
started by ``tests/pgserver.py``, a fresh database per test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridewise.adapters.journal import read_journal
from stridewise.engine.events import Event, Run, dump_stored_event, load_event
from stridewise.plugins import Skipped
from stridewise.storage import (
    ClinicRow,
    PutResult,
    ServiceStore,
    StorageError,
    content_id,
    hash_key,
    migrations,
    open_store,
    redact_url,
)
from stridewise.storage.base import SQLStore

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent
KEY_A = "sk_clinic_a_0123456789"
KEY_B = "sk_clinic_b_9876543210"
AT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
ALL_VERSIONS = [m.version for m in migrations.MIGRATIONS]


def counts(result: PutResult) -> tuple[int, int, int]:
    return result.added, result.already_stored, result.updated


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/service.sqlite3"
    pg_url: str = request.getfixturevalue("pg_url")
    return pg_url


@pytest.fixture(params=[0, 50], ids=["uncached", "cached"])
def store(url: str, request: pytest.FixtureRequest) -> Iterator[ServiceStore]:
    """The store, without and with its cache of athletes' events (every store test runs on
    both: the cache must never change an answer)."""
    with open_store(url, cache_athletes=request.param) as s:
        s.add_clinic("clinic-a", hash_key(KEY_A), {"profile": "sports-medicine"})
        s.add_clinic("clinic-b", hash_key(KEY_B), "default")
        yield s


def run(n: int, km: float = 8.0, *, event_id: str | None = None) -> Run:
    day = dt.datetime(2026, 1, 1, 6, 30, tzinfo=dt.UTC) + dt.timedelta(days=n)
    event = load_event(
        {
            "kind": "run",
            "id": event_id or f"run-{n}",
            "source": "watch",
            "start": day.isoformat(),
            "distance_m": km * 1000,
            "moving_time_s": km * 330,
        }
    )
    assert isinstance(event, Run)
    return event


def runs(count: int, first: int = 0) -> list[Event]:
    return [run(n) for n in range(first, first + count)]


def every_kind() -> list[Event]:
    """A real athlete's mix: the bundled demo athlete, the return-to-run journal (injury,
    pain report, profile, shoes, nutrition) and a cross-training session."""
    events: list[Event] = []
    for path in (
        REPO / "src/stridewise/data/demo_athlete.yaml",
        DATA / "journals/return_to_run_night_pain.yaml",
    ):
        events += [e for e in read_journal(path) if not isinstance(e, Skipped)]
    events.append(
        load_event(
            {
                "kind": "cross_training",
                "id": "swim-1",
                "source": "watch",
                "sport": "swim",
                "start": "2026-10-02T18:00:00+02:00",
                "duration_s": 2400,
            }
        )
    )
    return events


def raw_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from the database, past the store (what an intruder would read)."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url[len("sqlite:///") :])
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("SET search_path TO stridewise")
        return pg.execute(sql).fetchall()


def raw_execute(url: str, *statements: str) -> None:
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            for s in statements:
                conn.execute(s)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("CREATE SCHEMA IF NOT EXISTS stridewise")
        pg.execute("SET search_path TO stridewise")
        for s in statements:
            pg.execute(s)


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_batch_posted_twice_is_stored_once(store: ServiceStore) -> None:
    batch = every_kind()
    first = store.put_events("clinic-a", "ath-1", batch)
    again = store.put_events("clinic-a", "ath-1", batch)
    assert counts(first) == (len(batch), 0, 0)
    assert counts(again) == (0, len(batch), 0)
    assert again.version == first.version == store.athlete_version("clinic-a", "ath-1")
    assert sorted(store.events("clinic-a", "ath-1"), key=lambda e: e.id) == sorted(
        batch, key=lambda e: e.id
    )


def test_stored_events_come_back_equal_to_what_was_posted_in_day_order(
    store: ServiceStore,
) -> None:
    batch = every_kind()
    store.put_events("clinic-a", "ath-1", reversed(batch))
    back = store.events("clinic-a", "ath-1")
    assert set(back) == set(batch)
    assert len(back) == len(batch)
    assert [e.day for e in back] == sorted(e.day for e in batch)


def test_a_run_sent_again_with_corrected_content_replaces_the_stored_one(
    store: ServiceStore,
) -> None:
    store.put_events("clinic-a", "ath-1", [run(1, 8.0), run(2, 9.0)])
    result = store.put_events("clinic-a", "ath-1", [run(1, 10.0), run(2, 9.0), run(3)])
    assert counts(result) == (1, 1, 1)
    by_id = {e.id: e for e in store.events("clinic-a", "ath-1")}
    assert isinstance(by_id["run-1"], Run)
    assert by_id["run-1"].distance_m == 10_000.0
    assert len(by_id) == 3


def test_the_athlete_version_changes_with_every_change_and_is_never_given_twice(
    store: ServiceStore,
) -> None:
    assert store.athlete_version("clinic-a", "ath-1") is None
    v1 = store.put_events("clinic-a", "ath-1", runs(3)).version
    assert v1 is not None and store.athlete_version("clinic-a", "ath-1") == v1
    assert store.put_events("clinic-a", "ath-1", runs(3)).version == v1  # nothing changed
    store.record_feedback("clinic-a", "ath-1", "svc", "u-1", "accepted", None, AT)
    assert store.athlete_version("clinic-a", "ath-1") == v1  # feedback is not an event
    v2 = store.put_events("clinic-a", "ath-1", [run(1, 12.0)]).version  # a corrected run
    v3 = store.put_events("clinic-a", "ath-1", [run(7)]).version  # a new one
    assert v2 is not None and v3 is not None and v1 < v2 < v3
    other = store.put_events("clinic-b", "ath-1", runs(1)).version
    assert other not in (v1, v2, v3)
    store.delete_athlete("clinic-a", "ath-1")
    assert store.athlete_version("clinic-a", "ath-1") is None
    again = store.put_events("clinic-a", "ath-1", runs(3)).version
    assert again is not None and again not in (v1, v2, v3)  # a cache of the old one is stale


def test_a_put_says_which_version_it_started_from(store: ServiceStore) -> None:
    """What a cache of the athlete needs to apply the batch itself: the version just before."""
    first = store.put_events("clinic-a", "ath-1", runs(3))
    assert first.previous_version is None  # nothing was stored
    second = store.put_events("clinic-a", "ath-1", [run(7)])
    assert second.previous_version == first.version
    assert second.version is not None and second.version != first.version
    same = store.put_events("clinic-a", "ath-1", [run(7)])
    assert same.previous_version == same.version == second.version  # nothing changed


_examples = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 12), st.sampled_from([5.0, 8.0, 12.0])), max_size=8),
        max_size=5,
    )
)
def test_any_sequence_of_batches_stores_each_event_once_with_its_latest_content(
    store: ServiceStore, batches: list[list[tuple[int, float]]]
) -> None:
    athlete = f"h-{next(_examples)}"  # one store per test, a fresh athlete per example
    model: dict[str, float] = {}
    for batch in batches:
        latest: dict[str, float] = {}
        repeats = 0
        for n, km in batch:
            repeats += f"run-{n}" in latest
            latest[f"run-{n}"] = km
        added = sum(i not in model for i in latest)
        updated = sum(i in model and model[i] != km for i, km in latest.items())
        result = store.put_events("clinic-a", athlete, [run(n, km) for n, km in batch])
        assert counts(result) == (added, len(latest) - added - updated + repeats, updated)
        model.update(latest)
    stored = {e.id: e for e in store.events("clinic-a", athlete)}
    assert {i: e.distance_m / 1000 for i, e in stored.items() if isinstance(e, Run)} == model


def test_a_cached_store_sees_what_another_process_wrote_or_erased(
    store: ServiceStore, url: str
) -> None:
    cached = open_store(url, cache_athletes=10)
    try:
        cached.put_events("clinic-a", "ath-1", runs(3))
        assert len(cached.events("clinic-a", "ath-1")) == 3  # read: now in its cache
        store.put_events("clinic-a", "ath-1", [run(1, 21.1), run(5)])  # another writer
        by_id = {e.id: e for e in cached.events("clinic-a", "ath-1")}
        assert len(by_id) == 4 and isinstance(by_id["run-1"], Run)
        assert by_id["run-1"].distance_m == 21_100.0
        store.delete_athlete("clinic-a", "ath-1")
        assert cached.events("clinic-a", "ath-1") == []
        store.put_events("clinic-a", "ath-1", runs(2, first=50))  # made again: new version
        assert [e.id for e in cached.events("clinic-a", "ath-1")] == ["run-50", "run-51"]
        # its own writes keep its copy current, in the order the database gives
        cached.put_events("clinic-a", "ath-1", [run(40), run(50, 9.9), run(60)])
        uncached = open_store(url)
        try:
            assert cached.events("clinic-a", "ath-1") == uncached.events("clinic-a", "ath-1")
            until = dt.date(2026, 2, 20)
            assert cached.events("clinic-a", "ath-1", until=until) == uncached.events(
                "clinic-a", "ath-1", until=until
            )
        finally:
            uncached.close()
    finally:
        cached.close()


def test_a_cache_keeps_only_the_most_recently_read_athletes(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.sqlite3", cache_athletes=2) as s:
        s.add_clinic("c", hash_key("k"), {})
        for a in ("a", "b", "c"):
            s.put_events("c", a, runs(2))
            s.events("c", a)
        cache = s._cache  # type: ignore[attr-defined]
        assert list(cache._items) == [("c", "b"), ("c", "c")]
        s.events("c", "b")
        assert list(cache._items) == [("c", "c"), ("c", "b")]


def test_an_event_repeated_inside_one_batch_is_stored_once(store: ServiceStore) -> None:
    result = store.put_events("clinic-a", "ath-1", [run(1), run(2), run(1)])
    assert counts(result) == (2, 1, 0)
    assert len(store.events("clinic-a", "ath-1")) == 2


def test_an_empty_batch_stores_nothing_and_makes_no_athlete(store: ServiceStore) -> None:
    assert store.put_events("clinic-a", "ath-1", []) == PutResult(0, 0, 0, None)
    assert store.athletes("clinic-a") == []


def test_an_event_without_an_id_gets_the_same_content_id_each_time() -> None:
    data = {"kind": "run", "source": "app", "start": "2026-01-01T06:00:00Z", "distance_m": 5000}
    assert content_id(data) == content_id(dict(reversed(list(data.items()))))
    assert content_id(data).startswith("app:")
    assert content_id({**data, "distance_m": 5001}) != content_id(data)
    assert content_id({**data, "id": "given-7"}) == "given-7"


def _put_batches(url: str, batches: list[list[Event]], barrier: Any, out: Any) -> None:
    with open_store(url) as s:
        barrier.wait()
        added = sum(s.put_events("clinic-a", "ath-1", b).added for b in batches)
    out.put(added)


@pytest.mark.slow
def test_two_processes_posting_the_same_batches_at_once_store_each_event_once(
    store: ServiceStore, url: str
) -> None:
    # 300 runs in 30 overlapping batches of 20 (each run in two batches), in both processes.
    batches = [runs(20, first) for first in range(0, 300, 10)]
    ctx = multiprocessing.get_context("spawn")  # not fork: see the test below
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_put_batches, args=(url, order, barrier, out))
        for order in (batches, batches[::-1])
    ]
    for p in procs:
        p.start()
    added = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sum(added) == 310  # runs 0..309, each reported added by exactly one writer
    assert len(store.events("clinic-a", "ath-1")) == 310


def test_threads_writing_to_different_athletes_at_once_all_land(store: ServiceStore) -> None:
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for b in range(5):
                store.put_events("clinic-a", f"ath-{k}", runs(10, first=b * 10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert store.athletes("clinic-a") == ["ath-0", "ath-1", "ath-2", "ath-3"]
    assert {len(store.events("clinic-a", f"ath-{k}")) for k in range(4)} == {50}


# -- all or nothing ----------------------------------------------------------------------------


def _refuse_event(url: str, event_id: str) -> None:
    """A trigger that makes the database itself fail on one event's insert: the batch is then
    half-written inside its transaction when the failure comes."""
    if url.startswith("sqlite:"):
        raw_execute(
            url,
            "CREATE TRIGGER refuse BEFORE INSERT ON events "
            f"WHEN NEW.event_id = '{event_id}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END",
        )
    else:
        raw_execute(
            url,
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()",
        )


def test_a_batch_that_fails_half_way_leaves_nothing_of_it_stored(
    store: ServiceStore, url: str
) -> None:
    _refuse_event(url, "run-7")
    batch = runs(10)  # run-0 .. run-6 are inserted before run-7 fails
    with pytest.raises(StorageError) as err:
        store.put_events("clinic-a", "ath-new", batch)
    assert store.url in str(err.value)
    assert "refused by test" in str(err.value)
    assert store.events("clinic-a", "ath-new") == []
    assert store.athletes("clinic-a") == []  # not even the athlete
    with pytest.raises(StorageError, match="refused by test"):  # a long batch (an import)
        store.put_events("clinic-a", "ath-new", runs(300))
    assert store.athletes("clinic-a") == []
    # an athlete with a history keeps it as it was
    store.put_events("clinic-a", "ath-1", runs(3, first=20))
    with pytest.raises(StorageError):
        store.put_events("clinic-a", "ath-1", [run(21, 30.0), *batch])
    assert store.events("clinic-a", "ath-1") == runs(3, first=20)


def test_a_batch_with_something_that_is_not_an_event_stores_nothing(
    store: ServiceStore,
) -> None:
    batch: list[Any] = [run(1), {"kind": "run", "id": "raw dict"}, run(2)]
    with pytest.raises(StorageError, match="event 1: refusing to store dict"):
        store.put_events("clinic-a", "ath-1", batch)
    assert store.events("clinic-a", "ath-1") == []


def test_an_overlong_event_id_is_refused_with_its_index(store: ServiceStore) -> None:
    with pytest.raises(StorageError, match="event 1: id must be a text of 1 to 200"):
        store.put_events("clinic-a", "ath-1", [run(1), dataclasses.replace(run(2), id="x" * 201)])
    assert store.athletes("clinic-a") == []


# -- clinics -----------------------------------------------------------------------------------


def test_a_clinic_never_reads_another_clinics_athlete_of_the_same_id(
    store: ServiceStore,
) -> None:
    store.put_events("clinic-a", "ath-1", runs(3))
    store.put_events("clinic-b", "ath-1", runs(2, first=100))
    assert {e.id for e in store.events("clinic-a", "ath-1")} == {"run-0", "run-1", "run-2"}
    assert {e.id for e in store.events("clinic-b", "ath-1")} == {"run-100", "run-101"}
    assert store.events("clinic-b", "ath-2") == []
    assert store.has_athlete("clinic-a", "ath-1") and not store.has_athlete("clinic-b", "ath-2")
    store.put_events("clinic-a", "only-a", runs(1))
    assert store.athletes("clinic-b") == ["ath-1"]
    assert not store.has_athlete("clinic-b", "only-a")
    assert store.delete_athlete("clinic-b", "only-a") is False
    assert len(store.events("clinic-a", "only-a")) == 1
    assert store.delete_athlete("clinic-b", "ath-1") is True
    assert len(store.events("clinic-a", "ath-1")) == 3


def test_an_unknown_clinic_cannot_store_anything(store: ServiceStore) -> None:
    with pytest.raises(StorageError, match="unknown clinic 'clinic-x'"):
        store.put_events("clinic-x", "ath-1", runs(1))
    with pytest.raises(StorageError, match="unknown clinic 'clinic-x'"):
        store.record_feedback("clinic-x", "ath-1", "svc", "u-1", "accepted", None, AT)


def test_an_api_key_finds_its_clinic_and_profile_by_its_hash(store: ServiceStore) -> None:
    assert store.clinic_for_key(hash_key(KEY_A)) == ClinicRow(
        "clinic-a", {"profile": "sports-medicine"}
    )
    assert store.clinic_for_key(hash_key(KEY_B)) == ClinicRow("clinic-b", "default")
    assert store.clinic_for_key(hash_key("sk_guessed")) is None
    # a second key for a clinic, a new profile, then the first key revoked
    store.add_clinic("clinic-a", hash_key("sk_second"), {"profile": "general"})
    assert store.clinic_for_key(hash_key(KEY_A)) == ClinicRow("clinic-a", {"profile": "general"})
    assert store.revoke_key(hash_key(KEY_A)) is True
    assert store.revoke_key(hash_key(KEY_A)) is False
    assert store.clinic_for_key(hash_key(KEY_A)) is None
    assert store.clinic_for_key(hash_key("sk_second")) == ClinicRow(
        "clinic-a", {"profile": "general"}
    )


def test_keys_are_stored_only_as_hashes_never_the_key(store: ServiceStore, url: str) -> None:
    with pytest.raises(StorageError, match="never the key itself"):
        store.add_clinic("clinic-c", "sk_raw_key_by_mistake", {})
    with pytest.raises(StorageError, match="never the key itself"):
        store.add_clinic("clinic-c", hash_key("k").upper(), {})
    everything = [
        str(row)
        for table in sorted(migrations.TABLES - {"version_counter"})  # (SQLite's; one number)
        for row in raw_rows(url, f"SELECT * FROM {table}")
    ]
    dump = "\n".join(everything)
    assert hash_key(KEY_A) in dump
    assert KEY_A not in dump and KEY_B not in dump
    assert "sk_raw_key_by_mistake" not in dump


def test_a_key_of_one_clinic_cannot_be_given_to_another(store: ServiceStore) -> None:
    with pytest.raises(StorageError, match="already belongs to another clinic"):
        store.add_clinic("clinic-b", hash_key(KEY_A), "default")
    assert store.clinic_for_key(hash_key(KEY_A)) == ClinicRow(
        "clinic-a", {"profile": "sports-medicine"}
    )
    store.add_clinic("clinic-a", hash_key(KEY_A), {"profile": "sports-medicine"})  # again: fine


# -- erasure and feedback ----------------------------------------------------------------------


def test_deleting_an_athlete_erases_their_events_and_feedback_and_nothing_else(
    store: ServiceStore, url: str
) -> None:
    store.put_events("clinic-a", "ath-1", every_kind())
    store.put_events("clinic-a", "ath-2", runs(2))
    store.record_feedback("clinic-a", "ath-1", "stridewise", "u-1", "accepted", None, AT)
    store.record_feedback("clinic-a", "ath-1", "stridewise", "u-2", "overridden", "seen", AT)
    store.record_feedback("clinic-a", "ath-2", "stridewise", "u-3", "accepted", None, AT)
    assert store.delete_athlete("clinic-a", "ath-1") is True
    assert store.events("clinic-a", "ath-1") == []
    assert store.feedback("clinic-a", "ath-1") == []
    assert store.athletes("clinic-a") == ["ath-2"]
    assert not store.has_athlete("clinic-a", "ath-1")
    for table in ("athletes", "events", "feedback"):
        assert raw_rows(url, f"SELECT * FROM {table} WHERE athlete = 'ath-1'") == []
    assert len(store.events("clinic-a", "ath-2")) == 2
    assert [f.card_uuid for f in store.feedback("clinic-a", "ath-2")] == ["u-3"]
    assert store.delete_athlete("clinic-a", "ath-1") is False


def test_feedback_is_kept_in_order_with_its_reason(store: ServiceStore) -> None:
    later = AT + dt.timedelta(minutes=5)
    store.record_feedback("clinic-a", "ath-1", "stridewise", "u-1", "accepted", None, AT)
    store.record_feedback(
        "clinic-a", "ath-1", "stridewise", "u-2", "overridden", "patient already in a boot", later
    )
    rows = store.feedback("clinic-a", "ath-1")
    assert [(r.card_uuid, r.outcome, r.reason, r.at) for r in rows] == [
        ("u-1", "accepted", None, AT),
        ("u-2", "overridden", "patient already in a boot", later),
    ]
    assert store.feedback("clinic-b", "ath-1") == []


def test_feedback_with_an_unknown_outcome_or_a_time_without_zone_is_refused(
    store: ServiceStore,
) -> None:
    with pytest.raises(StorageError, match="outcome must be one of"):
        store.record_feedback("clinic-a", "ath-1", "svc", "u-1", "ignored", None, AT)
    with pytest.raises(StorageError, match="no time zone"):
        store.record_feedback(
            "clinic-a", "ath-1", "svc", "u-1", "accepted", None, AT.replace(tzinfo=None)
        )
    assert store.feedback("clinic-a", "ath-1") == []


def test_a_stored_row_damaged_past_the_store_is_named_with_its_athlete(
    store: ServiceStore, url: str
) -> None:
    store.put_events("clinic-a", "ath-1", runs(3))
    raw_execute(url, "UPDATE events SET body = '{\"kind\": \"run\"}' WHERE event_id = 'run-1'")
    with pytest.raises(StorageError, match="a stored event of athlete 'ath-1' cannot be read"):
        store.events("clinic-a", "ath-1")


def test_events_up_to_a_date_leave_out_later_ones(store: ServiceStore) -> None:
    store.put_events("clinic-a", "ath-1", runs(10))
    until = dt.date(2026, 1, 5)
    assert [e.id for e in store.events("clinic-a", "ath-1", until=until)] == [
        f"run-{n}" for n in range(5)
    ]


# -- schema and migrations ---------------------------------------------------------------------


def test_a_new_database_gets_every_migration_in_order(store: ServiceStore, url: str) -> None:
    assert store.schema_versions() == [m.version for m in migrations.MIGRATIONS]
    rows = raw_rows(url, "SELECT version, name FROM schema_version ORDER BY version")
    assert rows == [(m.version, m.name) for m in migrations.MIGRATIONS]


def test_opening_an_up_to_date_database_again_changes_nothing(url: str) -> None:
    open_store(url).close()
    before = raw_rows(url, "SELECT version, applied_at FROM schema_version ORDER BY version")
    for _ in range(2):
        open_store(url).close()
    assert raw_rows(url, "SELECT version, applied_at FROM schema_version ORDER BY version") == (
        before
    )


def test_an_older_database_is_brought_up_to_date_keeping_its_data(url: str) -> None:
    opener: Any
    if url.startswith("sqlite:"):
        from stridewise.storage.sqlite import SQLiteStore

        opener = lambda **kw: SQLiteStore(url[len("sqlite:///") :], **kw)  # noqa: E731
    else:
        from stridewise.storage.postgresql import PostgresStore

        opener = lambda **kw: PostgresStore(url, **kw)  # noqa: E731
    old: SQLStore[Any] = opener(migrate_upto=1)
    try:
        assert old.schema_versions() == [1]
        old.add_clinic("clinic-a", hash_key(KEY_A), {})
    finally:
        old.close()
    # an athlete with four runs, as version 1 of the schema kept them
    raw_execute(
        url,
        "INSERT INTO athletes (clinic, athlete, created_at) VALUES ('clinic-a', 'ath-1', 'x')",
        *(
            "INSERT INTO events (clinic, athlete, event_id, kind, day, body) VALUES "
            f"('clinic-a', 'ath-1', '{e.id}', 'run', '{e.day}', "
            f"'{json.dumps(dump_stored_event(e))}')"
            for e in runs(4)
        ),
    )
    assert raw_rows(url, "SELECT count(*) FROM schema_version") == [(1,)]
    with open_store(url) as new:
        assert new.schema_versions() == ALL_VERSIONS
        assert new.events("clinic-a", "ath-1") == runs(4)
        new.record_feedback("clinic-a", "ath-1", "svc", "u-1", "accepted", None, AT)
        assert new.athlete_version("clinic-a", "ath-1") == 0  # made before versions were kept
        assert new.put_events("clinic-a", "ath-1", [run(9)]).version not in (None, 0)
    applied = raw_rows(url, "SELECT version, applied_at FROM schema_version ORDER BY version")
    assert [v for v, _ in applied] == ALL_VERSIONS
    assert [a for _, a in applied] == sorted(a for _, a in applied)  # applied in version order


def _open_and_close(url: str, barrier: Any) -> None:
    barrier.wait()
    open_store(url).close()


@pytest.mark.slow
def test_two_processes_opening_a_new_database_at_once_migrate_it_once(url: str) -> None:
    # spawn, not fork: a child forked while another thread of this test process held a lock
    # inherits it held (py312 warns of exactly that) and can wait on it forever
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_open_and_close, args=(url, barrier)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    versions = raw_rows(url, "SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == ALL_VERSIONS


def test_a_database_made_by_a_newer_stridewise_is_refused(url: str) -> None:
    open_store(url).close()
    raw_execute(
        url, "INSERT INTO schema_version (version, name, applied_at) VALUES (99, 'future', 'x')"
    )
    with pytest.raises(StorageError, match=r"newer stridewise \(schema version 99; this one knows"):
        open_store(url)


def test_a_database_of_another_application_is_refused_and_left_alone(url: str) -> None:
    raw_execute(url, "CREATE TABLE invoices (n INTEGER)")
    with pytest.raises(StorageError, match=r"belongs to another application \(tables: invoices"):
        open_store(url)
    tables = (
        raw_rows(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
        if url.startswith("sqlite:")
        else raw_rows(
            url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stridewise'",
        )
    )
    assert tables == [("invoices",)]


def test_the_single_user_history_file_is_not_taken_for_a_service_store(tmp_path: Path) -> None:
    from stridewise.store import Store

    Store(tmp_path / "history.sqlite3").close()
    with pytest.raises(StorageError, match="belongs to another application"):
        open_store(f"sqlite:///{tmp_path}/history.sqlite3")


# -- unreachable databases and URLs ------------------------------------------------------------


@pytest.mark.postgres
def test_an_unreachable_server_is_named_without_its_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://clinic:hunter2secret@127.0.0.1:{port}/stridewise"
    with pytest.raises(StorageError) as err:
        open_store(url, connect_timeout=5)
    message = str(err.value)
    assert message.startswith(f"postgresql://clinic@127.0.0.1:{port}/stridewise: cannot connect")
    assert "hunter2secret" not in message
    assert "Connection refused" in message


@pytest.mark.postgres
def test_a_wrong_password_is_reported_without_the_password(pg_url: str) -> None:
    wrong = pg_url.replace("@", "tail-of-wrong@", 1)
    with pytest.raises(StorageError, match="password authentication failed") as err:
        open_store(wrong)
    assert "tail-of-wrong" not in str(err.value)
    assert redact_url(pg_url) in str(err.value)


def admin_kill(pg_url: str) -> None:
    """Have the server close every other connection to the test database."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_on_the_next_call(pg_url: str) -> None:
    with open_store(pg_url) as s:
        s.add_clinic("clinic-a", hash_key(KEY_A), {})
        s.put_events("clinic-a", "ath-1", runs(2))
        admin_kill(pg_url)
        assert len(s.events("clinic-a", "ath-1")) == 2  # a read is tried again, once
        admin_kill(pg_url)
        assert s.put_events("clinic-a", "ath-1", runs(1, first=5)).added == 1  # BEGIN failed
        assert len(s.events("clinic-a", "ath-1")) == 3


def test_a_database_file_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url = f"sqlite:///{blocker}/service.sqlite3"
    with pytest.raises(StorageError, match=f"^{re.escape(url)}: cannot create the database"):
        open_store(url)


def test_sqlite_urls_and_plain_paths_open_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///rel.sqlite3") as s:
        s.add_clinic("c", hash_key("k"), {})
    assert (tmp_path / "rel.sqlite3").stat().st_mode & 0o777 == 0o600
    with open_store(tmp_path / "rel.sqlite3") as s:
        assert s.clinic_for_key(hash_key("k")) == ClinicRow("c", {})
    with open_store(f"sqlite:///{tmp_path}/rel.sqlite3") as s:
        assert s.clinic_for_key(hash_key("k")) == ClinicRow("c", {})
    with pytest.raises(StorageError, match="unknown database URL scheme 'mysql'"):
        open_store("mysql://root:pw@localhost/db")
    with pytest.raises(StorageError, match="give a database file"):
        open_store("sqlite:///:memory:")


def test_a_sqlite_url_can_trade_power_loss_durability_for_speed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    for query, level in (("", 2), ("?synchronous=normal", 1), ("?synchronous=full", 2)):
        with open_store(url + query) as s:
            assert isinstance(s, SQLStore)
            conn: Any = s._conn()
            assert conn.execute("PRAGMA synchronous").fetchone() == (level,)
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with pytest.raises(StorageError, match=r"unknown option sync='off' \(known: synchronous"):
        open_store(url + "?sync=off")


def test_a_url_is_shown_without_its_password() -> None:
    assert redact_url("postgresql://u:p%40ss@db:5432/sw?sslmode=require&password=x") == (
        "postgresql://u@db:5432/sw?sslmode=require"
    )
    assert redact_url("postgresql://db/sw") == "postgresql://db/sw"
    # a SQLite URL is shown as written: four slashes for an absolute path, three for relative
    assert redact_url("sqlite:////var/lib/stridewise/service.db") == (
        "sqlite:////var/lib/stridewise/service.db"
    )
    assert redact_url("sqlite:///service.db") == "sqlite:///service.db"


def test_a_closed_store_says_so(store: ServiceStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="the store was closed"):
        store.events("clinic-a", "ath-1")


def test_put_result_fields_are_what_the_service_reports() -> None:
    assert [f.name for f in dataclasses.fields(PutResult)] == [
        "added",
        "already_stored",
        "updated",
        "version",
        "previous_version",
    ]


@pytest.mark.postgres
def test_a_postgresql_url_can_turn_synchronous_commit_off(pg_url: str) -> None:
    with open_store(pg_url + "?options=-c%20synchronous_commit%3Doff") as s:
        assert isinstance(s, SQLStore)
        conn: Any = s._conn()
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        assert s.schema_versions() == ALL_VERSIONS


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_storage_benchmark_runs_on_a_small_sample(
    backend: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_storage
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    args = ["--athletes", "3", "--reps", "5", "--backend", backend]
    if backend == "postgresql":
        args += ["--pg-url", request.getfixturevalue("pg_url")]
    assert bench_storage.main(args) == 0
    out = capsys.readouterr().out
    assert "fill: 3 athletes x 371 events" in out
    assert out.count("put one run + load the year") == (4 if backend == "sqlite" else 2)


@pytest.mark.postgres
def test_a_postgresql_store_used_in_a_forked_child_while_the_parent_writes_still_works(
    pg_url: str,
) -> None:
    # The service forks worker processes while its threads may be writing: the child gets
    # connections of its own, never the parent's.
    with open_store(pg_url) as store:
        store.add_clinic("clinic-a", hash_key(KEY_A), {})
        store.put_events("clinic-a", "ath-1", runs(2))
        ctx = multiprocessing.get_context("fork")
        started, release = threading.Event(), threading.Event()

        def hold_write() -> None:
            with store._write("clinic-a", "ath-9", create=True):  # type: ignore[attr-defined]
                started.set()
                release.wait(30)

        holder = threading.Thread(target=hold_write)
        holder.start()
        started.wait(30)
        out = ctx.Queue()
        child = ctx.Process(target=_child_reads_and_writes, args=(store, out))
        try:
            child.start()
            assert out.get(timeout=30) == 2  # read while the parent's thread is writing
            child.join(60)
            assert child.exitcode == 0  # and wrote another athlete
        finally:
            release.set()
            holder.join(30)
        assert len(store.events("clinic-a", "ath-2")) == 1


def _child_reads_and_writes(store: ServiceStore, out: Any) -> None:
    out.put(len(store.events("clinic-a", "ath-1")))
    store.put_events("clinic-a", "ath-2", runs(1))


def test_a_sqlite_store_refuses_to_be_used_in_a_forked_child(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.sqlite3") as store:
        store.add_clinic("clinic-a", hash_key(KEY_A), {})
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_child_tries, args=(store, out))
        child.start()
        child.join(60)
        message = out.get(timeout=5)
    assert "a forked process must not use it (SQLite does not survive fork)" in message


def _child_tries(store: ServiceStore, out: Any) -> None:
    try:
        store.athletes("clinic-a")
        out.put("no error")
    except StorageError as exc:
        out.put(str(exc))
