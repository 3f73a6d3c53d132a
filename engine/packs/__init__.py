"""Rule packs as products: inventory, clinic profiles, pack tests, lint, explanations, audit.

One module per job (each imports the others' public names only):

- :mod:`.inventory`: :func:`discover_packs` lists every installed pack with the plugin or path
  it came from; :func:`pack_line` finds a line in a loaded pack's file.
- :mod:`.analysis`: can a rule ever fire (:func:`never_fires`), does an allowed override stop
  it (:func:`fragile_under_overrides`), how long is a card once filled in (:func:`long_fill`).
- :mod:`.profiles`: :func:`load_profile` reads a clinic profile that selects packs by id and
  version range, tunes parameters within their bounds, disables rules, adds the clinic's own
  packs and rewords cards; :meth:`ClinicProfile.build_engine` turns it into its own engine.
- :mod:`.cases`: :func:`run_pack_tests` runs the test cases packs carry and measures rule
  coverage; :func:`run_vignettes` runs short histories through every pack together.
- :mod:`.lint`: :func:`lint_packs` finds what loading cannot (rules that can never fire,
  summaries too long once filled in, unused sources and parameters, untested rules).
- :mod:`.explanation`: :func:`explain` says which rules fired on which facts and why each other
  rule did not.
- :mod:`.decisions`: :class:`DecisionLog` and :func:`record` keep an append-only JSON-lines
  audit of evaluations.
- :mod:`.reference`: :func:`evidence_markdown` writes the thresholds and their sources (the
  generated part of docs/evidence.md).

The condition language these read is :mod:`stridewise.engine.conditions`; YAML with line
numbers is :mod:`stridewise.engine.yamldoc`. The formats are documented in docs/packs.md and
docs/clinics.md.
"""

from __future__ import annotations

from typing import Any

from ..conditions import MISSING, compare, passes
from ..yamldoc import line_paths, parse_yaml, read_yaml
from .analysis import fragile_under_overrides, long_fill, never_fires
from .cases import (
    VIGNETTE_SCHEMA,
    CaseResult,
    PackCoverage,
    TestReport,
    builtin_vignette_files,
    case_facts,
    run_pack_tests,
    run_vignettes,
)
from .decisions import DecisionLog, effective_parameters, record
from .explanation import RuleExplanation, explain
from .inventory import PackEntry, discover_packs, error_dict, pack_line
from .lint import Finding, lint_pack, lint_packs
from .profiles import PROFILE_SCHEMA, ClinicProfile, ResolvedProfile, load_profile
from .reference import evidence_markdown


def line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Line (1-based) of every mapping key and list item in a YAML text, by path."""
    return line_paths(parse_yaml(text, "<string>"))


__all__ = [
    "MISSING",
    "PROFILE_SCHEMA",
    "VIGNETTE_SCHEMA",
    "CaseResult",
    "ClinicProfile",
    "DecisionLog",
    "Finding",
    "PackCoverage",
    "PackEntry",
    "ResolvedProfile",
    "RuleExplanation",
    "TestReport",
    "builtin_vignette_files",
    "case_facts",
    "compare",
    "discover_packs",
    "effective_parameters",
    "error_dict",
    "evidence_markdown",
    "explain",
    "fragile_under_overrides",
    "line_index",
    "lint_pack",
    "lint_packs",
    "load_profile",
    "long_fill",
    "never_fires",
    "pack_line",
    "parse_yaml",
    "passes",
    "read_yaml",
    "record",
    "run_pack_tests",
    "run_vignettes",
]
