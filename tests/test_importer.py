"""The importer over real sample files: dispatch by content, bad files skipped, twins merged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stridewise.engine.events import Run
from stridewise.importer import import_paths
from stridewise.plugins import PluginHost

DATA = Path(__file__).parent / "data"
TWIN_FIT = DATA / "fit" / "gap__2022-05-29_Laufen_Landal_Park.fit"
STRAVA = DATA / "strava" / "gap_export"


@pytest.fixture(scope="module")
def host() -> PluginHost:
    h = PluginHost()
    assert not h.errors, [str(e) for e in h.errors]
    return h


def test_watch_file_and_strava_export_count_the_run_once(host: PluginHost) -> None:
    result = import_paths([TWIN_FIT, STRAVA], host)
    runs = [e for e in result.events if isinstance(e, Run)]
    assert len(runs) == 1
    assert result.duplicates_merged == 1
    run = runs[0]
    ids = {run.id, *run.also_sources}
    assert any(i.startswith("strava:") for i in ids) and any(i.startswith("fit") for i in ids)
    assert run.start.isoformat() == "2022-05-29T15:53:35+00:00"
    # Re-importing both gives the same single run.
    again = import_paths([TWIN_FIT, STRAVA, TWIN_FIT], host)
    assert len([e for e in again.events if isinstance(e, Run)]) == 1


def test_a_folder_of_mixed_files_goes_on_past_bad_ones(host: PluginHost, tmp_path: Path) -> None:
    folder = tmp_path / "watch"
    folder.mkdir()
    for name in ("fitparse__garmin-fenix-5-run.fit", "derived__fenix5run.fit.gz"):
        shutil.copy(DATA / "fit" / name, folder / name)
    shutil.copy(DATA / "tcx" / "tcxparser__test_FR410_run.tcx", folder)
    shutil.copy(DATA / "gpx" / "gap__2025-08-30_walk_BrooksCaldera5.gpx", folder)
    bad_dir = DATA / "fit" / "bad"
    bad = sorted(p.name for p in bad_dir.iterdir() if p.is_file())
    for name in bad:
        shutil.copy(bad_dir / name, folder / name)
    (folder / "notes.txt").write_text("not an activity")
    result = import_paths([folder], host)
    # The fenix 5 run and its gzipped copy are the same run: counted once.
    (fenix,) = import_paths([folder / "fitparse__garmin-fenix-5-run.fit"], host).events
    assert [e.id for e in result.events if getattr(e, "start", None) == fenix.start] == [fenix.id]
    sources = {e.source for e in result.events}
    assert {"fit", "tcx", "gpx"} <= sources
    skipped = {Path(s.file).name: s.reason for s in result.skipped}
    assert "notes.txt" in skipped
    assert "derived__empty.fit" in skipped
    assert "derived__random_garbage.fit" in skipped
    for reason in skipped.values():
        assert reason and "Traceback" not in reason
    summary = result.summary()
    assert summary["files_read"] >= 4
    assert summary["activities_by_source"]["fit"] >= 1


def test_missing_path_is_reported_not_raised(host: PluginHost, tmp_path: Path) -> None:
    result = import_paths([tmp_path / "nope.fit"], host)
    assert result.events == []
    assert result.skipped[0].reason == "no such file or folder"


@pytest.mark.slow
def test_reading_in_worker_processes_gives_the_same_result(
    host: PluginHost, tmp_path: Path
) -> None:
    fit_files = sorted(
        p for p in (DATA / "fit").iterdir() if p.is_file() and p.stat().st_size < 40_000
    )
    for n, f in enumerate(fit_files * 3):
        shutil.copy(f, tmp_path / f"{n:02d}_{f.name}")
    (tmp_path / "zz_bad.fit").write_bytes(b"\x0e\x10garbage")
    single = import_paths([tmp_path], host, workers=1)
    pooled = import_paths([tmp_path], host, workers=2)
    assert single.files_read == pooled.files_read >= 16
    assert sorted(e.id for e in single.events) == sorted(e.id for e in pooled.events)
    assert single.events_by_kind == pooled.events_by_kind
    assert [(s.file, s.reason) for s in single.skipped] == [
        (s.file, s.reason) for s in pooled.skipped
    ]


def test_events_from_every_adapter_validate_against_the_published_schema(
    host: PluginHost,
) -> None:
    import json

    import jsonschema

    schema = json.loads(
        (Path(__file__).parent.parent / "engine" / "events.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)
    result = import_paths(
        [
            TWIN_FIT,
            STRAVA,
            DATA / "tcx" / "tcxparser__test_FR410_run.tcx",
            DATA / "gpx" / "gap__2025-08-30_walk_BrooksCaldera5.gpx",
        ],
        host,
    )
    from stridewise.engine.events import dump_event

    assert {e.source for e in result.events} >= {"fit", "tcx", "gpx"}  # the Strava twin merged
    for event in result.events:
        errors = [e.message for e in validator.iter_errors(dump_event(event))]
        assert not errors, (event.id, errors)
