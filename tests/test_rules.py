"""Rule packs: loading, validation errors with file and line, compilation, parameters."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from stridewise.engine.errors import RulesetError
from stridewise.engine.rules import builtin_pack_files, load_packs, parse_pack
from stridewise.engine.runtime import Engine, Wording

DAY = dt.date(2026, 3, 31)

PACK = textwrap.dedent(
    """\
    ruleset:
      id: test-pack
      version: 1.2.3
      title: Test pack
      status: active
    sources:
      src:
        label: "A source for tests"
        url: https://example.org/paper
    parameters:
      limit:
        type: number
        default: 1.5
        min: 1.0
        max: 3.0
        unit: ratio
        source: src
        contested: "This cut-off is disputed in the literature."
        description: The limit.
    rules:
      - id: over-limit
        priority: 60
        when:
          - fact: training
            where:
              acwr_ewma: {gt: $limit}
        then:
          card:
            indicator: warning
            advice: inform
            summary: "Ratio {training.acwr_ewma} is above {limit}."
            detail: "Because {training.acwr_ewma} > {limit}."
            source: src
          derive:
            fact: load_flag
            fields:
              ratio: {ref: training.acwr_ewma}
      - id: flagged-and-pain
        when:
          - fact: load_flag
          - fact: pain
            where:
              severity: {gte: 3}
        then:
          card:
            indicator: warning
            advice: inform
            summary: "Load flag {load_flag.ratio} with pain {pain.severity}/10."
            detail: Chained from a derived fact.
            source: src
      - id: no-shoes
        when:
          - fact: training
          - absent: shoe
        then:
          card:
            indicator: info
            advice: inform
            kind: information-needed
            summary: "No shoes recorded."
            detail: Add your shoes to track their wear.
            source: src
      - id: not-flagged
        when:
          - fact: training
          - absent: load_flag
        then:
          card:
            indicator: info
            advice: inform
            summary: "Load is within your limit."
            detail: Nothing to do.
            source: src
    """
)


def pack(text: str = PACK, origin: str = "test.yaml"):  # type: ignore[no-untyped-def]
    return parse_pack(text, origin=origin)


def fired(engine: Engine, facts: list[dict[str, object]]) -> list[str]:
    return sorted(c.rule_id for c in engine.evaluate_facts(facts, DAY).cards)


def test_manifest_and_hash() -> None:
    p = pack()
    assert (p.id, p.version, p.status) == ("test-pack", "1.2.3", "active")
    assert len(p.content_hash) == 64
    assert p.rule_ids == ["over-limit", "flagged-and-pain", "no-shoes", "not-flagged"]


def test_card_carries_source_facts_parameters_and_contested_note() -> None:
    engine = Engine([pack()])
    ev = engine.evaluate_facts([{"type": "training", "acwr_ewma": 1.8}], DAY)
    card = next(c for c in ev.cards if c.rule_id == "over-limit")
    assert card.summary == "Ratio 1.8 is above 1.5."
    assert card.source == {"label": "A source for tests", "url": "https://example.org/paper"}
    assert card.facts == ({"training": {"type": "training", "acwr_ewma": 1.8}},)
    assert card.parameters == {"limit": 1.5}
    assert "disputed" in card.detail
    assert (card.ruleset_id, card.ruleset_version, card.date) == ("test-pack", "1.2.3", DAY)
    d = card.to_dict()
    assert set(d) >= {"uuid", "summary", "indicator", "detail", "source"}


def test_forward_chaining_through_a_derived_fact() -> None:
    engine = Engine([pack()])
    facts = [{"type": "training", "acwr_ewma": 1.8}, {"type": "pain", "severity": 4}]
    cards = {c.rule_id: c for c in engine.evaluate_facts(facts, DAY).cards}
    assert "flagged-and-pain" in cards
    assert cards["flagged-and-pain"].summary == "Load flag 1.8 with pain 4/10."


def test_absence_of_base_and_derived_facts_is_order_independent() -> None:
    engine = Engine([pack()])
    assert engine.strata == 1  # absences wait for stratum 0, where load_flag is derived
    assert fired(engine, [{"type": "training", "acwr_ewma": 1.0}]) == ["no-shoes", "not-flagged"]
    shoe = {"type": "shoe", "shoe_id": "a", "name": "A", "distance_km": 10.0}
    for facts in (
        [{"type": "training", "acwr_ewma": 1.8}, shoe],
        [shoe, {"type": "training", "acwr_ewma": 1.8}],
    ):
        assert fired(engine, facts) == ["over-limit"]


def test_duplicate_firings_collapse_into_one_card() -> None:
    engine = Engine([pack()])
    facts = [
        {"type": "training", "acwr_ewma": 1.8},
        {"type": "pain", "severity": 4},
        {"type": "pain", "severity": 6},
    ]
    cards = [c for c in engine.evaluate_facts(facts, DAY).cards if c.rule_id == "flagged-and-pain"]
    assert len(cards) == 1
    assert sorted(f["pain"]["severity"] for f in cards[0].facts) == [4, 6]


def test_overrides_are_validated_and_applied() -> None:
    engine = Engine([pack()], overrides={"test-pack": {"limit": 2.0}})
    assert "over-limit" not in fired(engine, [{"type": "training", "acwr_ewma": 1.8}])
    with pytest.raises(RulesetError, match="above its maximum 3"):
        Engine([pack()], overrides={"test-pack": {"limit": 9.0}})
    with pytest.raises(RulesetError, match="must be number"):
        Engine([pack()], overrides={"test-pack": {"limit": "high"}})
    with pytest.raises(RulesetError, match="unknown parameter 'nope'"):
        Engine([pack()], overrides={"test-pack": {"nope": 1}})


def test_disabled_rules_and_wording() -> None:
    engine = Engine(
        [pack()],
        disabled={"test-pack/no-shoes"},
        wording={"test-pack/not-flagged": Wording(summary="All good ({limit}).")},
    )
    cards = engine.evaluate_facts([{"type": "training", "acwr_ewma": 1.0}], DAY).cards
    assert [(c.rule_id, c.summary) for c in cards] == [("not-flagged", "All good (1.5).")]


@pytest.mark.parametrize(
    ("change", "message", "line"),
    [
        (("acwr_ewma: {gt: $limit}", "acwr_ewma: {gt: $nope}"), "unknown parameter '$nope'", 20),
        (("acwr_ewma: {gt: $limit}", "acwr_ewmaa: {gt: $limit}"), "has no field 'acwr_ewmaa'", 20),
        (("acwr_ewma: {gt: $limit}", "acwr_ewma: {gt: 'high'}"), "compares a number field", 20),
        (("- fact: load_flag", "- fact: weather"), "unknown fact type 'weather'", 37),
        (
            ("source: src\n      derive", "source: other\n      derive"),
            "unknown source 'other'",
            20,
        ),
        (
            (
                'indicator: warning\n        advice: inform\n        summary: "Ratio',
                'indicator: critical\n        advice: stop\n        summary: "Ratio',
            ),
            "physician",
            20,
        ),
        (("default: 1.5", "default: 5.5"), "above its maximum", 12),
        (("status: active", "status: live"), "'live' is not one of", 5),
        (("version: 1.2.3", "version: one"), "does not match", 3),
        (("  - id: no-shoes", "  - id: over-limit"), "duplicate rule id", 50),
        (('summary: "No shoes recorded."', 'summary: "' + "x" * 150 + '"'), "characters", 50),
    ],
)
def test_broken_packs_name_file_line_and_reason(
    change: tuple[str, str], message: str, line: int
) -> None:
    old, new = change
    assert old in PACK
    with pytest.raises(RulesetError) as info:
        pack(PACK.replace(old, new, 1), origin="clinic/broken.yaml")
    err = info.value
    assert message in str(err)
    assert err.file == "clinic/broken.yaml"
    assert err.line is not None and abs(err.line - line) <= 4, (err.line, str(err))


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(RulesetError) as info:
        pack("ruleset:\n  id: [unclosed\n", origin="x.yaml")
    assert info.value.line == 3 or info.value.line == 2
    assert "not valid YAML" in str(info.value)


def test_yaml_is_data_not_code() -> None:
    with pytest.raises(RulesetError, match="not valid YAML"):
        pack("!!python/object/apply:os.system ['echo hi']\n")


def test_one_broken_pack_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "a_good.yaml").write_text(PACK)
    (tmp_path / "b_bad.yaml").write_text(
        PACK.replace("id: test-pack", "id: other-pack").replace("$limit", "$missing")
    )
    packs, errors = load_packs([tmp_path])
    assert [p.id for p in packs] == ["test-pack"]
    assert len(errors) == 1 and "b_bad.yaml" in str(errors[0])
    assert "over-limit" in fired(Engine(packs), [{"type": "training", "acwr_ewma": 1.8}])


def test_builtin_packs_load_and_cite_sources() -> None:
    files = builtin_pack_files()
    packs, errors = load_packs(files)
    assert not errors, [str(e) for e in errors]
    assert {"training-load", "footwear", "symptoms"} <= {p.id for p in packs}
    for p in packs:
        for rule in p.rules:
            card = rule["then"].get("card")
            if card:
                refs = card["source"] if isinstance(card["source"], list) else [card["source"]]
                assert all(r in p.sources for r in refs)


def test_join_on_a_missing_field_is_a_mismatch_not_an_error() -> None:
    text = PACK.replace(
        "      - fact: pain\n        where:\n          severity: {gte: 3}",
        "      - fact: pain\n        where:\n          severity: {gte: {ref: load_flag.ratio}}",
    )
    assert text != PACK
    engine = Engine([pack(text)])
    facts: list[dict[str, object]] = [{"type": "training", "acwr_ewma": 1.8}, {"type": "pain"}]
    assert "flagged-and-pain" not in fired(engine, facts)
    facts = [{"type": "training", "acwr_ewma": 1.8}, {"type": "pain", "severity": 2}]
    assert "flagged-and-pain" in fired(engine, facts)


def test_a_join_must_refer_to_an_earlier_fact() -> None:
    text = PACK.replace(
        "      - fact: load_flag\n      - fact: pain\n        where:\n          severity: {gte: 3}",
        "      - fact: pain\n        where:\n          severity: {gte: {ref: load_flag.ratio}}\n"
        "      - fact: load_flag",
    )
    assert text != PACK
    with pytest.raises(RulesetError, match="no fact bound as 'load_flag'"):
        pack(text)
