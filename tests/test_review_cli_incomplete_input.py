"""Review items 1 and 2: a report built from incomplete input, or without rule packs, must
never read as an all-clear. Skipped input is said in the text, the JSON and the HTML, and the
report exits non-zero; no rule packs (or no red-flag pack) is an error."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from stridewise.cli import cli

DATA = Path(__file__).parent / "data"
NIGHT_PAIN = DATA / "journals" / "return_to_run_night_pain.yaml"

#: One run and a pain report whose site is misspelt: the pain row cannot be read.
BAD_ROW = """\
stridewise: journal
runs: [{date: 2026-03-19, distance_km: 8, time: "42:30"}]
pain: [{date: 2026-03-20, site: shinn, severity: 6, at_night: true}]
"""
#: A journal whose YAML is broken (an unclosed flow mapping): none of it can be read.
BROKEN = """\
stridewise: journal
pain: [{date: 2026-11-19, site: shin, severity: 6, after_rest: true
runs: [
"""


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _bad_row(tmp_path: Path) -> Path:
    path = tmp_path / "j5.yaml"
    path.write_text(BAD_ROW, encoding="utf-8")
    return path


def _stored_history(tmp_path: Path) -> Path:
    """A history database holding a few runs (imported from a good journal)."""
    good = tmp_path / "runs.yaml"
    good.write_text(
        "stridewise: journal\nruns:\n"
        + "".join(
            f'  - {{date: 2026-11-{d:02d}, distance_km: 8, time: "42:00"}}\n' for d in (2, 5, 9)
        ),
        encoding="utf-8",
    )
    db = tmp_path / "history.sqlite3"
    code, _, err = run("import", str(good), "--db", str(db))
    assert code == 0, err
    return db


def test_report_with_one_unreadable_pain_row_says_incomplete_and_fails(tmp_path: Path) -> None:
    code, out, _ = run("report", str(_bad_row(tmp_path)), "--as-of", "2026-03-21")
    assert code == 1
    assert "incomplete" in out.lower()
    assert "pain[1]" in out  # the notice in the report itself names what was skipped
    assert "shinn" in out
    assert "No recommendations today" not in out
    assert "INCOMPLETE" in " ".join(out.strip().splitlines()[-2:])  # and again at the end


def test_report_json_with_one_unreadable_row_lists_it_and_fails(tmp_path: Path) -> None:
    code, out, _ = run("report", str(_bad_row(tmp_path)), "--as-of", "2026-03-21", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["complete"] is False
    (skipped,) = doc["skipped"]
    assert skipped["row"] == "pain[1]" and "shinn" in skipped["reason"]
    assert skipped["file"].endswith("j5.yaml")


def test_report_json_of_complete_input_says_complete() -> None:
    code, out, _ = run("report", str(NIGHT_PAIN), "--as-of", "2026-03-31", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["complete"] is True and doc["skipped"] == []


def test_report_html_with_one_unreadable_row_says_incomplete(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    code, _, _ = run(
        "report", str(_bad_row(tmp_path)), "--as-of", "2026-03-21", "--html", str(page)
    )
    assert code == 1
    html = page.read_text(encoding="utf-8")
    assert "This report is incomplete" in html
    assert "pain[1]" in html and "shinn" in html


def test_stored_history_with_a_broken_journal_says_incomplete_and_fails(tmp_path: Path) -> None:
    db = _stored_history(tmp_path)
    journal = tmp_path / "j2.yaml"
    journal.write_text(BROKEN, encoding="utf-8")
    env = {"STRIDEWISE_DB": str(db), "STRIDEWISE_JOURNAL": str(journal)}
    code, out, _ = run("report", "--as-of", "2026-11-21", env=env)
    assert code == 1
    assert "incomplete" in out.lower() and "not valid YAML" in out
    code, out, _ = run("report", "--as-of", "2026-11-21", "--json", env=env)
    assert code == 1
    doc = json.loads(out)
    assert doc["complete"] is False and "not valid YAML" in doc["skipped"][0]["reason"]


def test_blocking_every_rule_pack_is_an_error_not_an_all_clear(tmp_path: Path) -> None:
    env = {"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"}
    code, out, err = run("report", str(NIGHT_PAIN), "--as-of", "2026-03-31", env=env)
    assert code == 2
    assert "No recommendations today" not in out
    assert "no rule packs loaded" in err
    code, out, err = run("report", str(NIGHT_PAIN), "--as-of", "2026-03-31", "--json", env=env)
    assert code == 2 and out == ""
    assert "no rule packs loaded" in err


def test_report_without_the_red_flag_pack_is_an_error(tmp_path: Path) -> None:
    """An extra pack loads, but the built-in packs (the red flags among them) are blocked."""
    env = {"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"}
    extra = DATA / "packs" / "good"
    code, out, err = run(
        "report", str(NIGHT_PAIN), "--as-of", "2026-03-31", "--pack", str(extra), env=env
    )
    assert code == 2
    assert "red-flag" in err
    assert "No recommendations today" not in out


def test_events_and_explain_after_a_broken_journal_end_with_an_incomplete_error(
    tmp_path: Path,
) -> None:
    db = _stored_history(tmp_path)
    journal = tmp_path / "j2.yaml"
    journal.write_text(BROKEN, encoding="utf-8")
    env = {"STRIDEWISE_DB": str(db), "STRIDEWISE_JOURNAL": str(journal)}
    for args in (("events",), ("explain", "--as-of", "2026-11-21", "--json")):
        code, out, err = run(*args, env=env)
        assert code == 1, args
        assert out  # what could be read is still shown
        assert "error: incomplete: 1 input(s) could not be read" in err
