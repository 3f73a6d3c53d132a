"""Review item 4: `stridewise rulesets profile` lists every problem of a profile, raw HTML in
its wording included, with one exit code; protected red-flag rules stay refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from stridewise import plugin_packs
from stridewise.cli_rulesets import rulesets
from stridewise.engine.errors import RulesetError
from stridewise.engine.packs import load_profile

PROFILE = """\
clinic: {id: riverside, name: Riverside Sports Medicine}
parameters:
  footwear: {replace_km: 6000}
  symptoms: {min_severity: 9}
wording:
  symptoms/severe-pain: {summary: "Severe pain: rest a bit."}
  footwear/shoe-worn: {summary: "<script>alert(1)</script> your shoes are worn out"}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad3.yaml"
    path.write_text(text, "utf-8")
    return path


def check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(rulesets, ["profile", str(path)], catch_exceptions=False)
    return result.exit_code, " ".join(result.stderr.split())


def test_profile_check_lists_raw_html_in_wording_with_every_other_problem(tmp_path: Path) -> None:
    code, err = check(write(tmp_path, PROFILE))
    assert code == 1
    assert "bad3.yaml:7: wording for 'footwear/shoe-worn', summary: raw HTML is not allowed" in err
    assert "bad3.yaml:6: wording for 'symptoms/severe-pain': a protected red flag's wording" in err
    assert "parameter 'min_severity' of pack 'symptoms' is read by a protected red-flag" in err
    assert "parameter 'replace_km' = 6000 is above its maximum" in err
    assert "parameter 'min_severity' = 9 is above its maximum" in err
    assert err.count("error:") == 5


def test_profile_check_gives_the_same_exit_code_with_or_without_the_html(tmp_path: Path) -> None:
    with_html, _ = check(write(tmp_path, PROFILE))
    without = "\n".join(line for line in PROFILE.splitlines() if "<script>" not in line)
    without_html, err = check(write(tmp_path, without + "\n"))
    assert with_html == without_html == 1
    assert err.count("error:") == 4


def test_a_profile_with_raw_html_in_wording_is_refused_by_a_report(tmp_path: Path) -> None:
    only_html = "\n".join([*PROFILE.splitlines()[:1], "wording:", PROFILE.splitlines()[-1]])
    clinic = load_profile(write(tmp_path, only_html + "\n"))
    with pytest.raises(RulesetError, match="raw HTML is not allowed"):
        clinic.build_engine(plugin_packs()[0])


def test_rewording_a_protected_red_flag_is_still_refused(tmp_path: Path) -> None:
    text = "clinic: {id: c, name: C}\nwording:\n  symptoms/severe-pain: {summary: Rest a bit.}\n"
    resolved = load_profile(write(tmp_path, text)).resolve(plugin_packs()[0])
    assert [e.reason for e in resolved.errors] == [
        "wording for 'symptoms/severe-pain': a protected red flag's wording is fixed"
    ]
