"""The service on a real PostgreSQL server (tox env ``postgres``): the same answers as SQLite.

The server is started as docs/service.md says, with a ``postgresql://`` store in its config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from service_server import END, start_server, year_of_training

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_the_service_on_postgresql_stores_once_answers_and_erases(
    pg_url: str, tmp_path: Path
) -> None:
    server = start_server(
        tmp_path,
        {"riverside": None, "hillside": None},
        settings={"store": pg_url},
        env={"STRIDEWISE_CACHE_DIR": str(tmp_path / "cache")},
    )
    try:
        events = year_of_training(41)
        with server.client("riverside") as c, server.client("hillside") as other:
            first = c.post("/athletes/pg-1/events", json={"events": events})
            again = c.post("/athletes/pg-1/events", json={"events": events})
            bad = c.post(
                "/athletes/pg-2/events",
                json={"events": [events[5], {**events[6], "distance_m": "far"}]},
            )
            cards = c.get("/athletes/pg-1/cards", params={"as_of": END.isoformat()})
            hidden = other.get("/athletes/pg-1/cards")
            nothing_of_the_bad_batch = c.get("/athletes/pg-2/cards")
            erased = c.delete("/athletes/pg-1")
            gone = c.get("/athletes/pg-1/cards")
    finally:
        server.stop()
    assert first.json()["added"] == len(events)
    assert again.json() == {"added": 0, "already_stored": len(events), "updated": 0}
    assert bad.status_code == 422 and bad.json()["problems"][0]["index"] == 1
    assert cards.status_code == 200 and cards.json()["cards"]
    assert hidden.status_code == 404
    assert nothing_of_the_bad_batch.status_code == 404
    assert erased.status_code == 204 and gone.status_code == 404
