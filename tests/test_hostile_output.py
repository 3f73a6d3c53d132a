"""Whatever a user, a file, a clinic or a plugin names things, the output survives and says it.

Names are echoed literally: rich markup in them (``[/]``, ``[bold]``) is never interpreted
(an unmatched ``[/]`` used to raise MarkupError and kill the whole report, ``--json``
included), and control characters (ANSI escapes that clear the screen, bidi overrides) never
reach the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import stridewise.cli_shell as shell_module
from stridewise.cli import cli
from stridewise.plugins import PluginHost, hookimpl

DATA = Path(__file__).parent / "data"

#: Markup, an ANSI "clear screen, cursor home" and a right-to-left override.
HOSTILE = "[/]x[bold] \x1b[2J\x1b[HALL CLEAR\u202e"
FOLDER = "runs [/]b[red]"
AS_OF = "2026-03-29"  # the last day of the journals below


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    # color=True: click would strip ANSI codes from a pipe, not from a terminal.
    return CliRunner().invoke(cli, list(args), env=env, color=True)


def _clean(result: Result, *, json_out: bool = False) -> None:
    """No traceback, no crash, and no control character reached the output.

    JSON output is data: it keeps what the input said (JSON itself escapes the C0 controls).
    """
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.exception!r}\n{result.output}")
    for text in (result.stdout, result.stderr):
        assert "MarkupError" not in text
        assert "internal error" not in text
        assert "\x1b" not in text, repr(text)
    assert "\u202e" not in result.stderr
    if not json_out:
        assert "\u202e" not in result.stdout


def _journal(folder: Path, *, night_pain: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "journal [b].yaml"
    runs = "\n".join(
        f"  - {{date: 2026-03-{d:02d}, distance_km: 6, time: '36:00', shoe: peg}}"
        for d in range(2, 29, 2)
    )
    pain = (
        "pain:\n  - {date: 2026-03-29, site: shin, severity: 4, at_night: true}\n"
        if night_pain
        else ""
    )
    path.write_text(
        "stridewise: journal\n"
        "shoes:\n"
        f"  - {{id: peg, name: {json.dumps(HOSTILE)}, first_used: 2025-06-01,"
        " start_distance_km: 900}\n"
        "runs:\n"
        f"{runs}\n"
        f"  - {{date: 2026-03-29, distance_km: 5, time: '30:00', surface: {json.dumps(HOSTILE)}}}\n"
        + pain,
        encoding="utf-8",
    )
    return path


def test_report_json_survives_markup_and_escapes_in_names(tmp_path: Path) -> None:
    journal = _journal(tmp_path / FOLDER)
    result = _run("report", str(journal), "--json", "--as-of", AS_OF)
    _clean(result, json_out=True)
    assert result.exit_code == 1  # the row with the hostile surface is skipped: incomplete
    doc = json.loads(result.stdout)
    assert any(c["indicator"] == "critical" for c in doc["cards"])
    # The row with the hostile surface is skipped, and the skip is said, naming the folder.
    assert "skipped" in result.stderr and "[/]b[red]" in result.stderr


def test_report_shows_the_night_pain_card_beside_a_hostile_shoe_name(tmp_path: Path) -> None:
    journal = _journal(tmp_path / FOLDER)
    result = _run("report", str(journal), "--as-of", AS_OF)
    _clean(result)
    assert result.exit_code == 1  # the row with the hostile surface is skipped: incomplete
    assert "INCOMPLETE" in result.stdout
    assert "CRITICAL" in result.stdout
    # The shoe's name is shown as typed, minus the control characters.
    flat = " ".join(result.stdout.split())
    assert "[/]x[bold]" in flat and "ALL CLEAR" in flat


def test_stored_history_and_journal_with_hostile_names_report(tmp_path: Path) -> None:
    journal = _journal(tmp_path / FOLDER)
    env = {"STRIDEWISE_JOURNAL": str(journal), "STRIDEWISE_DB": str(tmp_path / "h[/]x.db")}
    _clean(_run("import", str(journal), env=env))
    for args in (("report",), ("report", "--all"), ("events",)):
        result = _run(*args, env=env)
        _clean(result, json_out=args == ("events",))
        assert result.exit_code == 1  # the row with the hostile surface is skipped: incomplete


def test_import_names_a_hostile_folder_and_file_literally(tmp_path: Path) -> None:
    folder = tmp_path / FOLDER
    folder.mkdir(parents=True)
    (folder / "bad [b].fit").write_bytes(b"\x0e\x10" + b"\x00" * 10 + b".FIT" + b"\x00" * 20)
    shutil.copy(DATA / "fit" / "fitparse__garmin-fenix-5-run.fit", folder / "run[i].fit")
    result = _run("import", str(folder), "--db", str(tmp_path / "db [b]x.sqlite3"))
    _clean(result)
    assert "bad [b].fit" in result.stderr
    assert "db [b]x.sqlite3" in " ".join(result.stdout.split())
    result = _run("import", str(folder), "--json", "--no-store")
    _clean(result, json_out=True)
    doc = json.loads(result.stdout)
    assert doc["events_by_kind"] == {"run": 1}
    assert [s["file"].rpartition("/")[2] for s in doc["skipped"]] == ["bad [b].fit"]


def test_an_error_naming_a_hostile_path_is_one_clear_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "no [/] such\x1b[2J")
    result = _run("events", missing)
    _clean(result)
    assert result.exit_code == 2
    assert "error:" in result.stderr and "no [/] such" in result.stderr


def test_clinic_wording_with_markup_is_printed_literally(tmp_path: Path) -> None:
    profile = tmp_path / "clinic [/]x" / "p[b].yaml"
    profile.parent.mkdir(parents=True)
    packs = ("footwear", "nutrition", "recurrence-risk", "return-to-run", "symptoms")
    profile.write_text(
        "clinic: {id: hostile, name: 'Riverside [/] Sports'}\n"
        "packs: {" + ", ".join(f"{p}: '*'" for p in packs) + ", training-load: '*'}\n"
        "wording:\n"
        "  footwear/shoe-worn:\n"
        '    summary: "Clinic [/][blink] \\e[2J: your {shoe.name} pair is worn."\n',
        encoding="utf-8",
    )
    journal = _journal(tmp_path / "j", night_pain=False)
    result = _run("report", str(journal), "--profile", str(profile), "--as-of", AS_OF)
    _clean(result)
    assert "Clinic [/][blink]" in result.stdout
    result = _run("rulesets", "profile", str(profile))
    _clean(result)
    assert "Riverside [/] Sports" in result.stdout


def _hostile_pack(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pack = folder / "hostile [b].yaml"
    text = (DATA / "packs" / "good" / "alpha.yaml").read_text(encoding="utf-8")
    pack.write_text(
        text.replace("id: alpha", "id: hostile-alpha")
        .replace(
            '"Pain at night or at rest: see a physician."',
            json.dumps(HOSTILE + " see a physician."),
        )
        .replace('"Source B (test fixture)"', json.dumps("Source [/] B \x1b[31m"))
        .replace('"Stop running and see a physician."', json.dumps("Stop. [/] \x1b[2J")),
        encoding="utf-8",
    )
    return pack


def test_card_text_from_a_pack_is_printed_literally(tmp_path: Path) -> None:
    pack = _hostile_pack(tmp_path / FOLDER)
    journal = _journal(tmp_path / "j")
    log = tmp_path / "decisions [/]x" / "d[b].jsonl"
    log.parent.mkdir(parents=True)
    result = _run(
        "report", str(journal), "--pack", str(pack), "--decision-log", str(log), "--all",
        "--as-of", AS_OF,
    )  # fmt: skip
    _clean(result)
    assert result.exit_code == 1  # the row with the hostile surface is skipped: incomplete
    assert "Source [/] B" in result.stdout
    result = _run("explain", str(journal), "--pack", str(pack), "--decision-log", str(log))
    _clean(result)
    assert result.exit_code == 1  # explained, then the same skipped row: incomplete
    assert "decisions [/]x" in " ".join(result.stdout.split())
    result = _run("rulesets", "list", "--pack", str(pack))
    _clean(result)
    assert result.exit_code == 0


def test_log_echo_carries_no_control_characters(tmp_path: Path) -> None:
    journal = tmp_path / "j [/]\x1b[2J" / "j.yaml"
    journal.parent.mkdir(parents=True)  # a folder named with --journal must exist
    result = _run("log", "shoe", "--journal", str(journal), "--id", "p[/]", "--name", HOSTILE)
    _clean(result)
    assert result.exit_code == 0 and "added shoe" in result.stdout
    result = _run(
        "log", "run", "--journal", str(journal), "--date", "2026-03-02", "--distance-km", "5",
        "--shoe", "p[/]",
    )  # fmt: skip
    _clean(result)
    assert result.exit_code == 0


class _HostileAdapter:
    name = "hostile[/]"
    description = "reads [/] nothing \x1b[2J"

    def recognise(self, path: Path) -> bool:
        return False

    def read(self, path: Path) -> Iterator[Any]:
        return iter(())


class _HostilePlugin:
    @hookimpl
    def stridewise_register_adapters(self, register: Callable[[Any], None]) -> None:
        register(_HostileAdapter())


class _BrokenPlugin:
    @hookimpl
    def stridewise_register_adapters(self, register: Callable[[Any], None]) -> None:
        raise RuntimeError("broken [/] plugin \x1b[2J")


def test_plugin_names_and_errors_are_printed_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    def host(**kwargs: Any) -> PluginHost:
        h = PluginHost(**kwargs)
        h.register(_HostilePlugin(), name="evil[/]\x1b[2J", version="1[/]")
        h.register(_BrokenPlugin(), name="broken[/]")
        return h

    monkeypatch.setattr(shell_module, "PluginHost", host)  # the one host of a command run
    result = _run("plugins")
    _clean(result)
    assert "reads [/] nothing" in " ".join(result.stdout.split())
    assert "broken [/] plugin" in result.stderr
    result = _run("plugins", "--json")
    _clean(result, json_out=True)
    assert json.loads(result.stdout)["errors"]
    result = _run("demo")
    _clean(result)
    assert result.exit_code == 0


# ---------------------------------------------------------------------------------------------
# Inputs that used to end as "internal error ... This is a bug"
# ---------------------------------------------------------------------------------------------


def _import_json(*paths: Path) -> tuple[Result, dict[str, Any]]:
    result = _run("import", *map(str, paths), "--json", "--no-store")
    _clean(result, json_out=True)
    return result, json.loads(result.stdout)


def test_a_date_that_overflows_with_its_offset_is_one_skipped_row(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    journal.write_text(
        "stridewise: journal\n"
        "runs:\n"
        "  - {date: 2026-03-02, distance_km: 5, time: '30:00'}\n"
        "  - {date: 0001-01-01, distance_km: 5, time: '30:00', utc_offset: '+08:00'}\n"
        "  - {date: 2026-03-04, distance_km: 6, time: '36:00'}\n",
        encoding="utf-8",
    )
    result, doc = _import_json(journal)
    assert result.exit_code == 0
    assert doc["events_by_kind"] == {"run": 2}
    assert [(s["file"], s["row"]) for s in doc["skipped"]] == [(str(journal), "runs[2]")]
    assert "0001-01-01" in doc["skipped"][0]["reason"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deeply_nested_journal_is_one_clear_error(tmp_path: Path, suffix: str) -> None:
    journal = tmp_path / f"deep{suffix}"
    depth = 100_000
    if suffix == ".json":
        journal.write_text(
            '{"stridewise": "journal", "runs": ' + "[" * depth + "]" * depth + "}",
            encoding="utf-8",
        )
    else:
        journal.write_text("stridewise: journal\nruns: " + "[" * depth + "]" * depth + "\n")
    result = _run("import", str(journal), "--no-store")
    _clean(result)
    assert str(journal) in result.stderr
    assert "nested" in result.stderr


def test_yaml_aliases_in_a_journal_are_refused_at_once(tmp_path: Path) -> None:
    """Billion laughs: nine levels of ten aliases each would expand to 10**9 entries."""
    lines = ["stridewise: journal", "x0: &a0 {date: 2026-03-02, distance_km: 5}"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"x{i}: &a{i} [{refs}]")
    lines.append("runs: *a9")
    journal = tmp_path / "laughs.yaml"
    journal.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok = tmp_path / "ok.yaml"
    ok.write_text("runs:\n  - {date: 2026-03-02, distance_km: 5, time: '30:00'}\n")
    start = time.monotonic()
    _, doc = _import_json(journal, ok)
    assert time.monotonic() - start < 10
    assert doc["events_by_kind"] == {"run": 1}
    (skip,) = doc["skipped"]
    assert skip["file"] == str(journal) and "alias" in skip["reason"]


def test_logging_a_run_that_overflows_with_its_offset_is_one_error_line(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    args = ("log", "run", "--journal", str(journal), "--distance-km", "5", "--date")
    assert _run(*args, "2026-03-02").exit_code == 0
    result = _run(*args, "0001-01-01", "--utc-offset", "+08:00")
    _clean(result)
    assert result.exit_code == 2
    assert "0001-01-01" in result.stderr and str(journal) in result.stderr
    assert "2026-03-02" in journal.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Inputs that used to hang: FIFOs, looping plugins, and a killed import's worker pool
# ---------------------------------------------------------------------------------------------

FIT_RUN = DATA / "fit" / "fitparse__garmin-fenix-5-run.fit"


def _cli_process(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, so a hang fails the test instead of blocking it."""
    return subprocess.run(
        [sys.executable, "-m", "stridewise", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_fifo_named_like_a_fit_file_is_skipped_not_waited_for(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.fit")
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "y.fit")
    shutil.copy(FIT_RUN, folder / "run.fit")
    done = _cli_process("import", str(tmp_path / "x.fit"), str(folder), "--json", "--no-store")
    doc = json.loads(done.stdout)
    assert doc["events_by_kind"] == {"run": 1}
    reasons = {Path(s["file"]).name: s["reason"] for s in doc["skipped"]}
    assert set(reasons) == {"x.fit", "y.fit"}
    assert all("named pipe" in r for r in reasons.values())


class _Looping:
    """A plugin adapter with a bug: it never returns for some files."""

    name = "looping"
    description = "loops on *.hang (recognise) and *.loop (read)"

    def recognise(self, path: Path) -> bool:
        while path.suffix == ".hang":
            time.sleep(0.01)
        return path.suffix == ".loop"

    def read(self, path: Path) -> Iterator[Any]:
        while True:
            time.sleep(0.01)
        yield  # pragma: no cover


class _LoopingPlugin:
    @hookimpl
    def stridewise_register_adapters(self, register: Callable[[Any], None]) -> None:
        register(_Looping())


@pytest.mark.parametrize("suffix", [".hang", ".loop"])
def test_a_plugin_that_loops_forever_is_abandoned_and_named(tmp_path: Path, suffix: str) -> None:
    from stridewise.importer import import_paths

    stuck = [tmp_path / f"a{i}{suffix}" for i in range(3)]
    for path in stuck:
        path.write_text("x")
    good = tmp_path / "run.fit"
    shutil.copy(FIT_RUN, good)
    host = PluginHost()
    host.register(_LoopingPlugin(), name="looping-plugin")
    start = time.monotonic()
    result = import_paths([*stuck, good], host, file_timeout=0.5)
    assert time.monotonic() - start < 8
    assert result.events_by_kind == {"run": 1}
    said = " ".join(str(s) for s in result.skipped)
    assert "adapter looping" in said and "0.5 s" in said
    assert {Path(s.file).name for s in result.skipped} == {p.name for p in stuck}


_KILLED_IMPORT = """
import sys, time
from pathlib import Path
from stridewise.importer import import_paths
from stridewise.plugins import PluginHost

def tick(path):
    print("ready", flush=True)
    time.sleep(120)

if __name__ == "__main__":
    files = sorted(Path(sys.argv[1]).glob("*.fit"))
    import_paths(files, PluginHost(), progress=tick, workers=2)
"""


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        kids = {p for p, parent in parents.items() if parent == current} - found
        found |= kids
        todo.extend(kids)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.slow
def test_killing_an_import_leaves_no_worker_process_running(tmp_path: Path) -> None:
    for i in range(20):
        shutil.copy(FIT_RUN, tmp_path / f"run{i:02d}.fit")
    script = tmp_path / "killed_import.py"
    script.write_text(_KILLED_IMPORT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        helpers = _descendants(proc.pid)
        assert helpers, "the import should have started worker processes"
    finally:
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in helpers):
        time.sleep(0.2)
    left = [p for p in helpers if _running(p)]
    for pid in left:  # do not leave them behind for the rest of the suite
        os.kill(pid, 9)
    assert not left, "worker processes outlived the killed import"
