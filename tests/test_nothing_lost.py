"""Nothing lost on writes: a corrupt row, a plugin's bad events, someone else's database, a
read-only or full disk, an import that could read nothing. Each ends in one clear line naming
the file, and what could be kept is kept."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stridewise.adapters.journal import append_entry
from stridewise.cli import cli
from stridewise.engine.errors import StridewiseError
from stridewise.engine.events import load_event
from stridewise.store import Store


def _run(n: int) -> Any:
    return load_event(
        {
            "kind": "run",
            "id": f"j:{n}",
            "source": "journal",
            "distance_m": 5000.0 + n,
            "start": f"2026-03-{n:02d}T07:00:00Z",
        }
    )


def _journal(tmp_path: Path, runs: int = 3) -> Path:
    journal = tmp_path / "me.yaml"
    for n in range(1, runs + 1):
        append_entry(journal, "run", {"date": f"2026-03-{n:02d}", "distance_km": 5 + n})
    return journal


def _corrupt(db: Path, event_id: str, body: str = "{not json") -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE events SET body = ? WHERE id = ?", (body, event_id))
    conn.close()


# -- a corrupt row ---------------------------------------------------------------------------


def test_one_corrupt_row_is_named_and_skipped_and_the_report_still_shows(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with Store(db) as store:
        store.save([_run(n) for n in range(1, 6)])
    _corrupt(db, "j:3")
    with Store(db) as store:
        events = store.load()
        assert sorted(e.id for e in events) == ["j:1", "j:2", "j:4", "j:5"]
        (bad,) = store.problems
        assert bad.id == "j:3" and "not JSON" in bad.reason
    runner = CliRunner()
    out = runner.invoke(cli, ["report", "--db", str(db), "--json"])
    assert out.exit_code == 1, out.output  # a report without that row is incomplete, and says so
    assert "'j:3'" in out.stderr and "db check --repair" in out.stderr
    doc = json.loads(out.stdout)
    assert doc["as_of"] and doc["complete"] is False and "'j:3'" in doc["skipped"][0]["reason"]
    # an import into that history works too, and leaves the unreadable row for the repair
    journal = _journal(tmp_path, runs=1)
    out = runner.invoke(cli, ["import", str(journal), "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["stored"]["new_events"] == 1


def test_db_check_names_the_bad_rows_and_repair_moves_them_out_with_a_copy(
    tmp_path: Path,
) -> None:
    db = tmp_path / "h.db"
    with Store(db) as store:
        store.save([_run(n) for n in range(1, 6)])
    _corrupt(db, "j:2")
    poisoned = {"kind": "run", "id": "j:4", "source": "journal", "distance_m": -1e12}
    poisoned["start"] = "9999-12-31T07:00:00Z"
    _corrupt(db, "j:4", json.dumps(poisoned))
    runner = CliRunner()
    out = runner.invoke(cli, ["db", "check", "--db", str(db)])
    assert out.exit_code == 1, out.output
    assert "3 readable events, 2 unreadable row(s)" in out.stdout
    assert "'j:2'" in out.stdout and "not JSON" in out.stdout
    assert "'j:4'" in out.stdout and "future" in out.stdout
    out = runner.invoke(cli, ["db", "check", "--repair", "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert sorted(r["id"] for r in report["repaired"]) == ["j:2", "j:4"]
    moved = Path(report["moved_to"])
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    kept = [json.loads(line) for line in moved.read_text().splitlines()]
    assert {k["id"]: k["body"] for k in kept}["j:2"] == "{not json"  # nothing lost: a copy
    again = runner.invoke(cli, ["db", "check", "--db", str(db)])
    assert again.exit_code == 0 and "3 readable events, 0 unreadable" in again.stdout


# -- a plugin's events -----------------------------------------------------------------------


PLUGIN = """
import datetime as dt
from stridewise.engine.events import Run
from stridewise.plugins import hookimpl

def _run(**kw):
    base = dict(id="bad:1", source="badfmt", distance_m=5000.0,
                start=dt.datetime(2026, 3, 1, 7, tzinfo=dt.timezone.utc))
    base.update(kw)
    return Run(**base)

class Adapter:
    name = "badfmt"
    description = "a plugin that yields what it should not"
    def recognise(self, path):
        return path.suffix == ".bad"
    def read(self, path):
        what = path.read_text().strip()
        if what == "future":
            yield _run(start=dt.datetime(9999, 12, 31, 7, tzinfo=dt.timezone.utc))
        elif what == "negative":
            yield _run(id="bad:2", distance_m=-1e12)
        elif what == "wrong types":
            yield {"kind": "run", "distance_m": 5000}
            yield "a run"
            yield None
        elif what == "good":
            yield _run(id="bad:ok", start=dt.datetime(2026, 3, 9, 7, tzinfo=dt.timezone.utc))

