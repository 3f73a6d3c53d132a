"""Event schemas: what loads, what is rejected (naming field and value), JSON Schema, de-dup."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import jsonschema
import pytest

from stridewise.engine.errors import EventValidationError, InputError
from stridewise.engine.events import (
    SCHEMAS,
    Run,
    deduplicate,
    dump_event,
    json_schema,
    load_event,
)

RUN = {
    "kind": "run",
    "id": "r1",
    "source": "journal",
    "start": "2026-03-01T08:00:00+01:00",
    "distance_m": 10000,
    "moving_time_s": 3000,
    "cadence_spm": 172,
}


def run(**changes: Any) -> dict[str, Any]:
    return {**RUN, **changes}


def test_run_loads_to_utc_with_local_offset() -> None:
    r = load_event(RUN)
    assert isinstance(r, Run)
    assert r.start == dt.datetime(2026, 3, 1, 7, 0, tzinfo=dt.UTC)
    assert r.utc_offset_s == 3600
    assert r.day == dt.date(2026, 3, 1)


def test_local_day_uses_the_offset() -> None:
    late = load_event(run(start="2026-03-01T23:30:00-05:00"))
    assert late.day == dt.date(2026, 3, 1)
    assert late.start.date() == dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"distance_m": -5}, "distance_m", "-5"),
        ({"distance_m": 400000}, "distance_m", "400000"),
        ({"start": "2099-01-01T07:00:00Z"}, "start", "in the future"),
        ({"colour": "red"}, "colour", "Unknown field"),
        ({"cadence_spm": 85}, "cadence_spm", "double a per-foot value"),
        ({"distance_m": 10000, "moving_time_s": 300}, "distance_m", "faster than any human"),
        ({"start": "2026-03-01T08:00:00"}, "start", "not a valid aware datetime"),
        ({"sport": "ride"}, "sport", "'ride' is not one of"),
        ({"id": ""}, "id", "length must be between 1 and 200"),
    ],
)
def test_impossible_values_are_rejected_naming_field_and_value(
    changes: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(EventValidationError) as info:
        load_event(run(**changes))
    assert field in info.value.messages
    assert text.lower() in str(info.value).lower()


def test_height_in_centimetres_is_a_unit_error() -> None:
    with pytest.raises(InputError, match="height is in metres"):
        load_event(
            {"kind": "profile", "id": "p", "source": "j", "recorded": "2026-01-01", "height_m": 172}
        )


def test_unknown_kind() -> None:
    with pytest.raises(InputError, match="unknown event kind 'swimrun'"):
        load_event({"kind": "swimrun", "id": "x", "source": "j"})


def test_every_kind_round_trips_through_dump_and_the_json_schema() -> None:
    samples = [
        RUN,
        {
            "kind": "profile",
            "id": "p",
            "source": "j",
            "recorded": "2026-01-01",
            "sex": "female",
            "prior_bsi": [{"site": "navicular", "date": "2024-05-01"}],
        },
        {
            "kind": "cross_training",
            "id": "c",
            "source": "j",
            "start": "2026-01-02T10:00:00Z",
            "sport": "swim",
            "duration_s": 1800,
        },
        {
            "kind": "pain",
            "id": "pa",
            "source": "j",
            "date": "2026-01-03",
            "site": "shin",
            "severity": 4,
            "at_night": True,
            "stopped_run": True,
        },
        {"kind": "shoe", "id": "s", "source": "j", "name": "Pegasus"},
        {"kind": "nutrition", "id": "n", "source": "j", "date": "2026-01-03", "calcium_mg": 900},
        {
            "kind": "injury",
            "id": "i",
            "source": "j",
            "date": "2025-06-01",
            "site": "tibia_posteromedial",
            "cleared": "2025-08-01",
            "hop_test_pain": 1,
            "strength_test_passed": False,
        },
    ]
    schema = json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    assert {s["kind"] for s in samples} == set(SCHEMAS)
    for sample in samples:
        event = load_event(sample)
        dumped = dump_event(event)
        assert load_event(json.loads(json.dumps(dumped))) == event
        errors = list(validator.iter_errors(dumped))
        assert not errors, (sample["kind"], [e.message for e in errors])
    # The schema rejects what the loader rejects: unknown fields.
    assert list(validator.iter_errors({**dump_event(load_event(RUN)), "colour": "red"}))


def test_injury_cleared_before_diagnosis() -> None:
    with pytest.raises(InputError, match="cleared"):
        load_event(
            {
                "kind": "injury",
                "id": "i",
                "source": "j",
                "date": "2025-06-01",
                "site": "fibula",
                "cleared": "2025-05-01",
            }
        )


def _strava_twin(**changes: Any) -> Run:
    base = load_event(
        run(
            id="strava:1",
            source="strava",
            start="2026-03-01T07:01:10Z",
            distance_m=10150,
            cadence_spm=None,
            moving_time_s=3010,
            shoe_id="strava:shoe",
        )
    )
    return dataclasses.replace(base, **changes)


def test_same_run_from_two_sources_counts_once_and_keeps_both_ids() -> None:
    watch = load_event(run(id="fit:1", source="fit", start="2026-03-01T07:00:00Z", avg_hr_bpm=150))
    events, merged = deduplicate([watch, _strava_twin()])
    runs = [e for e in events if isinstance(e, Run)]
    assert merged == 1 and len(runs) == 1
    kept = runs[0]
    assert kept.id == "fit:1"  # the richer record
    assert kept.also_sources == ("strava:1",)
    assert kept.shoe_id == "strava:shoe"  # gaps filled from the twin
    # Re-importing the Strava record again changes nothing.
    again, merged_again = deduplicate([kept, _strava_twin()])
    assert merged_again == 0 and len(again) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"start": dt.datetime(2026, 3, 1, 7, 3, 0, tzinfo=dt.UTC)},  # 3 minutes apart
        {"distance_m": 10500.0},  # 5% longer
    ],
)
def test_different_runs_are_not_merged(changes: dict[str, Any]) -> None:
    watch = load_event(run(id="fit:1", source="fit", start="2026-03-01T07:00:00Z"))
    events, merged = deduplicate([watch, _strava_twin(**changes)])
    assert merged == 0 and len(events) == 2


def test_published_schema_file_is_up_to_date() -> None:
    from pathlib import Path

    published = Path(__file__).parent.parent / "engine" / "events.schema.json"
    assert json.loads(published.read_text()) == json_schema(), (
        "regenerate with: stridewise schema > engine/events.schema.json"
    )


def test_a_site_in_the_runners_words_loads_as_its_code_and_validates_in_the_schema() -> None:
    event = load_event(
        {
            "kind": "pain",
            "id": "p",
            "source": "j",
            "date": "2026-01-03",
            "site": "Top of midfoot",
            "severity": 3,
        }
    )
    dumped = dump_event(event)
    assert dumped["site"] == "navicular"
    assert not list(jsonschema.Draft202012Validator(json_schema()).iter_errors(dumped))


def test_hop_test_pain_above_10_is_rejected() -> None:
    with pytest.raises(EventValidationError, match="hop_test_pain"):
        load_event(
            {
                "kind": "injury",
                "id": "i",
                "source": "j",
                "date": "2025-06-01",
                "site": "fibula",
                "hop_test_pain": 11,
            }
        )
