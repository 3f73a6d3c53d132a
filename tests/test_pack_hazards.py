"""Hostile and careless packs: chaining, isolation, numbers, card text (issue 12, items 4-8).

Each test builds small packs the way a third-party author would and runs them through the
real loader, compiler, rules core and runtime.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stridewise.engine.errors import RulesetError
from stridewise.engine.packs import lint_packs
from stridewise.engine.rules import builtin_pack_files, load_pack, parse_pack
from stridewise.engine.runtime import Engine

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
