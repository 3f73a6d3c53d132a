"""A pack that fails during an evaluation is an error in the report, never a quieter report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from stridewise.cli import cli

BROKEN = """\
ruleset: {id: third-party, version: 1.0.0, title: Third party, status: draft}
sources: {src: {label: "A source for tests"}}
rules:
  - id: word-level
    when: [{fact: pain, where: {at_night: true}}]
    then: {derive: {fact: level, fields: {value: high}}}
  - id: number-level
    when: [{fact: pain, where: {at_night: false}}]
    then: {derive: {fact: level, fields: {value: 3}}}
  - id: pain-above-level
    when:
      - fact: level
      - fact: pain
        where: {severity: {gte: {ref: level.value}}}
    then:
      card: {indicator: info, advice: inform, summary: Pain above the level.,
             detail: Detail text., source: src}
"""
JOURNAL = """\
stridewise: journal
runs: [{date: 2026-03-28, distance_km: 8, time: "44:00"}]
pain: [{date: 2026-03-30, site: shin, severity: 8, at_night: true}]
"""


def run(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    pack = tmp_path / "third.yaml"
    pack.write_text(BROKEN, "utf-8")
    journal = tmp_path / "me.yaml"
    journal.write_text(JOURNAL, "utf-8")
    result = CliRunner().invoke(
        cli,
        ["report", str(journal), "--as-of", "2026-03-31", "--pack", str(pack), *extra],
        env={"STRIDEWISE_DB": str(tmp_path / "db.sqlite")},
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_failing_pack_is_named_as_an_error_and_the_red_flag_still_shows(tmp_path: Path) -> None:
    code, out, err = run(tmp_path)
    assert code == 1
    assert "error:" in err and "third-party" in err and "do not read it as complete" in err
    assert "CRITICAL" in out and "physician" in out


def test_the_json_report_carries_the_failure(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--json")
    assert code == 1
    doc = json.loads(out)
    assert [e["pack"] for e in doc["errors"]] == ["third-party"]
    assert doc["cards"][0]["indicator"] == "critical"


def test_a_pack_named_with_pack_that_does_not_load_stops_the_report(tmp_path: Path) -> None:
    pack = tmp_path / "typo.yaml"
    pack.write_text(BROKEN.replace("ruleset: {id", "rulset: {id"), "utf-8")
    journal = tmp_path / "me.yaml"
    journal.write_text(JOURNAL, "utf-8")
    result = CliRunner().invoke(
        cli, ["report", str(journal), "--pack", str(pack)], env={"STRIDEWISE_DB": "x.sqlite"}
    )
    assert result.exit_code == 2
    assert str(pack) in result.stderr and "Traceback" not in result.stderr


def test_the_api_raises_when_a_pack_failed_and_keeps_what_came_out(tmp_path: Path) -> None:
    import datetime as dt

    import pytest

    import stridewise
    from stridewise.engine.rules import builtin_pack_files, load_pack, parse_pack

    packs = [load_pack(f) for f in builtin_pack_files()] + [parse_pack(BROKEN, origin="third")]
    engine = stridewise.Engine(packs)
    events = stridewise.load_events(
        [
            {
                "kind": "pain",
                "id": "p",
                "source": "t",
                "date": "2026-03-30",
                "site": "shin",
                "severity": 8,
                "at_night": True,
            }
        ]
    )
    with pytest.raises(stridewise.IncompleteEvaluation) as info:
        engine.evaluate(events, dt.date(2026, 3, 31))
    partial = info.value.evaluation
    assert partial.failed_packs == ("third-party",)
    assert partial.cards[0].indicator == "critical"
    with pytest.raises(stridewise.IncompleteEvaluation):
        list(engine.timeline(events, dt.date(2026, 3, 30), dt.date(2026, 3, 31)))
