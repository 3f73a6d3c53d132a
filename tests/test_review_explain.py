"""`stridewise explain` reads input as `report` does: the journal `log --journal` wrote, an
--as-of error naming the option, skipped input ending in an "incomplete" error, and no
all-clear when the red-flag rules are not loaded."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from stridewise.cli import cli

JOURNAL = Path(__file__).parent / "data" / "journals" / "return_to_run_night_pain.yaml"


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env=env or {}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_explain_reads_the_journal_that_log_wrote_with_journal(tmp_path: Path) -> None:
    journal = tmp_path / "mine.yaml"
    code, _, err = run(
        [
            "log",
            "pain",
            "--journal",
            str(journal),
            "--date",
            "2026-03-20",
            "--site",
            "shin",
            "--severity",
            "5",
            "--at-night",
        ]
    )
    assert code == 0, err
    code, out, err = run(
        [
            "explain",
            "--journal",
            str(journal),
            "--db",
            str(tmp_path / "none.db"),
            "--as-of",
            "2026-03-21",
        ]
    )
    # no database at --db: the journal alone is not enough when --db names nothing
    assert code != 0 and "no stored history there" in err
    code, out, err = run(
        ["explain", "--journal", str(journal), "--as-of", "2026-03-21"],
        env={"STRIDEWISE_DB": str(tmp_path / "also-none.db")},
    )
    assert code == 0, err
    assert "symptoms/pain-at-rest-or-night" in out and "see a physician" in out


def test_a_bad_as_of_date_for_explain_names_the_option() -> None:
    code, _, err = run(["explain", str(JOURNAL), "--as-of", "yesterday"])
    assert code == 2
    assert "'--as-of'" in err and "'yesterday' is not a date" in err


def test_explain_of_a_file_with_a_skipped_row_ends_incomplete(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    journal.write_text(
        "runs:\n  - {date: 2026-03-19, distance_km: 8, time: '45:00'}\n"
        "pain:\n  - {date: 2026-03-20, site: shinn, severity: 6, at_night: true}\n",
        "utf-8",
    )
    code, out, err = run(["explain", str(journal), "--as-of", "2026-03-21"])
    assert "Explanation as of 2026-03-21" in out  # what could be read is explained
    assert code == 1 and "incomplete" in err and "shinn" in err


def test_explain_with_no_rule_packs_is_an_error() -> None:
    code, out, err = run(
        ["explain", str(JOURNAL), "--as-of", "2026-03-31"],
        env={"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"},
    )
    assert code == 2 and "Fired" not in out
    assert "no rule packs loaded" in err


def test_explain_of_a_pack_authors_own_pack_warns_that_red_flags_are_left_out(
    tmp_path: Path,
) -> None:
    pack = Path(__file__).parent / "data" / "packs" / "good"
    code, out, err = run(
        ["explain", str(JOURNAL), "--as-of", "2026-03-31", "--pack", str(pack)],
        env={"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"},
    )
    assert code == 0, err
    assert "Explanation as of 2026-03-31" in out
    assert "red-flag rules (see a physician) are not loaded" in err
