"""Clinic profiles: selecting packs by version range, tuning, disabling, rewording, isolation."""

from __future__ import annotations

import datetime as dt
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from stridewise.cli_rulesets import rulesets
from stridewise.engine.errors import RulesetError
from stridewise.engine.packs import load_profile
from stridewise.engine.rules import RulePack, load_packs, parse_pack
from stridewise.engine.runtime import Engine

DATA = Path(__file__).parent / "data"
CLINICS = DATA / "clinics"
PACKS = DATA / "packs"
DAY = dt.date(2026, 3, 31)
ALPHA_TEXT = (PACKS / "good" / "alpha.yaml").read_text("utf-8")


def available() -> list[RulePack]:
    packs, errors = load_packs([PACKS / "good"])
    assert errors == []
    return packs


def alpha(version: str) -> RulePack:
    return parse_pack(
        ALPHA_TEXT.replace("version: 1.2.0", f"version: {version}"), origin=f"alpha-{version}"
    )


def profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text("clinic: {id: test, name: Test Clinic}\n" + text, "utf-8")
    return path


def summaries(engine: Engine, facts: list[dict[str, object]]) -> list[tuple[str, str]]:
    return [(c.key, c.summary) for c in engine.evaluate_facts(facts, DAY).cards]


def test_profile_selects_tunes_disables_rewords_and_adds_own_packs() -> None:
    profile = load_profile(CLINICS / "riverside.yaml")
    assert (profile.clinic_id, profile.name) == ("riverside", "Riverside Sports Medicine")
    assert [p.id for p in profile.own_packs] == ["riverside-extra"]
    engine = profile.build_engine(available())
    assert [(p.id, p.version) for p in engine.packs] == [
        ("alpha", "1.2.0"),
        ("beta", "2.0.0"),
        ("riverside-extra", "0.1.0"),
    ]
    facts: list[dict[str, object]] = [
        {"type": "training", "enough_history": True, "load_7d_km": 45.0},
        {"type": "injury", "site": "fibula", "days_since_diagnosis": 20},
    ]
    cards = {c.key: c for c in engine.evaluate_facts(facts, DAY).cards}
    # threshold 30 (default 50): 45 km is a long week; the clinic's summary, the pack's detail
    assert cards["alpha/long-week"].summary == (
        "Riverside: 45 km in 7 days is over our 30 km line."
    )
    assert cards["alpha/long-week"].detail == "A long week for this athlete."
    assert cards["alpha/long-week"].parameters == {"threshold": 30}
    # 'rested' (bare id) and the beta low band are disabled; the clinic's own rule runs
    assert sorted(cards) == ["alpha/long-week", "riverside-extra/recent-injury"]
    # the same packs without the profile
    plain = {c.key for c in Engine(available()).evaluate_facts(facts, DAY).cards}
    assert plain == {"alpha/rested", "beta/risk-low"}


def test_version_range_picks_the_newest_match_in_semver_order(tmp_path: Path) -> None:
    packs = [alpha("0.9.0"), alpha("1.2.0"), alpha("1.10.0"), alpha("2.1.0")]
    pinned = load_profile(profile_file(tmp_path, 'packs: {alpha: ">=1.0,<2"}\n'))
    assert [p.version for p in pinned.resolve(packs).packs] == ["1.10.0"]
    tilde = load_profile(profile_file(tmp_path, 'packs: {alpha: "~=1.2.0"}\n'))
    assert [p.version for p in tilde.resolve(packs).packs] == ["1.2.0"]
    anything = load_profile(profile_file(tmp_path, "packs: {alpha: '*'}\n"))
    assert [p.version for p in anything.resolve(packs).packs] == ["2.1.0"]
    every = load_profile(profile_file(tmp_path, ""))  # no 'packs': every installed pack
    assert [p.version for p in every.resolve(packs).packs] == ["2.1.0"]


