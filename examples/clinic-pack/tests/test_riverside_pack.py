"""The clinic pack, tested with the fixtures of stridewise's pytest plugin."""

from __future__ import annotations

import datetime as dt
from importlib.resources import files

import stridewise_riverside_clinic

import stridewise

PACKS = files(stridewise_riverside_clinic).joinpath("packs")


def test_the_pack_cases_pass_and_cover_every_rule(stridewise_pack_cases) -> None:
    report = stridewise_pack_cases(PACKS, min_coverage=100)
    assert [c.pack for c in report.coverage] == ["riverside-referrals"]


def test_the_installed_plugin_provides_the_pack(stridewise_entry_point) -> None:
    info = stridewise_entry_point("riverside_clinic")
    assert info.hooks == ("stridewise_ruleset_sources",)
    packs, errors = stridewise.plugin_packs()
    assert "riverside-referrals" in {p.id for p in packs}
    assert not [e for e in errors if "riverside" in str(e)]


def test_a_runner_after_a_stress_fracture_gets_the_clinics_referrals() -> None:
    engine = stridewise.build_engine()  # every installed pack, this one included
    events = stridewise.load_events(
        [
            {
                "kind": "profile",
                "id": "p1",
                "source": "clinic",
                "recorded": "2026-11-01",
                "sex": "female",
                "prior_bsi": [{"site": "tibia", "date": "2025-05-01"}],
            },
            {
                "kind": "nutrition",
                "id": "n1",
                "source": "clinic",
                "date": "2026-11-20",
                "serum_25ohd_nmol_l": 48,
            },
        ]
    )
    cards = engine.evaluate(stridewise.History(events), dt.date(2026, 11, 30))
    dietitian = [c for c in cards if "sports dietitian" in c.summary]
    assert dietitian and dietitian[0].indicator == "warning"
    assert dietitian[0].source["label"].startswith("Larson-Meyer")