@hookimpl
def stridewise_register_adapters(register):
    register(Adapter())
"""


@pytest.fixture
def bad_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "sw_bad_events_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = pkg / "sw_bad_events_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sw-bad-events\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[stridewise]\nbadfmt = sw_bad_events_plugin\n")
    monkeypatch.syspath_prepend(str(pkg))
    yield tmp_path
    sys.modules.pop("sw_bad_events_plugin", None)


def test_a_plugins_event_dated_9999_or_minus_1e12_m_is_refused_by_name_and_the_rest_stored(
    bad_plugin: Path,
) -> None:
    tmp = bad_plugin
    (tmp / "a.bad").write_text("future")
    (tmp / "b.bad").write_text("negative")
    (tmp / "c.bad").write_text("good")
    journal = _journal(tmp, runs=2)
    db = tmp / "h.db"
    runner = CliRunner()
    args = [str(tmp / "a.bad"), str(tmp / "b.bad"), str(tmp / "c.bad"), str(journal)]
    out = runner.invoke(cli, ["import", *args, "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    skipped = json.loads(out.stdout)["skipped"]
    reasons = {Path(s["file"]).name: s["reason"] for s in skipped}
    assert "adapter badfmt" in reasons["a.bad"] and "future" in reasons["a.bad"]
    assert "adapter badfmt" in reasons["b.bad"] and "outside" in reasons["b.bad"]
    with Store(db) as store:
        ids = sorted(e.id for e in store.load())
        assert not store.problems
    assert "bad:ok" in ids and "bad:1" not in ids and "bad:2" not in ids
    assert len(ids) == 3
    # and the history still reports
    out = runner.invoke(cli, ["events", "--db", str(db)])
    assert out.exit_code == 0, out.output


def test_a_plugin_yielding_a_dict_a_string_and_none_is_named_and_the_journal_still_imports(
    bad_plugin: Path,
) -> None:
    tmp = bad_plugin
    (tmp / "w.bad").write_text("wrong types")
    journal = _journal(tmp, runs=3)
    db = tmp / "h.db"
    out = CliRunner().invoke(
        cli, ["import", str(tmp / "w.bad"), str(journal), "--db", str(db), "--json"]
    )
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    reasons = " | ".join(s["reason"] for s in summary["skipped"])
    for type_name in ("dict", "str", "NoneType"):
        assert f"adapter badfmt yielded 1 item(s) of type {type_name}" in reasons
    assert summary["stored"]["new_events"] == 3


# -- whose file, and who can read it ---------------------------------------------------------


def test_the_history_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "new" / "h.db"
    out = CliRunner().invoke(cli, ["import", str(_journal(tmp_path)), "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    # the default journal's folder is created (a folder named with --journal must exist)
    journal = tmp_path / "data" / "stridewise" / "journal.yaml"
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "STRIDEWISE_JOURNAL": None}
    out = CliRunner().invoke(cli, ["log", "shoe", "--id", "p", "--name", "P"], env=env)
    assert out.exit_code == 0, out.output
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700


def test_another_apps_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    other = tmp_path / "photos.db"
    conn = sqlite3.connect(other)
    with conn:
        conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO albums (name) VALUES ('summer')")
    conn.close()
    before = other.read_bytes()
    out = CliRunner().invoke(cli, ["import", str(_journal(tmp_path)), "--db", str(other)])
    assert out.exit_code == 2
    assert str(other) in out.stderr and "another application" in out.stderr
    assert "albums" in out.stderr
    assert other.read_bytes() == before
    # an app whose table happens to be called 'events' is not ours either
    conn = sqlite3.connect(tmp_path / "cal.db")
    with conn:
        conn.execute("CREATE TABLE events (id TEXT, title TEXT)")
    conn.close()
    with pytest.raises(StridewiseError, match="another application"):
        Store(tmp_path / "cal.db")


# -- nothing read, read-only, disk full ------------------------------------------------------


def test_import_where_every_input_failed_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("stridewise: journal\nruns: [{date: 2026-03-01, distance_km: lots}]\n")
    db = tmp_path / "h.db"
    runner = CliRunner()
    out = runner.invoke(cli, ["import", str(bad), str(tmp_path / "missing.fit"), "--db", str(db)])
    assert out.exit_code != 0
    assert "nothing could be read" in out.stderr
    out = runner.invoke(cli, ["import", str(bad), "--db", str(db), "--json"])
    assert out.exit_code != 0 and json.loads(out.stdout)["skipped"]
    # one readable input is enough
    out = runner.invoke(cli, ["import", str(bad), str(_journal(tmp_path)), "--db", str(db)])
    assert out.exit_code == 0, out.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_history_is_one_line_naming_the_file_and_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    with Store(db) as store:
        store.save([_run(1), _run(2)])
    db.chmod(0o400)
    if os.access(db, os.W_OK):  # root writes through file modes: open it read-only instead
        connect = sqlite3.connect

        def read_only(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            return connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

        monkeypatch.setattr(sqlite3, "connect", read_only)
    runner = CliRunner()
    out = runner.invoke(cli, ["import", str(_journal(tmp_path)), "--db", str(db)])
    assert out.exit_code == 2, out.output
    (line,) = out.stderr.strip().splitlines()
    assert str(db) in line and "read-only" in line and "internal error" not in line
    out = runner.invoke(cli, ["report", "--db", str(db), "--json"])  # reading still works
    assert out.exit_code == 0, out.output
    monkeypatch.undo()
    with Store(db) as store:
        assert sorted(e.id for e in store.load()) == ["j:1", "j:2"]


@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_file_and_the_history_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "h.db"
    with Store(db) as store:
        store.save([_run(1), _run(2)])
    real_init = Store.__init__

    def tiny_disk(self: Store, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        (pages,) = self._conn.execute("PRAGMA page_count").fetchone()
        self._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on growth

    monkeypatch.setattr(Store, "__init__", tiny_disk)
    journal = tmp_path / "big.yaml"
    for n in range(60):
        append_entry(
            journal, "run", {"date": f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}", "distance_km": 5}
        )
    out = CliRunner().invoke(cli, ["import", str(journal), "--db", str(db)])
    assert out.exit_code == 2, out.output
    (line,) = out.stderr.strip().splitlines()
    assert str(db) in line and "disk is full" in line and "internal error" not in line
    monkeypatch.setattr(Store, "__init__", real_init)
    with Store(db) as store:
        assert sorted(e.id for e in store.load()) == ["j:1", "j:2"]


# -- the profile counts for every date -------------------------------------------------------


def test_a_profile_logged_today_counts_for_yesterdays_run(tmp_path: Path) -> None:
    import datetime as dt

    from stridewise.engine.facts import History

    today = dt.date.today()
    yesterday = today - dt.timedelta(days=1)
    journal = tmp_path / "me.yaml"
    append_entry(journal, "run", {"date": yesterday.isoformat(), "distance_km": 8})
    append_entry(
        journal,
        "profile",
        {"recorded": today.isoformat(), "sex": "female", "birth_year": 1994, "weight_kg": 55},
    )
    append_entry(
        journal,
        "profile",  # a later entry that only gives the weight keeps what was told before
        {"recorded": today.isoformat(), "id": "later", "weight_kg": 56},
    )
    from stridewise.adapters.journal import read_journal

    history = History([e for e in read_journal(journal) if not hasattr(e, "reason")])
    facts = {f["type"]: f for f in history.facts(yesterday)}
    athlete = facts["athlete"]
    assert athlete["has_profile"] is True
    assert athlete["sex"] == "female" and athlete["age_y"] == yesterday.year - 1994
    assert "weight_kg" not in athlete  # weight changes with time: not known yesterday
    athlete_today = {f["type"]: f for f in history.facts(today)}["athlete"]
    assert athlete_today["sex"] == "female" and athlete_today["weight_kg"] == 56
    # the report's as-of is today by default, so the profile counts there too
    out = CliRunner().invoke(cli, ["report", str(journal), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["as_of"] == today.isoformat()
    assert not [c for c in report["cards"] if "add your profile" in c["summary"].lower()]


# -- what `stridewise log` takes, and what it says when it refuses ---------------------------


def test_log_profile_records_what_the_bone_risk_scores_ask_for(tmp_path: Path) -> None:
    import yaml

    journal = tmp_path / "j.yaml"
    out = CliRunner().invoke(
        cli,
        [
            *("log", "profile", "--journal", str(journal), "--recorded", "2026-03-01"),
            *("--sex", "female", "--birth-year", "1996", "--height-m", "1.66"),
            *("--weight-kg", "54", "--menarche-age", "15.5", "--periods-last-12-months", "7"),
            *("--bmd-z-score", "-1.3", "--eating-history", "some_restriction"),
            *("--prior-bsi", "front of shin,2024-05-01,left", "--prior-bsi", "navicular"),
            "--no-hormonal-contraception",
        ],
    )
    assert out.exit_code == 0, out.output
    (profile,) = yaml.safe_load(journal.read_text())["profile"]
    assert profile["menarche_age_y"] == 15.5 and profile["menses_last_12_months"] == 7
    assert profile["bmd_z_score"] == -1.3 and profile["disordered_eating"] == "some_restriction"
    assert profile["hormonal_contraception"] is False
    assert profile["prior_bsi"] == [
        {"site": "front of shin", "date": "2024-05-01", "side": "left"},
        {"site": "navicular"},
    ]
    report = CliRunner().invoke(cli, ["report", str(journal), "--json", "--as-of", "2026-03-01"])
    assert report.exit_code == 0, report.output
    shown = json.loads(report.stdout)
    rules = {c["rule_id"] for c in [*shown["cards"], *shown["suppressed"]]}
    assert "triad-items-missing" not in rules and "profile-missing" not in rules


@pytest.mark.parametrize(
    ("rule_id", "pack", "command"),
    [
        ("profile-missing", "recurrence-risk", "stridewise log profile --sex"),
        ("sex-unknown", "recurrence-risk", "stridewise log profile --sex"),
        ("triad-items-missing", "recurrence-risk", "--periods-last-12-months"),
        ("male-items-missing", "recurrence-risk", "--eating-history"),
        ("bmi-unknown", "nutrition", "stridewise log profile --height-m"),
    ],
)
def test_the_cards_asking_for_profile_data_name_the_exact_command(
    rule_id: str, pack: str, command: str
) -> None:
    import yaml

    name = pack.replace("-", "_") + ".yaml"
    doc = yaml.safe_load((Path(__file__).parent.parent / "rulesets" / name).read_text())
    (rule,) = [r for r in doc["rules"] if r["id"] == rule_id]
    assert command in rule["then"]["card"]["detail"]


def test_log_run_with_an_unknown_shoe_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    runner = CliRunner()
    out = runner.invoke(
        cli, ["log", "shoe", "--journal", str(journal), "--id", "peg", "--name", "Pegasus 40"]
    )
    assert out.exit_code == 0, out.output
    before = journal.read_text()
    out = runner.invoke(
        cli,
        [
            *("log", "run", "--journal", str(journal), "--date", "2026-03-02"),
            *("--distance-km", "8", "--shoe", "nosuchshoe"),
        ],
    )
    assert out.exit_code == 2
    assert "'nosuchshoe'" in out.stderr and "peg (Pegasus 40)" in out.stderr
    assert "stridewise log shoe --id nosuchshoe" in out.stderr
    assert journal.read_text() == before


def test_a_negative_distance_is_answered_in_km_and_names_the_entry(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    out = CliRunner().invoke(
        cli,
        [
            *("log", "run", "--journal", str(journal), "--date", "2026-03-02"),
            *("--distance-km", "-5"),
        ],
    )
    assert out.exit_code == 2
    message = " ".join(out.stderr.split())
    assert "-5 km is outside 0-350 km" in message
    assert "the new run entry of 2026-03-02 was not added" in message
    assert "row new entry" not in message and " m " not in message.replace("km", "")
    assert not journal.exists()


# -- explain reads what report reads ---------------------------------------------------------


def test_explain_without_paths_reads_the_stored_history_and_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "journal.yaml"
    monkeypatch.setenv("STRIDEWISE_JOURNAL", str(journal))
    db = tmp_path / "h.db"
    with Store(db) as store:
        store.save([_run(n) for n in range(1, 4)])
    append_entry(
        journal,
        "pain",
        {"date": "2026-03-03", "site": "shin", "severity": 6, "at_rest": True},
    )
    out = CliRunner().invoke(cli, ["explain", "--db", str(db), "--as-of", "2026-03-03", "--json"])
    assert out.exit_code == 0, out.output
    explained = json.loads(out.stdout)
    training = next(f for f in explained["facts"] if f["type"] == "training")
    assert training["load_7d_km"] > 15  # the stored runs
    fired = {r["rule"] for r in explained["rules"] if r["status"] == "fired"}
    assert any(key.endswith("pain-at-rest-or-night") for key in fired), fired  # the journal's pain


def test_db_check_where_there_is_no_history_says_so_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    out = CliRunner().invoke(cli, ["db", "check", "--db", str(db)])
    assert out.exit_code == 2 and "no history here yet" in out.stderr
    assert not db.exists()
