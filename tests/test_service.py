"""The HTTP service over real HTTP on loopback, started as docs/service.md says.

Athletes' events in (validated, idempotent, all or nothing), cards and timelines out, erasure,
API keys per clinic (profiles, isolation, no key no data), limits, and worker crashes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_server import END, Server, free_port, start_server, year_of_training

pytestmark = pytest.mark.slow  # a server and its worker processes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("service")
    profile = folder / "hillside.yaml"
    profile.write_text(
        "clinic: {id: hillside, name: Hillside Physio}\n"
        "parameters:\n  footwear: {replace_km: 900}\n"
        "wording:\n  footwear/shoe-approaching:\n"
        "    summary: \"Hillside: '{shoe.name}' has {shoe.distance_km} km, book a fitting "
        'before {replace_km} km."\n'
    )
    srv = start_server(
        folder,
        {"riverside": None, "hillside": profile},
        settings={"max_batch_events": 600, "max_request_bytes": 262_144},
        env={"STRIDEWISE_CACHE_DIR": str(folder / "cache")},
    )
    yield srv
    srv.stop()


def post(client: httpx.Client, athlete: str, events: list[dict[str, Any]]) -> httpx.Response:
    return client.post(f"/athletes/{athlete}/events", json={"events": events})


def test_health_and_readiness_answer_without_a_key(server: Server) -> None:
    with server.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["workers"] >= 1


def test_a_batch_posted_twice_is_stored_once(server: Server) -> None:
    events = year_of_training(1)
    with server.client("riverside") as c:
        first = post(c, "twice", events)
        second = post(c, "twice", events)
        # one new run on top of the stored year: only it is added
        more = post(c, "twice", [*events[-5:], {**events[-1], "id": "run-extra"}])
    assert first.status_code == 200, first.text
    assert first.json() == {"added": len(events), "already_stored": 0, "updated": 0}
    assert second.json() == {"added": 0, "already_stored": len(events), "updated": 0}
    assert more.json() == {"added": 1, "already_stored": 5, "updated": 0}


def test_a_rejected_batch_names_index_field_and_value_and_stores_nothing(server: Server) -> None:
    events = year_of_training(2)[:20]
    events[3] = {**events[3], "distance_m": -5}
    events[7] = {k: v for k, v in events[7].items() if k != "kind"}
    events[9] = {**events[9], "pace": "fast"}
    with server.client("riverside") as c:
        answer = post(c, "rejected", events)
        cards = c.get("/athletes/rejected/cards", params={"as_of": END.isoformat()})
    assert answer.status_code == 422
    body = answer.json()
    assert "nothing stored" in body["error"]
    problems = {(p["index"], p["field"]): p for p in body["problems"]}
    assert problems[(3, "distance_m")]["value"] == -5
    assert (7, "kind") in problems
    assert problems[(9, "pace")]["value"] == "fast"
    assert cards.status_code == 404  # nothing of the batch was stored


def test_cards_name_their_source_and_the_worn_shoe(server: Server) -> None:
    with server.client("riverside") as c:
        assert post(c, "ana", year_of_training(3)).status_code == 200
        answer = c.get("/athletes/ana/cards", params={"as_of": END.isoformat()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["athlete"] == "ana" and body["as_of"] == END.isoformat()
    assert body["complete"] is True
    assert body["cards"], "a year of running in one pair of shoes gives advice"
    for card in body["cards"]:
        assert card["source"]["label"]
        assert card["indicator"] in ("info", "warning", "critical")
    assert any(card["ruleset_id"] == "footwear" for card in body["cards"])


def _day_shoe_passes(events: list[dict[str, Any]], km: float) -> dt.date:
    total = events[1]["start_distance_m"] / 1000
    for e in events:
        if e["kind"] == "run":
            total += e["distance_m"] / 1000
            if total >= km:
                return dt.date.fromisoformat(e["start"][:10])
    raise AssertionError("the shoe never got there")


def test_each_clinics_key_selects_its_profile(server: Server) -> None:
    """Riverside uses the packs' default (replace at 500 km), Hillside's profile says 900 km
    and words the reminder its own way: at 700 km only Riverside's runner is told to replace
    the shoes, and Hillside's runner reads Hillside's words."""
    events = year_of_training(4, shoe_km=0)
    day = _day_shoe_passes(events, 700).isoformat()
    seen = {}
    for clinic in ("riverside", "hillside"):
        with server.client(clinic) as c:
            assert post(c, "same-runner", events).status_code == 200
            cards = c.get("/athletes/same-runner/cards", params={"as_of": day}).json()["cards"]
        seen[clinic] = {
            card["rule_id"]: card["summary"] for card in cards if card["ruleset_id"] == "footwear"
        }
    assert "shoe-worn" in seen["riverside"], seen
    assert "shoe-worn" not in seen["hillside"], seen
    # Hillside's own words, with its parameter filled in
    assert seen["hillside"]["shoe-approaching"].startswith("Hillside: 'Pegasus' has 7"), seen
    assert "before 900 km" in seen["hillside"]["shoe-approaching"], seen


def test_a_timeline_gives_every_day_of_the_range(server: Server) -> None:
    with server.client("riverside") as c:
        post(c, "timeline", year_of_training(5))
        start = END - dt.timedelta(days=29)
        with c.stream(
            "GET",
            "/athletes/timeline/timeline",
            params={"from": start.isoformat(), "to": END.isoformat()},
        ) as answer:
            assert answer.status_code == 200
            assert "content-length" not in answer.headers  # streamed, not built whole
            body = json.loads(b"".join(answer.iter_bytes()))
        backwards = c.get(
            "/athletes/timeline/timeline",
            params={"from": END.isoformat(), "to": start.isoformat()},
        )
    assert body["complete"] is True
    assert [d["date"] for d in body["days"]] == [
        (start + dt.timedelta(days=n)).isoformat() for n in range(30)
    ]
    assert all(d["complete"] for d in body["days"])
    assert backwards.status_code == 422


def test_delete_erases_the_athlete(server: Server) -> None:
    with server.client("riverside") as c:
        post(c, "leaving", year_of_training(6)[:30])
        assert c.get("/athletes/leaving/cards", params={"as_of": END.isoformat()}).is_success
        assert c.delete("/athletes/leaving").status_code == 204
        assert c.get("/athletes/leaving/cards").status_code == 404
        assert c.delete("/athletes/leaving").status_code == 404


def test_no_key_no_data(server: Server) -> None:
    with server.client("riverside") as c:
        post(c, "guarded", year_of_training(7)[:30])
    with server.client() as anonymous:
        no_key = anonymous.get("/athletes/guarded/cards")
        wrong = anonymous.get(
            "/athletes/guarded/cards", headers={"Authorization": "Bearer sw_not-a-key"}
        )
        posting = anonymous.post("/athletes/guarded/events", json={"events": []})
        deleting = anonymous.delete("/athletes/guarded")
    for answer in (no_key, wrong, posting, deleting):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "cards" not in answer.json()


def test_a_clinic_added_or_revoked_while_serving_takes_effect_at_once(server: Server) -> None:
    import subprocess

    from service_server import stridewise_command

    base = [*stridewise_command(), "clinic"]
    config = ["--config", str(server.config)]
    key = subprocess.run(
        [*base, "add", "lakeside", *config], capture_output=True, text=True, check=True
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {key}"}
    with server.client() as c:
        known = c.get("/athletes/nobody/cards", headers=headers)
        subprocess.run([*base, "revoke", key, *config], capture_output=True, check=True)
        revoked = c.get("/athletes/nobody/cards", headers=headers)
        again = subprocess.run([*base, "revoke", key, *config], capture_output=True, text=True)
    assert known.status_code == 404  # a known key: the athlete is what is missing
    assert revoked.status_code == 401
    assert again.returncode != 0 and "no such key" in again.stderr


def test_keys_are_kept_only_as_hashes(server: Server) -> None:
    from stridewise.service.auth import hash_key

    stored = b"".join(p.read_bytes() for p in server.config.parent.glob("service.sqlite3*"))
    for key in server.keys.values():
        assert key.encode() not in stored
        assert hash_key(key).encode() in stored


def test_a_key_cannot_read_or_erase_another_clinics_athlete(server: Server) -> None:
    with server.client("riverside") as river, server.client("hillside") as hill:
        post(river, "private-1", year_of_training(8)[:40])
        assert hill.get("/athletes/private-1/cards").status_code == 404
        assert (
            hill.get(
                "/athletes/private-1/timeline", params={"from": "2026-10-01", "to": "2026-10-02"}
            ).status_code
            == 404
        )
        assert hill.delete("/athletes/private-1").status_code == 404
        # the same id in another clinic is another athlete
        assert post(hill, "private-1", year_of_training(9)[:5]).json()["added"] == 5
        assert river.get("/athletes/private-1/cards").status_code == 200
        mine = river.get("/athletes/private-1/cards", params={"as_of": END.isoformat()})
    assert mine.status_code == 200


def test_limits_answer_413_and_422_clearly(server: Server) -> None:
    events = year_of_training(10)
    many = [{**events[-1], "id": f"r{n}"} for n in range(601)]
    big = [{**events[-1], "id": f"big-{n}", "device": "x" * 1000} for n in range(300)]
    with server.client("riverside") as c:
        too_many = post(c, "limits", many)
        too_big = post(c, "limits", big)
        not_json = c.post(
            "/athletes/limits/events",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        not_a_number = c.post(
            "/athletes/limits/events",
            content=b'{"events": [{"kind": "run", "distance_m": NaN}]}',
            headers={"content-type": "application/json"},
        )
        too_deep = c.post(
            "/athletes/limits/events",
            content=b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            headers={"content-type": "application/json"},
        )
        run = json.dumps({**events[-1], "id": "inf", "distance_m": 1}).replace(
            '"distance_m": 1', '"distance_m": 1e400'
        )
        infinite = c.post(
            "/athletes/limits/events",
            content=b'{"events": [' + run.encode() + b"]}",
            headers={"content-type": "application/json"},
        )
        bad_date = c.get("/athletes/limits/cards", params={"as_of": "2026-02-30"})
        bad_id = c.get("/athletes/..%2F/cards")
    assert too_many.status_code == 422
    assert "at most 600 events" in too_many.json()["error"]
    assert too_big.status_code == 413
    assert "262144" in too_big.json()["error"]
    assert not_json.status_code == 400
    assert not_a_number.status_code == 400 and "NaN" in not_a_number.json()["error"]
    assert too_deep.status_code == 400
    assert infinite.status_code == 422 and infinite.json()["problems"][0]["value"] == "inf"
    assert bad_date.status_code == 422
    assert bad_date.json()["problems"][0]["field"] == "as_of"
    assert bad_id.status_code in (404, 422)


def test_a_killed_worker_is_replaced_and_the_request_answers(server: Server) -> None:
    with server.client("riverside") as c:
        post(c, "survivor", year_of_training(11))
        before = server.worker_pids()
        assert before
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        answer = c.get("/athletes/survivor/cards", params={"as_of": END.isoformat()})
        assert answer.status_code == 200, answer.text
        assert c.get("/health").status_code == 200
    after = server.worker_pids()
    assert after and not set(after) & set(before)


def test_several_server_processes_serve_the_same_store(tmp_path: Path) -> None:
    srv = start_server(
        tmp_path,
        {"riverside": None},
        settings={"processes": 2},
        env={"STRIDEWISE_CACHE_DIR": str(tmp_path / "cache")},
    )
    try:
        with srv.client("riverside") as c:
            assert post(c, "shared", year_of_training(13)).status_code == 200
            answers = [
                c.get("/athletes/shared/cards", params={"as_of": END.isoformat()}) for _ in range(6)
            ]
    finally:
        srv.stop()
    assert all(a.status_code == 200 for a in answers)
    assert len({a.text for a in answers}) == 1  # the same cards from either process


def test_the_served_openapi_document_has_the_configured_limits(server: Server) -> None:
    from stridewise.service.config import load_config
    from stridewise.service.openapi import build_openapi

    with server.client() as c:
        served = c.get("/openapi.json").json()
    assert served == json.loads(json.dumps(build_openapi(load_config(server.config))))
    batch = served["components"]["schemas"]["EventBatch"]
    assert batch["properties"]["events"]["maxItems"] == 600


def test_the_committed_openapi_document_is_current() -> None:
    from stridewise.service.openapi import COMMITTED, build_openapi, render

    assert COMMITTED.read_text(encoding="utf-8") == render(build_openapi()), (
        "regenerate it: python -m stridewise.service.openapi"
    )


def test_a_worker_dying_twice_answers_503_naming_the_athlete(tmp_path: Path) -> None:
    """Both tries of one evaluation lose their worker: 503 naming the athlete; the service stays
    up and the next request is answered (uvicorn in this process, to reach the engine)."""
    import uvicorn

    from stridewise.service import ServiceConfig, create_app
    from stridewise.service.auth import hash_key
    from stridewise.storage import open_store

    store_url = f"sqlite:///{tmp_path / 'service.sqlite3'}"
    with open_store(store_url) as store:
        store.add_clinic("riverside", hash_key("sw_test-key"), {"path": None})
    port = free_port()
    app = create_app(ServiceConfig(port=port, store=store_url, workers=1))
    userver = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=userver.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not userver.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        headers = {"Authorization": "Bearer sw_test-key"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            assert post(c, "unlucky-7", year_of_training(12)[:60]).status_code == 200
            app.state.service.pool.engine(None)._inject("kill", "kill")
            crashed = c.get("/athletes/unlucky-7/cards", params={"as_of": END.isoformat()})
            again = c.get("/athletes/unlucky-7/cards", params={"as_of": END.isoformat()})
            health = c.get("/health")
    finally:
        userver.should_exit = True
        thread.join(30)
    assert crashed.status_code == 503
    assert "unlucky-7" in crashed.json()["error"]
    assert crashed.headers.get("retry-after") == "1"
    assert again.status_code == 200
    assert health.status_code == 200


def test_a_timeline_that_fails_part_way_says_so_at_its_end(tmp_path: Path) -> None:
    """The status line is sent before the later days are evaluated: a crash there ends the
    document with complete: false and the reason, after the days that were evaluated."""
    from stridewise import load_events
    from stridewise.service import ServiceConfig
    from stridewise.service.app import Clinic, Service
    from stridewise.service.auth import hash_key
    from stridewise.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'service.sqlite3'}")
    store.add_clinic("riverside", hash_key("sw_test-key"), {"path": None})
    store.put_events("riverside", "streamed", load_events(year_of_training(14)))
    service = Service(ServiceConfig(workers=1), store=store)
    service.start()
    try:
        clinic = Clinic("riverside", None)
        pieces = service.timeline(clinic, "streamed", END - dt.timedelta(days=9), END)
        first = next(pieces)  # the head and the first day, evaluated before streaming
        service.pool.engine(None)._inject("kill", "kill")
        body = json.loads(first + b"".join(pieces))
    finally:
        service.stop()
        store.close()
    assert body["complete"] is False
    assert "streamed" in body["error"] and "crashed" in body["error"]
    assert [d["date"] for d in body["days"]] == [(END - dt.timedelta(days=9)).isoformat()]


def test_the_html_report_of_an_athlete_comes_from_the_service(server: Server) -> None:
    """The page `stridewise report --html` writes, for a clinic's athlete, with the clinic's
    profile: findings first, charts, no script; another clinic's key gets nothing."""
    events = year_of_training(5)
    pain = {
        "kind": "pain",
        "id": "pain-night",
        "source": "app",
        "date": END.isoformat(),
        "site": "shin",
        "severity": 5,
        "at_night": True,
    }
    with server.client("hillside") as c:
        assert post(c, "paged", [*events, pain]).status_code == 200
        page = c.get("/athletes/paged/report.html", params={"as_of": END.isoformat()})
    with server.client("riverside") as other:
        hidden = other.get("/athletes/paged/report.html", params={"as_of": END.isoformat()})
    assert page.status_code == 200, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Stop running and see a physician" in html
    assert html.index("Stop running and see a physician") < html.index("<svg")
    assert "<script" not in html.lower()
    assert "Report for paged" in html
    assert hidden.status_code == 404