def test_a_clinics_own_pack_can_replace_an_installed_one(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "alpha.yaml").write_text(ALPHA_TEXT.replace("version: 1.2.0", "version: 1.3.0"))
    path = profile_file(tmp_path, 'packs: {alpha: "<2"}\nown_packs: [own]\n')
    (chosen,) = load_profile(path).resolve(available()).packs
    assert (chosen.id, chosen.version, chosen.origin) == ("alpha", "1.3.0", str(own / "alpha.yaml"))
    held_back = profile_file(tmp_path, 'packs: {alpha: "<1.3"}\nown_packs: [own]\n')
    assert [p.version for p in load_profile(held_back).resolve(available()).packs] == ["1.2.0"]


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("bad_yaml.yaml", 5, "not valid YAML: found unexpected end of stream"),
        ("bad_key.yaml", 4, "(top level): Additional properties are not allowed ('pack' was"),
        ("bad_range.yaml", 5, "packs/alpha: 'about one' is not a version range"),
        ("missing_folder.yaml", 4, "own_packs: 'no_such_folder' does not exist"),
    ],
)
def test_profile_file_errors_name_file_line_and_reason(name: str, line: int, reason: str) -> None:
    with pytest.raises(RulesetError) as info:
        load_profile(CLINICS / name)
    assert info.value.file == str(CLINICS / name)
    assert info.value.line == line
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("wrong_type.yaml", 8, "pack 'alpha': parameter 'threshold' must be number, got 'thirty'"),
        (
            "out_of_bounds.yaml",
            9,
            "pack 'alpha': parameter 'threshold' = 500 is above its maximum 100 km",
        ),
        (
            "unknown_rule.yaml",
            8,
            "cannot disable 'alpha/long-weak': no such rule in the selected packs "
            "(did you mean 'alpha/long-week'?)",
        ),
        (
            "no_match.yaml",
            5,
            "no version of pack 'alpha' matches '>=2,<3' (available: 1.2.0 (",
        ),
        (
            "critical_wording.yaml",
            7,
            "wording for 'alpha/night-or-rest': a critical card must tell the runner to see a "
            "physician",
        ),
    ],
)
def test_profile_errors_against_the_packs(name: str, line: int, reason: str) -> None:
    profile = load_profile(CLINICS / name)
    with pytest.raises(RulesetError) as info:
        profile.build_engine(available())
    assert (info.value.file, info.value.line) == (str(CLINICS / name), line)
    assert info.value.reason.startswith(reason)
    assert len(profile.resolve(available()).errors) == 1


def test_every_profile_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = profile_file(
        tmp_path,
        "packs: {gamma: '*', alpha: '*'}\n"
        "parameters:\n"
        "  beta: {x: 1}\n"
        "  alpha: {thresold: 40}\n"
        "disabled: [nothing-here]\n"
        "wording:\n"
        "  alpha/long-week: {summary: 'Over {treshold} km this week.'}\n",
    )
    errors = load_profile(path).resolve(available()).errors
    assert [(e.line, e.reason) for e in errors] == [
        (2, "pack 'gamma' is not installed (installed: alpha, beta)"),
        (4, "parameters for pack 'beta', which this profile does not select"),
        (5, "pack 'alpha' has no parameter 'thresold' (its parameters: severity_min, threshold)"),
        (6, "cannot disable 'nothing-here': no such rule in the selected packs"),
        (
            8,
            "wording for 'alpha/long-week': {treshold} is neither a parameter of 'alpha' nor "
            "alias.field",
        ),
    ]


def test_a_broken_own_pack_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    shutil.copytree(PACKS / "broken", tmp_path / "broken")
    path = profile_file(tmp_path, "own_packs: [broken]\n")
    with pytest.raises(RulesetError) as info:
        load_profile(path)
    assert info.value.file == str(tmp_path / "broken" / "a_bad_yaml.yaml")
    assert info.value.line == 4


def test_overrides_that_silence_a_rule_for_good_are_warned(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "band.yaml").write_text(
        "ruleset: {id: band, version: 1.0.0, title: Band, status: draft}\n"
        "sources: {s: {label: Source}}\n"
        "parameters:\n"
        "  lo: {type: number, default: 1.2, min: 1, max: 3, description: lower edge}\n"
        "  hi: {type: number, default: 2.0, min: 1.5, max: 3, description: upper edge}\n"
        "rules:\n"
        "  - id: in-band\n"
        "    when: [{fact: training, where: {acwr_ewma: {gt: $lo, lte: $hi}}}]\n"
        "    then: {card: {indicator: info, advice: inform, summary: In the band.,\n"
        "                  detail: Detail., source: s}}\n"
    )
    path = profile_file(tmp_path, "own_packs: [own]\nparameters: {band: {lo: 2.5}}\n")
    resolved = load_profile(path).resolve([])
    assert resolved.errors == ()
    (warning,) = resolved.warnings
    assert warning.line == 3
    assert warning.reason == (
        "with this profile's parameters rule 'band/in-band' can never fire: training.acwr_ewma "
        "(at least 0) can never be > 2.5 (lo) and <= 2 (hi)"
    )


