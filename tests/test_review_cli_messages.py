"""Review items 10, 11, 12 and 14: what a runner reads when a value is wrong, and in --help.

- a bad --as-of names the option;
- a misspelt body site gets a short "did you mean" line, not every word stridewise knows;
- `log pain --help` says the date format and what every flag means;
- a bad --prior-bsi names the value and the item.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stridewise.cli import cli
from stridewise.engine.events import normalize_site

NIGHT_PAIN = Path(__file__).parent / "data" / "journals" / "return_to_run_night_pain.yaml"


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("day", ["yesterday", "2026-02-30"])
@pytest.mark.parametrize("command", ["report", "demo"])
def test_a_bad_as_of_date_names_the_option(command: str, day: str) -> None:
    args = [command, "--as-of", day] + ([str(NIGHT_PAIN)] if command == "report" else [])
    code, _, err = run(*args)
    assert code == 2
    assert "'--as-of'" in err and f"{day!r}" in err and "2026-10-31" in err


def test_as_of_today_still_works() -> None:
    code, _, err = run("demo", "--as-of", "today", "--json")
    assert code == 0, err


def test_a_misspelt_site_suggests_the_word_in_one_short_line(tmp_path: Path) -> None:
    journal = tmp_path / "j.yaml"
    code, _, err = run(
        "log", "pain", "--journal", str(journal), "--date", "2026-11-21",
        "--site", "shnn", "--severity", "4",
    )  # fmt: skip
    assert code == 2
    assert "did you mean 'shin'" in err
    assert "ankle, foot" in err  # the regions
    assert "stridewise log pain --help" in err
    assert len(err.replace(str(journal), "")) < 400, err  # was ~1,900
    assert "under great toe" not in err  # not every word


def test_the_site_message_is_short_for_the_service_too() -> None:
    with pytest.raises(ValueError) as caught:
        normalize_site("front of shinn")
    message = str(caught.value)
    assert "did you mean 'front of shin'" in message
    assert "\n" not in message and len(message) < 320


def test_a_site_like_nothing_still_lists_the_regions() -> None:
    with pytest.raises(ValueError) as caught:
        normalize_site("xyzzy")
    message = str(caught.value)
    assert "did you mean" not in message
    assert "shin" in message and "thigh" in message


def test_log_pain_help_gives_the_date_format_and_explains_every_flag() -> None:
    code, out, _ = run("log", "pain", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "--date TEXT Date of the pain (YYYY-MM-DD)" in flat
    for flag in ("--at-rest", "--at-night", "--swelling", "--note"):
        line = flat.split(flag, 1)[1].split(" --", 1)[0]
        assert len(line.split()) >= 3, f"{flag} has no help: {line!r}"


@pytest.mark.parametrize("command", ["shoe", "nutrition", "injury", "profile"])
def test_every_log_date_option_says_its_format(command: str) -> None:
    code, out, _ = run("log", command, "--help")
    assert code == 0
    flat = " ".join(out.split())
    for option in ("--date", "--first-used", "--retired", "--cleared", "--recorded"):
        if f"{option} " in flat:
            assert "YYYY-MM-DD" in flat.split(f"{option} ", 1)[1].split(" --", 1)[0], option


def test_a_bad_prior_injury_date_names_the_value_and_the_item(tmp_path: Path) -> None:
    code, _, err = run(
        "log", "profile", "--journal", str(tmp_path / "j.yaml"),
        "--prior-bsi", "tibia,2024-05-01", "--prior-bsi", "shin,2024-13-01",
    )  # fmt: skip
    assert code == 2
    assert "'--prior-bsi'" in err
    assert "'shin,2024-13-01'" in err and "'2024-13-01'" in err
    assert "0:" not in err
    assert not (tmp_path / "j.yaml").exists()


def test_a_bad_prior_injury_side_or_site_names_the_value(tmp_path: Path) -> None:
    journal = str(tmp_path / "j.yaml")
    code, _, err = run("log", "profile", "--journal", journal, "--prior-bsi", "shin,2024-05-01,up")
    assert code == 2
    assert "'up'" in err and "left, right, both" in err
    code, _, err = run("log", "profile", "--journal", journal, "--prior-bsi", "shnn,2024-05-01")
    assert code == 2
    assert "'shnn,2024-05-01'" in err and "did you mean 'shin'" in err
