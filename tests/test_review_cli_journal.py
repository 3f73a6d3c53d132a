"""Review items 7, 8, 9 and 13: where the journal and the history are read and written.

- report reads the journal named with --journal (as log writes it);
- an explicitly given journal in a folder that does not exist is an error, naming the folder
  (only stridewise's own data folder is created);
- reading creates nothing, and an invalid journal is called invalid, with the reason;
- the README's `stridewise log` lines work, in order, on a fresh journal.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from stridewise.cli import cli

README = Path(__file__).parent.parent / "README.md"


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _fresh(tmp_path: Path) -> dict[str, str | None]:
    """No journal or history from the environment: the user data folder is under tmp_path."""
    return {
        "STRIDEWISE_JOURNAL": None,
        "STRIDEWISE_DB": None,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "HOME": str(tmp_path / "home"),
    }


def test_report_reads_the_journal_that_log_wrote_with_journal(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    mine = tmp_path / "x" / "mine.yaml"
    mine.parent.mkdir()
    code, _, err = run(
        "log", "pain", "--journal", str(mine), "--date", "2026-11-20", "--site", "shin",
        "--severity", "4", "--at-night", env=env,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run(
        "report", "--journal", str(mine), "--as-of", "2026-11-21", "--json", env=env
    )
    assert code == 0, err
    cards = json.loads(out)["cards"]
    assert any(c["indicator"] == "critical" for c in cards)


def test_report_with_a_journal_that_does_not_exist_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = run("report", "--journal", str(missing), env=_fresh(tmp_path))
    assert code == 2
    assert f"--journal {missing}" in err and "no such journal file" in err


def test_log_to_a_journal_in_a_missing_folder_names_the_folder_and_creates_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "nonexistent" / "dir" / "j.yaml"
    code, out, err = run(
        "log", "pain", "--journal", str(target), "--date", "2026-11-21", "--site", "shin",
        "--severity", "3", env=_fresh(tmp_path),
    )  # fmt: skip
    assert code == 2, out
    assert str(target.parent) in err and "does not exist" in err
    assert not (tmp_path / "nonexistent").exists()


def test_log_to_a_journal_from_the_environment_in_a_missing_folder_is_refused(
    tmp_path: Path,
) -> None:
    target = tmp_path / "gone" / "j.yaml"
    env = {**_fresh(tmp_path), "STRIDEWISE_JOURNAL": str(target)}
    code, _, err = run("log", "shoe", "--id", "peg", "--name", "Pegasus", env=env)
    assert code == 2
    assert "STRIDEWISE_JOURNAL" in err and str(target.parent) in err
    assert not target.parent.exists()


def test_log_without_journal_creates_the_user_data_folder(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    code, _, err = run("log", "shoe", "--id", "peg", "--name", "Pegasus", env=env)
    assert code == 0, err
    assert (tmp_path / "data" / "stridewise" / "journal.yaml").is_file()


def test_report_with_nothing_stored_creates_no_database(tmp_path: Path) -> None:
    env = _fresh(tmp_path)
    code, _, err = run("report", env=env)
    assert code == 2
    assert "no history database at" in err
    assert not (tmp_path / "data").exists()  # nothing created by reading


def test_report_with_only_an_invalid_journal_calls_it_invalid(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    journal.write_text("stridewise: journal\npain: [{date: 2026-11-19\nruns: [\n", "utf-8")
    env = {
        **_fresh(tmp_path),
        "STRIDEWISE_DB": str(tmp_path / "none.sqlite3"),
        "STRIDEWISE_JOURNAL": str(journal),
    }
    code, _, err = run("report", env=env)
    assert code == 2
    assert f"the journal {journal} is invalid: not valid YAML" in err
    assert "no journal at" not in err
    assert not (tmp_path / "none.sqlite3").exists()


def test_readme_log_commands_work_in_order_on_a_fresh_journal(tmp_path: Path) -> None:
    """Every full `stridewise log ...` line of the README's command list, as written."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    lines = [
        line.split("#", 1)[0].strip()
        for line in block.splitlines()
        if re.match(r"stridewise log \w+ --", line.strip())
    ]
    assert any(" run " in line for line in lines) and any(" shoe " in line for line in lines)
    env = {**_fresh(tmp_path), "STRIDEWISE_JOURNAL": str(tmp_path / "fresh.yaml")}
    for line in lines:
        code, _, err = run(*shlex.split(line)[1:], env=env)
        assert code == 0, f"{line}: {err}"
