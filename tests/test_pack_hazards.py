"""Hostile and careless packs: chaining, isolation, numbers, card text (issue 12, items 4-8).

Each test builds small packs the way a third-party author would and runs them through the
real loader, compiler, rules core and runtime.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stridewise.engine.errors import RulesetError
from stridewise.engine.packs import lint_packs
from stridewise.engine.rules import builtin_pack_files, load_pack, parse_pack
from stridewise.engine.runtime import Engine, Wording

DAY = dt.date(2026, 3, 31)


def make_pack(rules: str, *, pack_id: str = "hazard", parameters: str = "") -> str:
    """Pack YAML with one source and the given rules (indented YAML list items)."""
    head = textwrap.dedent(
        f"""\
        ruleset:
          id: {pack_id}
          version: 1.0.0
          title: Hazard pack
          status: draft
        sources:
          src:
            label: "A source for tests"
        """
    )
    if parameters:
        head += "parameters:\n" + textwrap.indent(textwrap.dedent(parameters), "  ")
    return head + "rules:\n" + textwrap.indent(textwrap.dedent(rules), "  ")


def card(summary: str, indicator: str = "info", advice: str = "inform") -> str:
    return (
        f"card: {{indicator: {indicator}, advice: {advice}, "
        f"summary: {summary!r}, detail: Detail text., source: src}}"
    )


def summaries(engine: Engine, facts: list[dict[str, Any]]) -> list[str]:
    return sorted(c.summary for c in engine.evaluate_facts(facts, DAY).all_cards)


def builtin() -> list[Any]:
    return [load_pack(f) for f in builtin_pack_files()]


# ---------------------------------------------------------------------------------------------
# 4. Forward chaining
# ---------------------------------------------------------------------------------------------

CYCLE = make_pack(
    f"""\
    - id: no-y-gives-x
      when:
        - fact: training
        - absent: flag_y
      then:
        derive: {{fact: flag_x}}
    - id: x-gives-y
      when:
        - fact: flag_x
      then:
        derive: {{fact: flag_y}}
    - id: y-present
      when:
        - fact: flag_y
      then:
        {card("Y is present")}
    - id: no-y
      when:
        - fact: training
        - absent: flag_y
      then:
        {card("No Y: all clear")}
    """
)


def test_a_pack_whose_absence_test_feeds_back_through_a_derivation_is_refused() -> None:
    with pytest.raises(RulesetError) as err:
        Engine([parse_pack(CYCLE, origin="cycle.yaml")])
    assert err.value.file == "cycle.yaml"
    assert err.value.line == 10  # the rule that tests the absence
    assert "flag_y" in err.value.reason and "x-gives-y" in err.value.reason


def test_the_cycle_through_an_absent_fact_is_a_lint_error(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(CYCLE, "utf-8")
    errors = [f for f in lint_packs([path]) if f.severity == "error"]
    assert any("flag_y" in f.message and f.line == 10 for f in errors), errors


def test_a_rule_chained_on_a_later_stratum_waits_for_it_before_absences_are_checked() -> None:
    # x is derived only once the absence of w is settled (stratum 1); y is derived from x;
    # "no y" must wait until y could have been derived, not run beside the rule deriving x.
    text = make_pack(
        f"""\
        - id: no-w-gives-x
          when:
            - fact: training
            - absent: flag_w
          then:
            derive: {{fact: flag_x}}
        - id: x-gives-y
          when:
            - fact: flag_x
          then:
            derive: {{fact: flag_y}}
        - id: no-y
          priority: 100
          when:
            - fact: training
            - absent: flag_y
          then:
            {card("No Y: all clear")}
        - id: w-from-pain
          when:
            - fact: pain
          then:
            derive: {{fact: flag_w}}
        """
    )
    engine = Engine([parse_pack(text)])
    assert summaries(engine, [{"type": "training"}]) == []
    assert summaries(engine, [{"type": "training"}, {"type": "pain"}]) == ["No Y: all clear"]


COPY = make_pack(
    f"""\
    - id: copy-ratio
      when:
        - fact: training
          where: {{enough_history: true}}
      then:
        derive: {{fact: load_copy, fields: {{ratio: {{ref: training.acwr_ewma}}}}}}
    - id: high-copied-ratio
      when:
        - fact: load_copy
          where: {{ratio: {{gt: 1.4}}}}
      then:
        {card("Copied ratio {load_copy.ratio}")}
    """,
    pack_id="copier",
)
OTHER = make_pack(
    f"""\
    - id: reads-ratio
      when:
        - fact: training
          where: {{acwr_ewma: {{gt: 5}}}}
      then:
        {card("Very high ratio")}
    """,
    pack_id="other",
)


def test_a_field_copied_into_a_derived_fact_arrives_whatever_other_packs_are_loaded() -> None:
    facts = [{"type": "training", "enough_history": True, "acwr_ewma": 1.8}]
    alone = Engine([parse_pack(COPY)])
    beside = Engine([parse_pack(COPY), parse_pack(OTHER)])
    assert summaries(alone, facts) == ["Copied ratio 1.8"]
    assert summaries(beside, facts) == ["Copied ratio 1.8"]


def test_a_field_derived_from_a_derived_field_keeps_its_type() -> None:
    text = make_pack(
        f"""\
        - id: first
          when:
            - fact: training
          then:
            derive: {{fact: step_one, fields: {{ratio: {{ref: training.acwr_ewma}}}}}}
        - id: second
          when:
            - fact: step_one
          then:
            derive: {{fact: step_two, fields: {{ratio: {{ref: step_one.ratio}}}}}}
        - id: third
          when:
            - fact: step_two
              where: {{ratio: {{gt: high}}}}
          then:
            {card("A string matched a number test")}
        """
    )
    with pytest.raises(RulesetError, match=r"compares a number field with 'high'") as err:
        parse_pack(text, origin="types.yaml")
    assert err.value.line == 20
    pack = parse_pack(text.replace("{gt: high}", "{gt: 1.5}"))
    assert pack.derives()["step_two"]["ratio"] == "number"


def test_a_clinic_wording_that_shows_an_untested_field_gets_its_value() -> None:
    text = make_pack(
        f"""\
        - id: any-history
          when:
            - fact: training
              where: {{enough_history: true}}
          then:
            {card("Some history")}
        """
    )
    wording = {"hazard/any-history": Wording(summary="Ratio {training.acwr_ewma}")}
    engine = Engine([parse_pack(text)], wording=wording)
    facts = [{"type": "training", "enough_history": True, "acwr_ewma": 1.8}]
    assert summaries(engine, facts) == ["Ratio 1.8"]


# ---------------------------------------------------------------------------------------------
# 5. One pack's failure must not blank the rest
# ---------------------------------------------------------------------------------------------

#: A third-party pack whose join compares a string with an integer on real data.
BROKEN_JOIN = make_pack(
    f"""\
    - id: word-level
      when:
        - fact: pain
          where: {{at_night: true}}
      then:
        derive: {{fact: level, fields: {{value: high}}}}
    - id: number-level
      when:
        - fact: pain
          where: {{at_night: false}}
      then:
        derive: {{fact: level, fields: {{value: 3}}}}
    - id: pain-above-level
      when:
        - fact: level
        - fact: pain
          where: {{severity: {{gte: {{ref: level.value}}}}}}
      then:
        {card("Pain above the level")}
    """,
    pack_id="third-party",
)
SEVERE_NIGHT_PAIN = {
    "type": "pain",
    "report_id": "p1",
    "days_ago": 0,
    "site": "tibia",
    "site_label": "shin bone",
    "severity": 8,
    "at_night": True,
}


def test_a_third_party_pack_that_fails_keeps_the_built_in_red_flags() -> None:
    engine = Engine([*builtin(), parse_pack(BROKEN_JOIN, origin="third.yaml")])
    ev = engine.evaluate_facts([SEVERE_NIGHT_PAIN], DAY)
    assert "symptoms/severe-pain" in {c.key for c in ev.all_cards}
    assert ev.failed_packs == ("third-party",)
    (failure,) = ev.failures
    assert failure.rule == "third-party/pain-above-level"
    assert failure.file == "third.yaml" and failure.line == 22
    assert "TypeError" in failure.error
    assert not [c for c in ev.all_cards if c.ruleset_id == "third-party"]


def test_a_pack_that_works_reports_no_failure() -> None:
    engine = Engine([*builtin(), parse_pack(BROKEN_JOIN, origin="third.yaml")])
    ev = engine.evaluate_facts([{**SEVERE_NIGHT_PAIN, "at_night": False}], DAY)
    assert ev.failed_packs == ()
    assert "third-party/pain-above-level" in {c.key for c in ev.all_cards}


def test_an_exponent_literal_is_normalised_so_every_pack_still_builds() -> None:
    text = make_pack(
        f"""\
        - id: tiny-change
          when:
            - fact: training
              where: {{week_change_pct: {{gt: 1.0e-7}}}}
          then:
            {card("Any increase at all")}
        - id: no-tiny-change
          when:
            - fact: training
            - absent: pain
              where: {{severity: {{gte: 1.0e+1}}}}
          then:
            {card("No pain of ten")}
        """
    )
    engine = Engine([*builtin(), parse_pack(text)])
    assert "Any increase at all" in summaries(
        engine, [{"type": "training", "week_change_pct": 0.5}]
    )
    assert "Any increase at all" not in summaries(
        engine, [{"type": "training", "week_change_pct": 0.0}]
    )
    assert "No pain of ten" in summaries(engine, [{"type": "training"}])


def test_an_infinite_literal_is_refused_with_its_line() -> None:
    text = make_pack(
        f"""\
        - id: never
          when:
            - fact: training
              where: {{week_change_pct: {{gt: .inf}}}}
          then:
            {card("Never")}
        """
    )
    with pytest.raises(RulesetError, match="finite") as err:
        parse_pack(text, origin="inf.yaml")
    assert (err.value.file, err.value.line) == ("inf.yaml", 10)


def nested_any(depth: int) -> str:
    test = "{severity: {gte: 1}}"
    for n in range(depth):
        test = f"{{any: [{test}, {{site_label: s{n}}}]}}"
    return test


def test_any_nested_deeper_than_the_core_allows_is_a_lint_error_with_rule_and_line(
    tmp_path: Path,
) -> None:
    rules = f"""\
    - id: deep
      when:
        - fact: pain
          where: {nested_any(15)}
      then:
        {card("Deep any")}
    """
    ok = make_pack(rules.replace(nested_any(15), nested_any(14)))
    Engine([parse_pack(ok)])  # 14 levels (15 with the fact type test) the core takes
    path = tmp_path / "deep.yaml"
    path.write_text(make_pack(rules), "utf-8")
    errors = [f for f in lint_packs([path]) if f.severity == "error"]
    assert [(f.line, "'deep'" in f.message, "nested" in f.message) for f in errors] == [
        (10, True, True)
    ]
    with pytest.raises(RulesetError, match="nested"):
        Engine([load_pack(path)])


def test_more_than_256_rules_on_one_pattern_is_a_lint_error_not_a_core_crash(
    tmp_path: Path,
) -> None:
    rules = "".join(
        f"- id: same-{n}\n"
        "  when: [{fact: pain, where: {at_night: true}}]\n"
        f"  then: {{{card(f'Night pain {n}')}}}\n"
        for n in range(257)
    )
    path = tmp_path / "many.yaml"
    path.write_text(make_pack(rules), "utf-8")
    errors = [f for f in lint_packs([path]) if f.severity == "error"]
    assert any("256" in f.message and "same-256" in f.message for f in errors), errors
    with pytest.raises(RulesetError, match="256") as err:
        Engine([*builtin(), load_pack(path)])
    assert err.value.file == str(path)


# ---------------------------------------------------------------------------------------------
# 7. Numbers
# ---------------------------------------------------------------------------------------------

THRESHOLD = make_pack(
    f"""\
    - id: above
      when:
        - fact: training
          where: {{acwr_ewma: {{gt: 1.5}}}}
      then:
        {card("Above 1.5")}
    - id: tiny-above-zero
      when:
        - fact: training
          where: {{week_change_pct: {{gt: 0}}}}
      then:
        {card("Above zero")}
    """
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"acwr_ewma": 1.5000001}, "above"),
        ({"acwr_ewma": 1.50000000001}, "above"),
        ({"acwr_ewma": 1.5}, None),
        ({"week_change_pct": 0.00005}, "tiny-above-zero"),
        ({"week_change_pct": 1e-9}, "tiny-above-zero"),
        ({"week_change_pct": 0.0}, None),
    ],
)
def test_explain_and_the_engine_agree_at_a_threshold(
    fields: dict[str, float], expected: str | None
) -> None:
    from stridewise.engine.packs import explain

    engine = Engine([parse_pack(THRESHOLD)])
    ev = engine.evaluate_facts([{"type": "training", **fields}], DAY)
    fired = [c.rule_id for c in ev.cards]
    assert fired == ([expected] if expected else [])
    said = {e.key.split("/")[1]: e.status for e in explain(engine, ev)}
    assert [k for k, status in said.items() if status == "fired"] == fired


def test_a_pain_severity_of_5_7_is_refused_not_truncated() -> None:
    from stridewise.engine.errors import EventValidationError
    from stridewise.engine.events import load_event

    pain = {"kind": "pain", "id": "p", "source": "t", "date": "2026-03-01", "site": "tibia"}
    assert load_event({**pain, "severity": 5}).severity == 5  # type: ignore[union-attr]
    for bad in (5.7, "5", True):
        with pytest.raises(EventValidationError, match="severity"):
            load_event({**pain, "severity": bad})


def test_a_distance_given_as_text_is_refused_not_coerced() -> None:
    from stridewise.engine.errors import EventValidationError
    from stridewise.engine.events import load_event

    run = {"kind": "run", "id": "r", "source": "t", "start": "2026-03-01T07:00:00Z"}
    assert load_event({**run, "distance_m": 8000}).distance_m == 8000.0  # type: ignore[union-attr]
    for bad in ("8000", True):
        with pytest.raises(EventValidationError, match="distance_m"):
            load_event({**run, "distance_m": bad})
    shoe = {"kind": "shoe", "id": "s", "source": "t", "name": "Trainer"}
    with pytest.raises(EventValidationError, match="start_distance_m"):
        load_event({**shoe, "start_distance_m": "100"})
    cross = {"kind": "cross_training", "id": "c", "source": "t", "start": "2026-03-01T07:00:00Z"}
    with pytest.raises(EventValidationError, match="distance_m"):
        load_event({**cross, "sport": "cycling", "duration_s": 600, "distance_m": "8000"})


# ---------------------------------------------------------------------------------------------
# 6. Hostile packs stay data
# ---------------------------------------------------------------------------------------------


def billion_laughs(levels: int = 7) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels + 1):
        refs = ", ".join([f"*a{n - 1}"] * 10)
        lines.append(f"a{n}: &a{n} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_pack_is_refused_at_once_with_its_line() -> None:
    import time

    text = billion_laughs(7) + make_pack(
        f"""\
        - id: fine
          when: [{{fact: training}}]
          then:
            {card("Fine")}
        """
    )
    assert len(text.encode()) < 2000
    started = time.perf_counter()
    with pytest.raises(RulesetError, match="alias") as err:
        parse_pack(text, origin="laughs.yaml")
    assert time.perf_counter() - started < 1.0
    assert err.value.file == "laughs.yaml" and err.value.line is not None


def test_a_clinic_profile_with_a_billion_laughs_is_refused(tmp_path: Path) -> None:
    from stridewise.engine.packs import load_profile

    path = tmp_path / "clinic.yaml"
    path.write_text("clinic: {id: x, name: X}\n" + billion_laughs(9), "utf-8")
    with pytest.raises(RulesetError, match="alias") as err:
        load_profile(path)
    assert err.value.file == str(path)


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(RulesetError, match="alias") as err:
        parse_pack("loop: &loop [*loop]\n" + make_pack(""), origin="loop.yaml")
    assert err.value.line == 1


def test_a_few_aliases_a_pack_author_might_use_still_load() -> None:
    text = make_pack(
        f"""\
        - id: night
          when:
            - fact: pain
              where: &night {{at_night: true}}
          then:
            {card("Night pain")}
        - id: night-again
          when:
            - fact: pain
              where: *night
          then:
            {card("Night pain again")}
        """
    )
    assert [r["id"] for r in parse_pack(text).rules] == ["night", "night-again"]


def test_any_nested_300_deep_is_a_ruleset_error_with_its_line_not_a_recursion_error(
    tmp_path: Path,
) -> None:
    text = make_pack(
        f"""\
        - id: deep
          when:
            - fact: pain
              where: {nested_any(300)}
          then:
            {card("Deep any")}
        """
    )
    with pytest.raises(RulesetError, match="nested") as err:
        parse_pack(text, origin="deep.yaml")
    assert err.value.line == 13
    path = tmp_path / "deep.yaml"
    path.write_text(text, "utf-8")
    assert [f.severity for f in lint_packs([path])] == ["error"]


# ---------------------------------------------------------------------------------------------
# 8. Card text is data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Ratio high <script>alert(1)</script>",
        "See <img src=x onerror=alert(1)>",
        "Click [here](javascript:alert(1)) now",
        "Click [here]( JavaScript:alert(1) ) now",
        "Open [it](data:text/html;base64,PHNjcmlwdD4=) now",
        "Read [this](file:///etc/passwd) now",
        "A comment <!-- hidden --> here",
        "Autolink <javascript:alert(1)> here",
    ],
)
def test_raw_html_and_unsafe_links_in_card_text_are_refused_with_their_line(text: str) -> None:
    for field in ("summary", "detail"):
        rule = (
            "- id: unsafe\n  when: [{fact: training}]\n  then:\n    card:\n"
            "      indicator: info\n      advice: inform\n      source: src\n"
            f"      summary: {'Safe summary.' if field == 'detail' else repr(text)}\n"
            f"      detail: {'Safe detail.' if field == 'summary' else repr(text)}\n"
        )
        with pytest.raises(RulesetError, match=field) as err:
            parse_pack(make_pack(rule), origin="unsafe.yaml")
        assert (err.value.file, err.value.line) == ("unsafe.yaml", 10)


def test_markdown_with_safe_links_and_less_than_signs_still_loads() -> None:
    detail = "**Read** [the paper](https://doi.org/10.1/x) or [write](mailto:a@b.org); 1 < 2 & 3."
    text = make_pack(
        f"""\
        - id: safe
          when: [{{fact: training}}]
          then:
            card:
              indicator: info
              advice: inform
              source: src
              summary: "BMI <19 or a ratio < 0.8 is low."
              detail: {detail!r}
        """
    )
    assert parse_pack(text).rules[0]["id"] == "safe"


def test_clinic_wording_with_html_is_refused_with_the_profile_line(tmp_path: Path) -> None:
    from stridewise.engine.packs import load_profile

    path = tmp_path / "clinic.yaml"
    path.write_text(
        "clinic: {id: x, name: X}\n"
        "wording:\n"
        "  training-load/acwr-spike:\n"
        '    summary: "Careful <script>alert(1)</script>"\n',
        "utf-8",
    )
    # read (so `rulesets profile` can list it beside every other problem), never built
    clinic = load_profile(path)
    from stridewise import plugin_packs

    with pytest.raises(RulesetError, match="summary") as err:
        clinic.build_engine(plugin_packs()[0])
    assert (err.value.file, err.value.line) == (str(path), 4)


def test_an_app_wording_with_html_is_refused_when_the_engine_is_built() -> None:
    text = make_pack(
        f"""\
        - id: plain
          when: [{{fact: training}}]
          then:
            {card("Plain card")}
        """
    )
    with pytest.raises(RulesetError, match="HTML"):
        Engine([parse_pack(text)], wording={"hazard/plain": Wording(detail="<b>bold</b>")})


def test_html_and_links_in_runner_data_are_neutralised_in_the_card() -> None:
    text = make_pack(
        """\
        - id: worn
          when: [{fact: shoe}]
          then:
            card:
              indicator: info
              advice: modify
              source: src
              summary: "Shoe {shoe.name} is worn."
              detail: "Your shoe **{shoe.name}** has {shoe.distance_km} km."
        """
    )
    engine = Engine([parse_pack(text)])
    name = "<script>alert(1)</script>[click](javascript:alert(1))"
    (shown,) = engine.evaluate_facts(
        [{"type": "shoe", "shoe_id": "a", "name": name, "distance_km": 700.0}], DAY
    ).cards
    for out in (shown.summary, shown.detail):
        assert "<script" not in out
        assert not re.search(r"(?<!\\)\]\(javascript:", out)  # no link can form
    assert "&lt;script&gt;" in shown.detail and "**" in shown.detail  # Markdown kept


def test_collapsed_duplicate_firings_say_the_same_whatever_the_fact_order() -> None:
    text = make_pack(
        f"""\
        - id: pain-report
          when:
            - fact: pain
              where: {{severity: {{gte: 3}}}}
          then:
            {card("Pain {pain.severity}/10 at {pain.site_label}")}
        """
    )
    engine = Engine([parse_pack(text)])
    low = {"type": "pain", "report_id": "a", "severity": 4, "site_label": "shin"}
    high = {"type": "pain", "report_id": "b", "severity": 6, "site_label": "foot"}
    one = engine.evaluate_facts([low, high], DAY).cards
    other = engine.evaluate_facts([high, low], DAY).cards
    assert [c.to_dict() for c in one] == [c.to_dict() for c in other]
    assert len(one) == 1 and len(one[0].facts) == 2


def test_an_in_list_of_513_values_is_refused_before_the_core_hangs_on_it(tmp_path: Path) -> None:
    values = ", ".join(f"s{n}" for n in range(513))
    text = make_pack(
        f"""\
        - id: many-sites
          when:
            - fact: pain
              where: {{site_label: {{in: [{values}]}}}}
          then:
            {card("Many sites")}
        """
    )
    with pytest.raises(RulesetError, match="512") as err:
        Engine([parse_pack(text, origin="in.yaml")])
    assert (err.value.file, err.value.line) == ("in.yaml", 10)
    fewer = text.replace(", s512]", "]")
    Engine([parse_pack(fewer)])  # 512 values the core builds


def test_513_rules_testing_one_field_for_different_values_are_refused_naming_the_last() -> None:
    rules = "".join(
        f"- id: level-{n}\n"
        f"  when: [{{fact: pain, where: {{site_label: s{n}}}}}]\n"
        f"  then: {{{card(f'Site {n}')}}}\n"
        for n in range(513)
    )
    with pytest.raises(RulesetError, match="level-512"):
        Engine([parse_pack(make_pack(rules))])
