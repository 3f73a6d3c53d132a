"""The command line, driven through click's runner and once as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from stridewise.cli import cli

DATA = Path(__file__).parent / "data"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_demo_report_is_readable_and_sourced() -> None:
    code, out, _ = run("demo")
    assert code == 0
    assert "Sample athlete as of 2026-10-31" in out
    assert "WARNING" in out
    assert "Source:" in out and "Why:" in out
    assert "Pegasus 40" in out


def test_demo_json_cards() -> None:
    code, out, _ = run("demo", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["as_of"] == "2026-10-31"
    shown = {f"{c['ruleset_id']}/{c['rule_id']}" for c in doc["cards"]}
    lead = doc["cards"][0]
    assert lead["ruleset_id"] == "symptoms" and lead["advice"] == "stop"
    assert "symptoms/pain-lingers" in lead["merged"]
    # The load spike fired too: it is in the JSON, set aside, naming what replaced it and why.
    spikes = [c for c in doc["suppressed"] if c["ruleset_id"] == "training-load"]
    assert spikes and all(c["suppressed_by"] in shown for c in spikes)
    assert all("stop running" in c["suppression"] for c in spikes if c["advice"] == "reduce")
    for card in doc["cards"] + doc["suppressed"]:
        assert {"uuid", "summary", "indicator", "detail", "source", "facts", "advice"} <= set(card)
        assert card["source"]["label"]
    assert all("suppressed_by" not in c for c in doc["cards"])


def test_log_then_report_on_a_journal(tmp_path: Path) -> None:
    journal = tmp_path / "me.yaml"
    env = {"STRIDEWISE_JOURNAL": str(journal)}
    code, out, _ = run(
        "log", "shoe", "--id", "peg", "--name", "Pegasus", "--start-distance-km", "520", env=env
    )
    assert code == 0 and "added shoe" in out
    code, _, _ = run(
        "log",
        "run",
        "--date",
        "2026-03-02",
        "--distance-km",
        "8",
        "--time",
        "42:30",
        "--shoe",
        "peg",
        env=env,
    )
    assert code == 0
    code, _, _ = run(
        "log",
        "pain",
        "--date",
        "2026-03-02",
        "--site",
        "shin",
        "--severity",
        "5",
        "--at-night",
        env=env,
    )
    assert code == 0
    code, out, _ = run("report", str(journal), "--json", "--as-of", "2026-03-02")
    assert code == 0
    cards = json.loads(out)["cards"]
    assert cards[0]["indicator"] == "critical"
    assert any(c["rule_id"] == "shoe-worn" for c in cards)


def test_failed_log_leaves_journal_unchanged(tmp_path: Path) -> None:
    journal = tmp_path / "me.yaml"
    run("log", "shoe", "--id", "peg", "--name", "Pegasus", "--journal", str(journal))
    before = journal.read_text()
    code, _, err = run(
        "log", "run", "--date", "2099-01-01", "--distance-km", "8", "--journal", str(journal)
    )
    assert code == 2
    assert "in the future" in err and "Traceback" not in err
    assert journal.read_text() == before


def test_events_jsonl_and_import_summary(tmp_path: Path) -> None:
    journal = tmp_path / "me.yaml"
    run("log", "run", "--date", "2026-03-02", "--distance-km", "8", "--journal", str(journal))
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01garbage")
    code, out, _ = run("events", str(journal))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["kind"] == "run" and lines[0]["distance_m"] == 8000.0
    code, out, _ = run("import", str(tmp_path), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["activities_by_source"] == {"journal": 1}
    assert any(s["file"].endswith("junk.bin") for s in summary["skipped"])


def test_report_with_nothing_importable_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("report", str(tmp_path / "missing.fit"))
    assert code == 2
    assert "nothing was imported" in err
    assert "no such file" in err


def test_plugins_lists_builtins_with_versions() -> None:
    code, out, _ = run("plugins", "--json")
    assert code == 0
    doc = json.loads(out)
    names = {p["name"]: p for p in doc["plugins"]}
    assert (
        names["journal"]["version"] and "stridewise_register_adapters" in names["journal"]["hooks"]
    )
    assert "journal" in doc["adapters"]


def test_schema_command_prints_json_schema() -> None:
    code, out, _ = run("schema")
    assert code == 0
    assert set(json.loads(out)["$defs"]) >= {"run", "pain", "shoe", "profile"}


def test_console_script_runs_as_a_real_process() -> None:
    exe = shutil.which("stridewise", path=str(Path(sys.executable).parent))
    assert exe, "the console script is installed next to the interpreter"
    proc = subprocess.run([exe, "demo", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cards"]


def test_demo_with_a_clinic_profile_and_a_decision_log(tmp_path: Path) -> None:
    profile = tmp_path / "clinic.yaml"
    profile.write_text(
        "clinic: {id: demo-clinic, name: Demo Clinic}\n"
        "parameters: {footwear: {replace_km: 800}}\n"
        "disabled: [training-load/acwr-spike]\n"
    )
    log = tmp_path / "decisions.jsonl"
    code, out, _ = run("demo", "--json", "--profile", str(profile), "--decision-log", str(log))
    assert code == 0
    doc = json.loads(out)
    keys = {f"{c['ruleset_id']}/{c['rule_id']}" for c in doc["cards"] + doc["suppressed"]}
    assert "training-load/acwr-spike" not in keys
    assert "footwear/shoe-worn" not in keys and "footwear/shoe-approaching" in keys
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries[-1]["decision_id"] == doc["decision_id"]
    assert "demo" not in json.dumps(entries[-1]["athlete"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("clinic: {id: x, name: X}\nparameters: {footwear: {replace_km: 5}}\n")
    code, _, err = run("demo", "--profile", str(bad))
    assert code == 2 and "replace_km" in err and "Traceback" not in err


def test_log_then_report_without_paths_reads_the_journal(tmp_path: Path) -> None:
    env = {"STRIDEWISE_JOURNAL": str(tmp_path / "j.yaml"), "STRIDEWISE_DB": str(tmp_path / "h.db")}
    run(
        "log",
        "pain",
        "--date",
        "2026-03-02",
        "--site",
        "shin",
        "--severity",
        "6",
        "--at-rest",
        env=env,
    )
    code, out, _ = run("report", "--json", "--as-of", "2026-03-02", env=env)
    assert code == 0
    assert json.loads(out)["cards"][0]["rule_id"] == "pain-at-rest-or-night"
