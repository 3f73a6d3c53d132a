"""Packs as products: inventory, the pack test runner with coverage, and the linter."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from stridewise.cli_rulesets import rulesets
from stridewise.engine.packs import (
    Finding,
    TestReport,
    discover_packs,
    lint_packs,
    run_pack_tests,
)
from stridewise.engine.rules import load_packs

PACKS = Path(__file__).parent / "data" / "packs"


def run(*args: str, builtin: bool = True) -> tuple[int, str, str]:
    env = None if builtin else {"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"}
    result = CliRunner().invoke(rulesets, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def report_for(folder: str) -> TestReport:
    packs, errors = load_packs([PACKS / folder])
    return run_pack_tests(packs, load_errors=errors)


# -- inventory -----------------------------------------------------------------------------------


def test_discover_tags_each_pack_with_its_provider() -> None:
    entries, errors = discover_packs([("acme", PACKS / "good"), ("path", PACKS / "partial")])
    assert errors == []
    rows = {e.pack.id: e.to_dict() for e in entries}
    assert rows["alpha"]["provider"] == "acme"
    assert rows["partial"]["provider"] == "path"
    alpha = rows["alpha"]
    assert alpha["version"] == "1.2.0"
    assert alpha["status"] == "active"
    assert alpha["reviewed"] == "2026-11-01"
    assert alpha["rules"] == 4 and alpha["score_bands"] == 0 and alpha["tests"] == 4
    assert alpha["origin"].endswith("good/alpha.yaml")
    assert len(alpha["content_hash"]) == 64
    assert rows["beta"]["rules"] == 2 and rows["beta"]["score_bands"] == 2


def test_list_json_shows_builtin_packs_and_failures_with_file_and_line() -> None:
    code, out, _ = run("list", "--json", "--pack", str(PACKS / "broken"))
    assert code == 0
    doc = json.loads(out)
    by_id = {p["id"]: p for p in doc["packs"]}
    assert by_id["training-load"]["provider"] == "builtin_rulesets"
    assert by_id["ok-pack"]["provider"] == "path"
    failed = {Path(e["file"]).name: e for e in doc["errors"]}
    assert failed["a_bad_yaml.yaml"]["line"] == 4
    assert "not valid YAML" in failed["a_bad_yaml.yaml"]["reason"]
    assert failed["b_bad_schema.yaml"]["line"] == 11  # the stray key itself, as in profiles
    assert "'whenn' was unexpected" in failed["b_bad_schema.yaml"]["reason"]
    assert failed["c_unknown_field.yaml"]["line"] == 16
    assert "has no field 'acwr'" in failed["c_unknown_field.yaml"]["reason"]


def test_list_table_shows_short_hash_and_origin() -> None:
    code, out, err = run("list", "--pack", str(PACKS / "good"), builtin=False)
    assert code == 0
    entries, _ = discover_packs([("path", PACKS / "good")])
    alpha = next(e.pack for e in entries if e.pack.id == "alpha")
    line = next(row for row in out.splitlines() if " alpha " in row)
    assert "1.2.0" in line and "2026-11-01" in line
    assert alpha.content_hash[:12] in line and alpha.content_hash[:13] not in line
    assert "alpha.yaml (path)" in line
    assert err == ""


# -- pack test runner ------------------------------------------------------------------------------


def test_good_packs_pass_with_full_coverage() -> None:
    report = report_for("good")
    assert [c.case for c in report.cases] == [
        "quiet week",
        "long sore week",
        "lower threshold, from events",
        "night pain",
        "low score",
        "high score",
    ]
    assert report.failures == []
    assert report.percent == 100.0
    assert report.ok(100)
    fired = {c.case: c.fired for c in report.cases}
    assert fired["long sore week"] == ("long-week", "sore-and-long")
    # score bands count as rules: they are covered by the cases whose score lands in them
    assert fired["high score"] == ("load-points", "pain-points", "risk-high")
    cards = {c.case: c.cards for c in report.cases}
    assert cards["night pain"] == (("night-or-rest", "critical"),)


def test_events_cases_are_derived_into_facts_with_case_parameters() -> None:
    report = report_for("good")
    case = next(c for c in report.cases if c.case == "lower threshold, from events")
    # 2 runs of 15 km = 30 km in 7 days: above the case's threshold of 25, below the default 50
    assert case.ok and case.fired == ("long-week",)
    assert case.line == 113


def test_failing_case_names_what_was_expected_and_what_fired() -> None:
    report = report_for("failing")
    assert [c.case for c in report.failures] == ["wrong expectations"]
    case = report.failures[0]
    assert case.failures == (
        "expected warn-rule with indicator critical; got warning",
        "expects unknown rule 'nope-rule'",
        "expected quiet-rule to stay silent; it fired",
    )
    assert case.fired == ("quiet-rule", "warn-rule")
    assert case.line == 34
    (cov,) = report.coverage
    assert cov.missed == ["never-tested"]
    assert round(cov.percent, 1) == 66.7
    assert not report.ok()


def test_cli_test_prints_failures_and_never_fired_rules() -> None:
    code, out, _ = run("test", str(PACKS / "failing"))
    assert code == 1
    assert "FAIL failing / wrong expectations (" in out
    assert "failing.yaml:34)" in out
    assert "expected warn-rule with indicator critical; got warning" in out
    assert "fired: quiet-rule, warn-rule" in out
    assert "never-tested" in out
    assert "2 cases, 1 failed" in out


def test_cli_test_coverage_threshold_is_per_pack() -> None:
    assert run("test", str(PACKS / "partial"), "--min-coverage", "50")[0] == 0
    code, out, _ = run("test", str(PACKS / "partial"), "--min-coverage", "60")
    assert code == 1
    assert "coverage of partial is 50.0%, under 60%" in out
    assert "never fired: uncovered" in out
    # good packs (100%) alongside the partial one: the partial pack alone fails the threshold
    code, out, _ = run("test", str(PACKS / "good"), str(PACKS / "partial"), "--min-coverage", "75")
    assert code == 1 and "coverage of partial" in out and "coverage of alpha" not in out


def test_cli_test_json_report() -> None:
    code, out, _ = run("test", str(PACKS / "good"), "--min-coverage", "100", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True and doc["coverage_percent"] == 100.0
    assert {c["pack"]: c["percent"] for c in doc["coverage"]} == {"alpha": 100.0, "beta": 100.0}
    assert len(doc["cases"]) == 6


def test_cli_test_reports_packs_that_do_not_load_and_runs_the_rest() -> None:
    code, out, _ = run("test", str(PACKS / "broken"), "--json")
    assert code == 1
    doc = json.loads(out)
    assert [c["case"] for c in doc["cases"]] == ["fires"]
    assert doc["cases"][0]["ok"] is True
    assert sorted((Path(e["file"]).name, e["line"]) for e in doc["errors"]) == [
        ("a_bad_yaml.yaml", 4),
        ("b_bad_schema.yaml", 11),
        ("c_unknown_field.yaml", 16),
    ]


def test_builtin_packs_pass_at_full_coverage() -> None:
    """What CI runs: ``stridewise rulesets test --min-coverage 100``."""
    code, out, _ = run("test", "--min-coverage", "100")
    assert code == 0, out
    assert "0 failed" in out


# -- lint -----------------------------------------------------------------------------------------


def lint(folder: str) -> list[Finding]:
    return lint_packs([PACKS / folder])


def test_lint_finds_what_loading_does_not() -> None:
    found = {(f.line, f.severity, f.message) for f in lint("lint")}
    expected_errors = {
        (
            28,
            "rule 'contradiction' can never fire: training.acwr_ewma (at least 0) can never be "
            "> 5 and < 3",
        ),
        (76, "test 'covers twins and the fragile rule': fact 1: training has no field 'acwr'"),
        (76, "test 'covers twins and the fragile rule': names unknown rule 'no-such-rule'"),
        (
            76,
            "test 'covers twins and the fragile rule': parameter 'cut' = 50 is above its "
            "maximum 10",
        ),
    }
    assert {(line, msg) for line, sev, msg in found if sev == "error"} >= expected_errors
    assert (11, "warning", "source 'unused_src' is never cited") in found
    assert (22, "warning", "parameter 'unused_param' is never used") in found
    assert (
        49,
        "warning",
        "rule 'twin-b' has the same conditions as 'lint-me/twin-a': they always fire together",
    ) in found
    assert (56, "warning", "no test case expects rule 'long-summary' to fire") in found
    messages = [f.message for f in lint("lint")]
    # (a typo in a site name no longer loads at all: see test_conditions.py)
    # a rule the parameter bounds let a clinic switch off for good
    assert (
        "rule 'fragile' can never fire when cut = 10 (the bounds allow it): training.acwr_ewma "
        "(at least 0) can never be > 10 (cut) and < 6"
    ) in messages
    # summaries are filled with long realistic values (a long shoe name, big numbers)
    long = next(m for m in messages if m.startswith("'long-summary': the summary can reach"))
    assert "150 characters" in long and "Brooks Adrenaline GTS 23 (second pair)" in long
    assert "an active pack should say when it was last reviewed (ruleset.reviewed)" in messages


def test_lint_clean_packs_have_no_errors() -> None:
    findings = lint("good")
    assert [f for f in findings if f.severity == "error"] == []


def test_lint_reports_every_broken_file_and_keeps_going() -> None:
    findings = lint("broken")
    assert [(Path(f.file).name, f.line, f.severity) for f in findings] == [
        ("a_bad_yaml.yaml", 4, "error"),
        ("b_bad_schema.yaml", 11, "error"),
        ("c_unknown_field.yaml", 16, "error"),
    ]


def test_cli_lint_one_line_per_finding_and_exit_code() -> None:
    code, out, err = run("lint", str(PACKS / "lint"))
    assert code == 1
    lines = out.splitlines()
    assert all(line.startswith(str(PACKS / "lint" / "lint_me.yaml") + ":") for line in lines)
    assert (
        f"{PACKS / 'lint' / 'lint_me.yaml'}:11: warning: source 'unused_src' is never cited"
        in lines
    )
    errors = sum(": error: " in line for line in lines)
    assert f"{errors} error(s), {len(lines) - errors} warning(s)" in err
    code, out, _ = run("lint", str(PACKS / "partial"))
    assert code == 0
    assert out.splitlines() == [
        f"{PACKS / 'partial' / 'partial.yaml'}:19: warning: no test case expects rule "
        "'uncovered' to fire"
    ]


def test_cli_lint_builtin_packs_have_no_errors() -> None:
    code, out, _ = run("lint", "--json")
    assert code == 0
    assert [f for f in json.loads(out) if f["severity"] == "error"] == []