def test_two_clinics_side_by_side_in_threads() -> None:
    packs = available()
    river = load_profile(CLINICS / "riverside.yaml").build_engine(packs)
    hill = load_profile(CLINICS / "hillside.yaml").build_engine(packs)
    plain = Engine(packs)
    facts: list[dict[str, object]] = [
        {"type": "training", "enough_history": True, "load_7d_km": 90.0},
        {"type": "pain", "site": "shin", "severity": 4, "at_night": True},
    ]
    expected = {
        "river": [
            ("alpha/night-or-rest", "Pain at night or at rest: see a physician."),
            ("alpha/sore-and-long", "Pain 4/10 (shin) during a long week."),
            ("alpha/long-week", "Riverside: 90 km in 7 days is over our 30 km line."),
        ],
        # severity_min 6: no sore-and-long; night-or-rest disabled
        "hill": [("alpha/long-week", "Hillside: a big week (90 km).")],
        "plain": [
            ("alpha/night-or-rest", "Pain at night or at rest: see a physician."),
            ("alpha/sore-and-long", "Pain 4/10 (shin) during a long week."),
            ("alpha/long-week", "90 km this week, above 50 km."),
            ("beta/risk-low", "Beta risk score 1: low."),
        ],
    }
    engines = {"river": river, "hill": hill, "plain": plain}
    assert {name: summaries(e, facts) for name, e in engines.items()} == expected
    jobs = [name for _ in range(60) for name in engines]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda name: (name, summaries(engines[name], facts)), jobs))
    assert all(got == expected[name] for name, got in results)
    hill_card = hill.evaluate_facts(facts, DAY).cards[0]
    assert hill_card.detail == "Hillside's own advice on big weeks."
    assert hill_card.parameters == {"threshold": 80}


#: The CLI tests use the fixture packs only (and stay independent of the built-in ones).
ONLY_FIXTURES = {"STRIDEWISE_BLOCK_PLUGINS": "builtin_rulesets"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(rulesets, list(args), env=ONLY_FIXTURES, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_profile_shows_the_selection() -> None:
    code, out, err = run("profile", str(CLINICS / "riverside.yaml"), "--pack", str(PACKS / "good"))
    assert code == 0, err
    assert "Riverside Sports Medicine (riverside)" in out
    assert "alpha 1.2.0; parameters: threshold = 30" in out
    assert "beta 2.0.0\n" in out
    assert "riverside-extra 0.1.0 (the clinic's own)" in out
    assert "disabled: beta/risk-low, rested" in out
    assert "reworded: alpha/long-week" in out


def test_cli_profile_lists_errors_and_fails() -> None:
    code, _, err = run("profile", str(CLINICS / "unknown_rule.yaml"), "--pack", str(PACKS / "good"))
    assert code == 1
    assert f"error: {CLINICS / 'unknown_rule.yaml'}:8: cannot disable 'alpha/long-weak'" in err


def test_cli_bad_profile_is_one_error_line_not_a_traceback() -> None:
    code, out, err = run("profile", str(CLINICS / "bad_yaml.yaml"))
    assert code == 2
    assert err.startswith(f"error: {CLINICS / 'bad_yaml.yaml'}:5: not valid YAML")
    assert "Traceback" not in out + err


def test_cli_list_with_a_profile_shows_only_its_packs() -> None:
    import json

    code, out, _ = run(
        "list",
        "--json",
        "--pack",
        str(PACKS / "good"),
        "--profile",
        str(CLINICS / "riverside.yaml"),
    )
    assert code == 0
    rows = json.loads(out)["packs"]
    assert [(r["id"], r["provider"]) for r in rows] == [
        ("alpha", "path"),
        ("beta", "path"),
        ("riverside-extra", "riverside"),
    ]
