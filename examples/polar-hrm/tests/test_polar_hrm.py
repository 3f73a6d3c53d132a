"""The Polar HRM adapter, tested with the fixtures of stridewise's pytest plugin."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import stridewise_polar_hrm

from stridewise.importer import ReadHints, import_paths

DATA = Path(__file__).parent / "data"
GOOD = sorted(DATA.glob("*.hrm"))
ADAPTER = stridewise_polar_hrm.ADAPTER


def test_the_adapter_keeps_the_contract(stridewise_adapter_contract) -> None:
    # the heart-rate-only file is good but holds no event (it is skipped with the reason)
    with_events = [p for p in GOOD if p.name != "heart-rate-only.hrm"]
    stridewise_adapter_contract(ADAPTER, with_events)
    stridewise_adapter_contract(ADAPTER, [DATA / "heart-rate-only.hrm"], expect_events=False)


def test_a_run_with_a_foot_pod_becomes_a_run_with_its_distance(stridewise_read) -> None:
    run = stridewise_read(ADAPTER, DATA / "easy-run-footpod.hrm")
    assert run.kinds == ["run"]
    event = run.events[0]
    assert event.distance_m == 6100 and event.elapsed_time_s == 1800
    assert event.elevation_gain_m == 42 and event.device == "Polar S625X"
    assert 140 < event.avg_hr_bpm < 160
    assert "sport taken as a run" in run.notes[0].note  # the file does not name it


def test_us_units_are_converted_and_cycling_data_makes_a_ride(stridewise_read) -> None:
    run = stridewise_read(ADAPTER, DATA / "ride-us-units.hrm")
    (event,) = run.events
    assert event.kind == "cross_training" and event.sport == "ride"
    assert event.distance_m == pytest.approx(16093.4, abs=0.1)  # 10.0 miles
    assert event.duration_s == 2400


def test_a_heart_rate_only_recording_is_skipped_with_the_reason(stridewise_read) -> None:
    run = stridewise_read(ADAPTER, DATA / "heart-rate-only.hrm")
    assert run.events == []
    assert "no distance and no sport" in run.skipped[0].reason


def test_the_sport_given_on_the_command_line_wins(tmp_path: Path) -> None:
    from stridewise.plugins import PluginHost

    host = PluginHost(entry_points=False)
    host.register(stridewise_polar_hrm, name="polar_hrm")
    result = import_paths(
        [DATA / "heart-rate-only.hrm"], host, hints=ReadHints(sport="swim", tz="Europe/Helsinki")
    )
    (event,) = result.events
    assert event.kind == "cross_training" and event.sport == "swim"
    assert event.start == dt.datetime(2026, 3, 7, 10, 0, tzinfo=dt.UTC)  # 12:00 in Helsinki
    assert event.utc_offset_s == 7200


def test_stridewise_import_reads_hrm_files_and_says_what_it_skipped(stridewise_cli) -> None:
    import json

    result = stridewise_cli(
        "import",
        "--json",
        *GOOD,
        "--tz",
        "Europe/Helsinki",
        plugins={"polar_hrm": stridewise_polar_hrm},
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["events_by_kind"] == {"run": 1, "cross_training": 1}
    assert [s["reason"][:24] for s in summary["skipped"]] == ["heart-rate-only recordin"]


def test_the_installed_plugin_is_found_through_its_entry_point(stridewise_entry_point) -> None:
    info = stridewise_entry_point("polar_hrm")
    assert info.distribution == "stridewise-polar-hrm"
    assert info.hooks == ("stridewise_register_adapters",)


def test_it_is_asked_after_the_built_in_adapters(stridewise_register) -> None:
    host = stridewise_register(stridewise_polar_hrm, name="polar_hrm", installed=True)
    names = [a.name for a in host.adapters()]
    assert names.index("polar_hrm") > names.index("fit")


@pytest.mark.skipif(
    not os.environ.get("POLAR_HRM_SAMPLES"), reason="set POLAR_HRM_SAMPLES to a folder of real .hrm"
)
def test_real_recordings_keep_the_contract(stridewise_adapter_contract) -> None:
    """Real files (see ORIGIN.md for the set used); HR-only ones hold no event."""
    folder = Path(os.environ["POLAR_HRM_SAMPLES"])
    stridewise_adapter_contract(ADAPTER, sorted(folder.glob("**/*.hrm")), expect_events=False)
