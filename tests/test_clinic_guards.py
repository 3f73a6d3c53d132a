"""Clinics can tune, not silence: every way a profile tried to switch a red flag off is refused.

Issue 7, section 7: each case below was seen working with a real profile; each is now refused
with the profile's file and line, and the built-in red flags keep firing.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

import stridewise
from stridewise.engine.errors import RulesetError
from stridewise.engine.packs import load_profile
from stridewise.engine.rules import RulePack, builtin_pack_files, load_packs

DAY = dt.date(2026, 3, 31)
NIGHT_PAIN = [
    {"type": "pain", "site": "shin", "site_label": "shin", "severity": 4, "at_night": True}
]


def builtin() -> list[RulePack]:
    packs, errors = load_packs(builtin_pack_files())
    assert errors == []
    return packs


def profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.yaml"
    path.write_text("clinic: {id: lakeside, name: Lakeside Clinic}\n" + text, "utf-8")
    return path


def problems(path: Path) -> list[tuple[int | None, str]]:
    resolved = load_profile(path).resolve(builtin())
    return [(e.line, e.reason) for e in resolved.errors]


def test_the_red_flag_rules_are_marked_protected() -> None:
    symptoms = next(p for p in builtin() if p.id == "symptoms")
    assert {"pain-at-rest-or-night", "high-risk-site-pain", "groin-hip-pain"} <= (
        symptoms.protected_rules
    )
    assert "min_severity" in symptoms.protected_parameters


def test_a_profile_cannot_disable_the_night_pain_rule(tmp_path: Path) -> None:
    path = profile(
        tmp_path, "disabled:\n  - footwear/shoe-approaching\n  - pain-at-rest-or-night\n"
    )
    assert problems(path) == [
        (4, "cannot disable symptoms/pain-at-rest-or-night: it is a protected red flag")
    ]
    with pytest.raises(RulesetError) as info:
        load_profile(path).build_engine(builtin())
    assert info.value.file == str(path) and info.value.line == 4


def test_a_profile_cannot_raise_min_severity_so_4_of_10_night_pain_gives_nothing(
    tmp_path: Path,
) -> None:
    path = profile(tmp_path, "parameters:\n  symptoms:\n    min_severity: 5\n")
    [(line, reason)] = problems(path)
    assert line == 4
    assert "min_severity" in reason and "protected red-flag rule" in reason


def test_a_profile_cannot_leave_the_symptoms_pack_out(tmp_path: Path) -> None:
    path = profile(tmp_path, 'packs:\n  training-load: "*"\n  footwear: "*"\n')
    found = problems(path)
    assert (2, "symptoms") in [(line, r.split("'")[1]) for line, r in found]
    assert all("holds protected red-flag rules" in r for _, r in found)
    assert {r.split("'")[1] for _, r in found} == {"symptoms", "return-to-run"}


def test_an_own_pack_called_symptoms_cannot_replace_the_built_in_red_flags(
    tmp_path: Path,
) -> None:
    own = tmp_path / "packs"
    own.mkdir()
    (own / "symptoms.yaml").write_text(
        "ruleset: {id: symptoms, version: 9.0.0, title: Our symptoms, status: active}\n"
        "sources: {s: {label: Our clinic's protocol}}\n"
        "rules:\n"
        "  - id: mild-pain\n"
        "    when: [{fact: pain, where: {severity: {gte: 9}}}]\n"
        "    then: {card: {indicator: info, advice: inform, summary: Some pain noted.,\n"
        "                  detail: Keep an eye on it., source: s}}\n",
        "utf-8",
    )
    path = profile(tmp_path, "own_packs: [packs]\n")
    reasons = [reason for _, reason in problems(path)]
    assert any(
        "would shadow the installed pack with protected red-flag rules" in r for r in reasons
    )


def test_a_profile_cannot_reword_a_red_flag_to_no_need_to_see_a_physician(
    tmp_path: Path,
) -> None:
    path = profile(
        tmp_path,
        "wording:\n"
        "  symptoms/pain-at-rest-or-night:\n"
        '    summary: "Night pain is common: no need to see a physician."\n',
    )
    assert (
        3,
        "wording for 'symptoms/pain-at-rest-or-night': a protected red flag's wording is fixed",
    ) in problems(path)


def test_a_nan_parameter_is_refused_in_profiles_and_in_api_overrides(tmp_path: Path) -> None:
    path = profile(tmp_path, "parameters:\n  training-load:\n    acwr_danger: .nan\n")
    [(line, reason)] = problems(path)
    assert line == 4 and "must be a finite number" in reason
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(RulesetError, match="finite number"):
            stridewise.build_engine(overrides={"training-load": {"acwr_danger": bad}})


def test_the_api_cannot_disable_or_detune_a_red_flag_either() -> None:
    with pytest.raises(RulesetError, match="protected red flag and cannot be disabled"):
        stridewise.Engine(builtin(), disabled=["symptoms/pain-at-rest-or-night"])
    with pytest.raises(RulesetError, match="read by a protected red-flag rule"):
        stridewise.Engine(builtin(), overrides={"symptoms": {"min_severity": 5}})
    with pytest.raises(RulesetError, match="wording is fixed"):
        stridewise.Engine(
            builtin(),
            wording={"symptoms/pain-at-rest-or-night": stridewise.engine.runtime.Wording("Fine.")},
        )


def test_own_packs_come_only_from_the_profiles_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "clinic"
    home.mkdir()
    for ref, line in ((str(elsewhere), 2), ("../elsewhere", 2)):
        path = profile(home, f"own_packs: [{ref}]\n")
        with pytest.raises(RulesetError, match="outside the profile's folder") as info:
            load_profile(path)
        assert (info.value.file, info.value.line) == (str(path), line)


def test_tuning_what_is_not_a_red_flag_still_works_and_night_pain_still_fires(
    tmp_path: Path,
) -> None:
    path = profile(
        tmp_path,
        "parameters:\n  footwear: {replace_km: 600}\ndisabled: [footwear/shoe-approaching]\n",
    )
    assert problems(path) == []
    engine = load_profile(path).build_engine(builtin())
    cards = engine.evaluate_facts(NIGHT_PAIN, DAY).cards
    assert cards[0].indicator == "critical" and "physician" in cards[0].summary
