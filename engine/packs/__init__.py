"""Rule packs as products: inventory, clinic profiles, pack tests, lint, explanations, audit.

- :func:`discover_packs` lists every installed pack with the plugin or path it came from.
- :func:`load_profile` reads a clinic profile (YAML) that selects packs by id and version range,
  tunes parameters within their bounds, disables rules, adds the clinic's own packs and rewords
  cards; :meth:`ClinicProfile.build_engine` turns it into an :class:`Engine` of its own.
- :func:`run_pack_tests` runs the test cases packs carry and measures rule coverage.
- :func:`lint_packs` finds what loading cannot: rules that can never fire, rules that always fire
  together, summaries too long once filled in, unused sources and parameters, untested rules.
- :func:`explain` says which rules fired on which facts and why each other rule did not (a
  Python re-reading of the condition language, for explanation only; the engine decides).
- :class:`DecisionLog` and :func:`record` keep an append-only JSON-lines audit of evaluations.

A clinic profile looks like this (every key but ``clinic`` is optional)::

    clinic: {id: riverside, name: Riverside Sports Medicine}
    packs:                          # omitted: every installed pack
      training-load: ">=0.1,<1"     # a version range (PEP 440 specifiers); "*" or null: any
      symptoms: "*"
    own_packs: [packs/]             # the clinic's own pack files/folders, relative to this file
    parameters: {training-load: {acwr_danger: 1.4}}
    disabled: [training-load/no-rest-day]
    wording:
      training-load/acwr-spike: {summary: "...", detail: "..."}
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import difflib
import functools
import hashlib
import importlib
import itertools
import json
import math
import os
import secrets
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .cards import Card, card_uuid, fmt_value
from .conditions import (
    FACT_FIELDS,
    MISSING,
    allowed_values,
    compare,
    describe_test,
    domain_note,
    is_ref,
    ops,
    param_name,
    passes,
    range_of,
    resolve_param,
    value_of,
)
from .errors import InputError, RulesetError, StridewiseError
from .events import load_event
from .facts import History
from .rules import (
    PHYSICIAN,
    PLACEHOLDER,
    SCORE_VALUES,
    SUMMARY_MAX,
    CompiledRule,
    Parameter,
    RulePack,
    _aliases,
    _best_error,
    _line_of,
    _patterns,
    _schema_message,
    compile_packs,
    core_refusal,
    iter_pack_files,
    load_packs,
    markup_problem,
    parse_yaml,
)
from .runtime import Engine, Evaluation, Wording

__all__ = [
    "MISSING",
    "PROFILE_SCHEMA",
    "CaseResult",
    "ClinicProfile",
    "DecisionLog",
    "Finding",
    "PackCoverage",
    "PackEntry",
    "ResolvedProfile",
    "RuleExplanation",
    "TestReport",
    "case_facts",
    "compare",
    "discover_packs",
    "effective_parameters",
    "error_dict",
    "explain",
    "fragile_under_overrides",
    "line_index",
    "lint_pack",
    "lint_packs",
    "load_profile",
    "long_fill",
    "never_fires",
    "parse_yaml",
    "passes",
    "read_yaml",
    "record",
    "run_pack_tests",
]

# ---------------------------------------------------------------------------------------------
# YAML with line numbers (the loader rules.py uses for packs)
# ---------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetError(f"cannot read: {exc}", file=str(path)) from None


def read_yaml(path: Path) -> Any:
    """Read and parse a YAML file (see :func:`parse_yaml`)."""
    return parse_yaml(_read_text(path), str(path))


def _check_schema(doc: Any, schema: Mapping[str, Any], origin: str) -> None:
    validator = importlib.import_module("jsonschema").Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: len(list(e.absolute_path)))
    if errors:
        err = _best_error(errors)
        path = list(err.absolute_path)
        where = "/".join(str(p) for p in path) or "(top level)"
        line = _line_of(doc, path)
        if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
            known = err.schema.get("properties", {})
            extra = [k for k in err.instance if k not in known]
            line = _line_of(doc, [*path, extra[0]]) if extra else line  # point at the stray key
        raise RulesetError(f"{where}: {_schema_message(err)}", file=origin, line=line)


def line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Line (1-based) of every mapping key and list item in a YAML text, by path.

    Composed with libyaml when available (a fraction of the pure-Python parser's time).
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: dict[tuple[Any, ...], int] = {}

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        out.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                out[(*path, key.value)] = key.start_mark.line + 1
                walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text, Loader=loader)
    if root is not None:
        walk(root, ())
    return out


@functools.lru_cache(maxsize=64)
def _pack_lines(origin: str, content_hash: str) -> dict[tuple[Any, ...], int] | None:
    """The line index of a pack's file (None if it is gone or changed since it was loaded)."""
    try:
        text = Path(origin).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != content_hash:
        return None  # the file changed since it was loaded: its lines would mislead
    try:
        return line_index(text)
    except yaml.YAMLError:
        return None


def _pack_line(pack: RulePack, path: Sequence[Any]) -> int | None:
    """The line of ``path`` in the pack's file, or of its nearest enclosing entry."""
    index = _pack_lines(pack.origin, pack.content_hash)
    if index is None:
        return None
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in index:
            return index[tuple(path[:n])]
    return None


# ---------------------------------------------------------------------------------------------
# Inventory
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PackEntry:
    """A loaded pack and who provided it (a plugin's name, or ``path`` for a file given)."""

    pack: RulePack
    provider: str

    def to_dict(self) -> dict[str, Any]:
        p = self.pack
        return {
            "id": p.id,
            "version": p.version,
            "title": p.title,
            "status": p.status,
            "reviewed": p.reviewed,
            "rules": len(p.rules),
            "score_bands": len(p.rule_ids) - len(p.rules),
            "tests": len(p.tests),
            "content_hash": p.content_hash,
            "origin": p.origin,
            "provider": self.provider,
        }


def discover_packs(
    sources: Iterable[tuple[str, Path | Traversable]],
) -> tuple[list[PackEntry], list[RulesetError]]:
    """Load packs from ``(provider, file or folder)`` pairs, e.g. ``host.ruleset_sources()``.

    Loading is :func:`load_packs` (a broken pack is reported, the others load; the first of two
    packs with one id wins); each pack is tagged with the provider of its file.
    """
    sources = list(sources)
    provider_of = {str(f): name for name, src in sources for f in iter_pack_files(src)}
    packs, errors = load_packs(src for _, src in sources)
    return [PackEntry(p, provider_of.get(p.origin, "path")) for p in packs], errors


def error_dict(exc: RulesetError) -> dict[str, Any]:
    """JSON-ready ``{file, line, reason}`` of a pack or profile error."""
    return {"file": exc.file, "line": exc.line, "reason": exc.reason}


# ---------------------------------------------------------------------------------------------
# The condition language, read in Python (lint and explain; the engine itself uses the core)
# ---------------------------------------------------------------------------------------------


def _candidates(fact_type: str, field: str, ftype: str, operands: list[Any]) -> list[Any]:
    """Values worth trying on a field: every boundary the tests draw, and between them."""
    out: list[Any] = [MISSING]
    enum = allowed_values(fact_type, field)
    if enum:
        return out + list(enum)
    if ftype == "boolean":
        return [*out, True, False]
    flat: list[Any] = []
    for o in operands:
        flat.extend(o if isinstance(o, list) else [o])
    if ftype in ("string", "any"):
        out += [v for v in flat if isinstance(v, str)] + ["\x00another value"]
    if ftype in ("number", "integer", "any"):
        nums = sorted(
            {float(v) for v in flat if isinstance(v, int | float) and not isinstance(v, bool)}
        )
        points = {p for n in nums for p in (n - 1, n, n + 1)} or {0.0}
        points |= {(a + b) / 2 for a, b in itertools.pairwise(nums)}
        if ftype == "integer":
            points = {float(f(p)) for p in points for f in (math.floor, math.ceil)}
        lo, hi = range_of(fact_type, field)
        points |= {b for b in (lo, hi) if math.isfinite(b)}
        out += sorted(p for p in points if lo <= p <= hi)
    if ftype == "any":
        out += [True, False]
    return out


_Term = dict[str, list[tuple[str, Any]]]
_DNF_LIMIT = 256


def _dnf(test: Mapping[str, Any]) -> list[_Term] | None:
    """A field test as alternatives (or) of field -> tests (and); None if it grows too large."""
    terms: list[_Term] = [{}]
    for key, value in test.items():
        if key in ("all", "any"):
            alts: list[_Term] = [{}] if key == "all" else []
            for sub in value:
                sub_terms = _dnf(sub)
                if sub_terms is None:
                    return None
                alts = _product(alts, sub_terms) if key == "all" else alts + sub_terms
        else:
            alts = [{key: ops(value)}]
        terms = _product(terms, alts)
        if len(terms) > _DNF_LIMIT:
            return None
    return terms


def _product(left: list[_Term], right: list[_Term]) -> list[_Term]:
    out = []
    for a in left:
        for b in right:
            merged = {k: list(v) for k, v in a.items()}
            for k, v in b.items():
                merged.setdefault(k, []).extend(v)
            out.append(merged)
    return out


def _pattern_unsat(
    pattern: Mapping[str, Any], fields: Mapping[str, str], params: Mapping[str, Any]
) -> str | None:
    """Why no fact can ever match this pattern's tests (None if one can, or we cannot tell)."""
    fact_type = pattern.get("fact") or pattern["absent"]
    terms = _dnf(pattern.get("where") or {})
    if terms is None:
        return None
    first: str | None = None
    for term in terms:
        reason = None
        for field, tests in term.items():
            resolved = [(op, resolve_param(v, params)) for op, v in tests if not is_ref(v)]
            cands = _candidates(
                fact_type, field, fields.get(field, "any"), [v for _, v in resolved]
            )
            if not any(all(passes(op, c, v) for op, v in resolved) for c in cands):
                shown = " and ".join(
                    describe_test(op, v, params).removeprefix("= ") for op, v in tests
                )
                note = domain_note(fact_type, field)
                reason = f"{fact_type}.{field}{note} can never be {shown}"
                break
        if reason is None:
            return None
        first = first or reason
    return first


def never_fires(pack: RulePack, rule: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """Why ``rule`` can never fire with these parameter values, or None if it can."""
    facts = {**FACT_FIELDS, **pack.derives()}
    patterns = _patterns(rule)
    any_group = isinstance(rule["when"], Mapping) and "any" in rule["when"]
    bound = {p["fact"] for p in patterns if "fact" in p}
    reasons: list[str] = []
    for pattern in patterns:
        if "absent" in pattern:
            if not any_group and "where" not in pattern and pattern["absent"] in bound:
                return f"it needs a {pattern['absent']} fact and the absence of any"
            if any_group:
                return None  # an absence can always hold
            continue
        reason = _pattern_unsat(pattern, facts.get(pattern["fact"], {}), params)
        if reason and not any_group:
            return reason
        if reason is None and any_group:
            return None
        if reason:
            reasons.append(reason)
    return "; ".join(reasons) if any_group and reasons else None


def _rule_params(rule: Mapping[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif (name := param_name(node)) is not None and name not in found:
            found.append(name)

    walk(rule["when"])
    return found


def _alternatives(param: Parameter) -> list[Any]:
    if param.choices is not None:
        return [c for c in param.choices if c != param.default]
    return [b for b in (param.min, param.max) if b is not None and b != param.default]


def fragile_under_overrides(
    pack: RulePack, rule: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[dict[str, Any], str] | None:
    """The fewest allowed parameter changes that stop ``rule`` from ever firing, and why."""
    names = [n for n in _rule_params(rule) if n in pack.parameters][:4]
    for size in range(1, len(names) + 1):
        for chosen in itertools.combinations(names, size):
            choices = [_alternatives(pack.parameters[n]) for n in chosen]
            for combo in itertools.product(*choices):
                trial = {**params, **dict(zip(chosen, combo, strict=True))}
                reason = never_fires(pack, rule, trial)
                if reason:
                    return dict(zip(chosen, combo, strict=True)), reason
    return None


# -- card text -------------------------------------------------------------------------------

_LONG_BY_TYPE = {
    "number": "1234.56",
    "integer": "1234",
    "boolean": "yes",
    "string": "a value of 24 characters",
    "any": "1234.56",
}
_LONG_BY_FIELD = {"name": "Brooks Adrenaline GTS 23 (second pair)"}


def _long_param(param: Parameter) -> str:
    values = [param.default, param.min, param.max, *(param.choices or ())]
    return max((fmt_value(v) for v in values if v is not None), key=len)


def long_fill(
    text: str, pack: RulePack, rule: Mapping[str, Any] | None, score: Mapping[str, Any] | None
) -> str:
    """Card text with every placeholder filled with a realistic long value."""
    facts = {**FACT_FIELDS, **pack.derives()}
    aliases = _aliases(rule) if rule else {}

    def sub(m: Any) -> str:
        name, field = m.group(1), m.group(2)
        if field is None:
            if name in pack.parameters:
                return _long_param(pack.parameters[name])
            if score is not None and name == "score":
                return "12"
            if score is not None and name == "missing":
                comps = sorted(score["components"], key=len)
                return ", ".join(c.replace("_", " ") for c in comps[1:]) or "none"
            if score is not None and name in ("scored", "components"):
                return "12"
            return str(m.group(0))
        fact_type = aliases.get(name, "")
        enum = allowed_values(fact_type, field)
        if enum:
            return max(enum, key=len)
        kind = facts.get(fact_type, {}).get(field, "any")
        return _LONG_BY_FIELD.get(field) or _LONG_BY_TYPE.get(kind, "1234.56")

    return str(PLACEHOLDER.sub(sub, text))


def _placeholder_problem(
    text: str, pack: RulePack, rule: Mapping[str, Any] | None, score_card: bool
) -> str | None:
    facts = {**FACT_FIELDS, **pack.derives()}
    aliases = _aliases(rule) if rule else {}
    for m in PLACEHOLDER.finditer(text):
        name, field = m.group(1), m.group(2)
        if field is None:
            if name in pack.parameters or (score_card and name in SCORE_VALUES):
                continue
            return f"{{{name}}} is neither a parameter of {pack.id!r} nor alias.field"
        if name not in aliases or field not in facts.get(aliases[name], {}):
            return f"{{{name}.{field}}} names no fact field this rule binds"
    return None


def _card_of(pack: RulePack, rid: str) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, Any]:
    """(card spec, rule or None, score or None) for a rule or score band id; KeyError if none."""
    for rule in pack.rules:
        if rule["id"] == rid and "card" in rule["then"]:
            return rule["then"]["card"], rule, None
    for sid, score in pack.scores.items():
        for band in score["bands"]:
            if band["id"] == rid:
                return band["card"], None, score
        inc = score.get("incomplete")
        if inc and rid == str(inc.get("id") or f"{sid.replace('_', '-')}-incomplete"):
            return inc["card"], None, score
    raise KeyError(rid)


# ---------------------------------------------------------------------------------------------
# Clinic profiles
# ---------------------------------------------------------------------------------------------

_SLUG = {"type": "string", "pattern": "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "maxLength": 60}
_KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 60}
_RULE_REF = "^([a-z][a-z0-9]*(-[a-z0-9]+)*/)?[a-z][a-z0-9]*(-[a-z0-9]+)*$"
_QUALIFIED = "^[a-z][a-z0-9]*(-[a-z0-9]+)*/[a-z][a-z0-9]*(-[a-z0-9]+)*$"

PROFILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stridewise clinic profile",
    "type": "object",
    "additionalProperties": False,
    "required": ["clinic"],
    "properties": {
        "clinic": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "name"],
            "properties": {
                "id": _SLUG,
                "name": {"type": "string", "minLength": 1},
                "contact": {"type": "string"},
                "reviewed": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            },
        },
        "packs": {
            "type": "object",
            "propertyNames": _SLUG,
            "additionalProperties": {"type": ["string", "null"]},
        },
        "own_packs": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "parameters": {
            "type": "object",
            "propertyNames": _SLUG,
            "additionalProperties": {
                "type": "object",
                "propertyNames": _KEY,
                "additionalProperties": {"type": ["number", "boolean", "string"]},
            },
        },
        "disabled": {
            "type": "array",
            "uniqueItems": True,
            "items": {"type": "string", "pattern": _RULE_REF},
        },
        "wording": {
            "type": "object",
            "propertyNames": {"pattern": _QUALIFIED},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {
                    "summary": {"type": "string", "minLength": 5},
                    "detail": {"type": "string", "minLength": 5},
                },
            },
        },
    },
}


@dataclasses.dataclass(frozen=True, slots=True)
class ResolvedProfile:
    """A profile checked against the installed packs: what it selects, and what is wrong."""

    packs: tuple[RulePack, ...]
    overrides: Mapping[str, Mapping[str, Any]]
    errors: tuple[RulesetError, ...]
    warnings: tuple[RulesetError, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ClinicProfile:
    """One clinic's choice of packs and tuning (immutable: profiles never share state)."""

    path: Path
    clinic_id: str
    name: str
    selections: Mapping[str, str | None]
    own_packs: tuple[RulePack, ...]
    overrides: Mapping[str, Mapping[str, Any]]
    disabled: tuple[str, ...]
    wording: Mapping[str, Wording]
    lines: Mapping[str, int] = dataclasses.field(repr=False, compare=False)

    def _error(self, message: str, key: str) -> RulesetError:
        return RulesetError(message, file=str(self.path), line=self.lines.get(key))

    def resolve(self, available: Iterable[RulePack]) -> ResolvedProfile:
        """Select packs and check every override, disabled rule and wording against them."""
        errors: list[RulesetError] = []
        candidates: dict[str, list[tuple[RulePack, bool]]] = {}
        for pack in available:
            candidates.setdefault(pack.id, []).append((pack, False))
        for pack in self.own_packs:
            candidates.setdefault(pack.id, []).append((pack, True))
        wanted: Mapping[str, str | None] = self.selections or dict.fromkeys(candidates)
        chosen: dict[str, RulePack] = {}
        for pid, spec in wanted.items():
            options = candidates.get(pid)
            if not options:
                installed = ", ".join(sorted(candidates)) or "none"
                errors.append(
                    self._error(
                        f"pack {pid!r} is not installed (installed: {installed})", f"packs/{pid}"
                    )
                )
                continue
            pick = _pick_version(options, SpecifierSet(spec) if spec else None)
            if pick is None:
                versions = ", ".join(
                    f"{p.version} ({'own' if own else p.origin})" for p, own in options
                )
                errors.append(
                    self._error(
                        f"no version of pack {pid!r} matches {spec!r} (available: {versions})",
                        f"packs/{pid}",
                    )
                )
                continue
            chosen[pid] = pick
        for pack in self.own_packs:  # the clinic's own packs run unless a range excludes them
            if pack.id not in wanted:
                chosen[pack.id] = pack
        self._check_protected(candidates, chosen, errors)
        overrides = self._check_overrides(chosen, errors)
        self._check_disabled(chosen, errors)
        warnings = self._check_wording(chosen, errors)
        for pid, values in overrides.items():
            pack = chosen[pid]
            params = {n: p.default for n, p in pack.parameters.items()} | dict(values)
            for rule in pack.rules:
                if {rule["id"], f"{pid}/{rule['id']}"} & set(self.disabled):
                    continue
                reason = never_fires(pack, rule, params)
                if reason:
                    warnings.append(
                        self._error(
                            f"with this profile's parameters rule '{pid}/{rule['id']}' can never "
                            f"fire: {reason}",
                            f"parameters/{pid}",
                        )
                    )
        return ResolvedProfile(
            packs=tuple(chosen.values()),
            overrides=MappingProxyType(overrides),
            errors=tuple(errors),
            warnings=tuple(warnings),
        )

    def _check_protected(
        self,
        candidates: Mapping[str, list[tuple[RulePack, bool]]],
        chosen: Mapping[str, RulePack],
        errors: list[RulesetError],
    ) -> None:
        """Red flags are tunable by no one: no leaving out, shadowing, disabling, rewording."""
        for pid, options in candidates.items():
            installed = [p for p, own in options if not own and p.protected_rules]
            if not installed:
                continue
            red_flags = ", ".join(sorted(installed[0].protected_rules))
            if pid not in chosen:
                errors.append(
                    self._error(
                        f"pack {pid!r} holds protected red-flag rules ({red_flags}): a profile "
                        "cannot leave it out",
                        "packs",
                    )
                )
            for i, shadow in enumerate(p for p, own in options if own):
                errors.append(
                    self._error(
                        f"own pack {shadow.id!r} ({shadow.origin}) would shadow the installed pack "
                        f"with protected red-flag rules ({red_flags}): give it another id",
                        f"own_packs/{i}" if f"own_packs/{i}" in self.lines else "own_packs",
                    )
                )
            if pid in chosen and chosen[pid] not in installed:
                errors.append(
                    self._error(
                        f"pack {pid!r} {chosen[pid].version} is not the installed pack with "
                        "the protected red-flag rules",
                        f"packs/{pid}",
                    )
                )
        for i, ref in enumerate(self.disabled):
            pid, _, rid = ref.rpartition("/")
            for pack in chosen.values():
                if (not pid or pid == pack.id) and rid in pack.protected_rules:
                    errors.append(
                        self._error(
                            f"cannot disable {pack.id}/{rid}: it is a protected red flag",
                            f"disabled/{i}",
                        )
                    )
        for pid, values in self.overrides.items():
            tuned = chosen.get(pid)
            for name in values:
                if tuned is not None and name in tuned.protected_parameters:
                    errors.append(
                        self._error(
                            f"parameter {name!r} of pack {pid!r} is read by a protected "
                            "red-flag rule: a profile cannot change it",
                            f"parameters/{pid}/{name}",
                        )
                    )
        for key in self.wording:
            pid, _, rid = key.partition("/")
            worded = chosen.get(pid)
            if worded is not None and rid in worded.protected_rules:
                errors.append(
                    self._error(
                        f"wording for {key!r}: a protected red flag's wording is fixed",
                        f"wording/{key}",
                    )
                )

    def _check_overrides(
        self, chosen: Mapping[str, RulePack], errors: list[RulesetError]
    ) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for pid, values in self.overrides.items():
            pack = chosen.get(pid)
            if pack is None:
                errors.append(
                    self._error(
                        f"parameters for pack {pid!r}, which this profile does not select",
                        f"parameters/{pid}",
                    )
                )
                continue
            for name, value in values.items():
                key = f"parameters/{pid}/{name}"
                param = pack.parameters.get(name)
                if param is None:
                    known = ", ".join(sorted(pack.parameters)) or "none"
                    errors.append(
                        self._error(
                            f"pack {pid!r} has no parameter {name!r} (its parameters: {known})", key
                        )
                    )
                    continue
                try:
                    param.check(value, str(self.path))
                except RulesetError as exc:
                    errors.append(self._error(f"pack {pid!r}: {exc.reason}", key))
                    continue
                out.setdefault(pid, {})[name] = value
        return out

    def _check_disabled(self, chosen: Mapping[str, RulePack], errors: list[RulesetError]) -> None:
        known = [f"{p.id}/{r}" for p in chosen.values() for r in p.rule_ids]
        for i, ref in enumerate(self.disabled):
            if "/" in ref:
                pid, rid = ref.split("/", 1)
                ok = pid in chosen and rid in chosen[pid].rule_ids
            else:
                ok = any(ref in p.rule_ids for p in chosen.values())
            if not ok:
                errors.append(
                    self._error(
                        f"cannot disable {ref!r}: no such rule in the selected packs"
                        + _did_you_mean(ref, known),
                        f"disabled/{i}",
                    )
                )

    def _check_wording(
        self, chosen: Mapping[str, RulePack], errors: list[RulesetError]
    ) -> list[RulesetError]:
        warnings: list[RulesetError] = []
        known = [f"{p.id}/{r}" for p in chosen.values() for r in p.rule_ids]
        for key, words in self.wording.items():
            pid, rid = key.split("/", 1)
            where = f"wording/{key}"
            try:
                card, rule, score = _card_of(chosen[pid], rid)
            except KeyError:
                errors.append(
                    self._error(
                        f"wording for {key!r}: no rule with a card by that id in the selected "
                        "packs" + _did_you_mean(key, known),
                        where,
                    )
                )
                continue
            pack = chosen[pid]
            summary = words.summary or card["summary"]
            detail = words.detail or card["detail"]
            for text in (words.summary, words.detail):
                problem = text and _placeholder_problem(text, pack, rule, score is not None)
                if problem:
                    errors.append(self._error(f"wording for {key!r}: {problem}", where))
            if card["indicator"] == "critical" and not PHYSICIAN.search(summary + detail):
                errors.append(
                    self._error(
                        f"wording for {key!r}: a critical card must tell the runner to see a "
                        "physician",
                        where,
                    )
                )
            filled = long_fill(summary, pack, rule, score)
            if len(filled) > SUMMARY_MAX:
                warnings.append(
                    self._error(
                        f"wording for {key!r}: the summary can reach {len(filled)} characters "
                        f"(cards show at most {SUMMARY_MAX}; longer ones are cut)",
                        where,
                    )
                )
        return warnings

    def build_engine(self, available: Iterable[RulePack]) -> Engine:
        """This clinic's engine over ``available`` packs and its own; raises the first error."""
        resolved = self.resolve(available)
        if resolved.errors:
            raise resolved.errors[0]
        return Engine(
            resolved.packs,
            overrides=resolved.overrides,
            disabled=self.disabled,
            wording=self.wording,
        )


def _did_you_mean(ref: str, known: Sequence[str]) -> str:
    bare = {k.split("/", 1)[1]: k for k in known if "/" in k}
    close = difflib.get_close_matches(ref, [*known, *bare], n=1, cutoff=0.75)
    return f" (did you mean {bare.get(close[0], close[0])!r}?)" if close else ""


def _pick_version(
    options: list[tuple[RulePack, bool]], spec: SpecifierSet | None
) -> RulePack | None:
    """The newest pack that satisfies ``spec``; on a tie the clinic's own."""
    ranked: list[tuple[Version, bool, RulePack]] = []
    for pack, own in options:
        try:
            version = Version(pack.version)
        except InvalidVersion:
            continue
        if spec is None or spec.contains(version, prereleases=True):
            ranked.append((version, own, pack))
    if not ranked:
        return None
    return max(ranked, key=lambda t: (t[0], t[1]))[2]


def load_profile(path: Path | str) -> ClinicProfile:
    """Read and validate a clinic profile; the clinic's own packs are loaded too.

    Errors (bad YAML, schema, an own pack that does not load, a bad version range) raise
    :class:`RulesetError` with file, line and reason. What needs the installed packs (pack ids,
    parameter values, rule ids) is checked by :meth:`ClinicProfile.resolve`.
    """
    path = Path(path)
    origin = str(path)
    text = _read_text(path)
    doc = parse_yaml(text, origin)
    if not isinstance(doc, dict):
        raise RulesetError(
            "a clinic profile must be a mapping at the top level", file=origin, line=1
        )
    _check_schema(doc, PROFILE_SCHEMA, origin)
    index = line_index(text)
    selections: dict[str, str | None] = {}
    for pid, raw in (doc.get("packs") or {}).items():
        spec = (raw or "").strip()
        selections[pid] = None if spec in ("", "*") else spec
        try:
            SpecifierSet(selections[pid] or "")
        except InvalidSpecifier:
            raise RulesetError(
                f'packs/{pid}: {spec!r} is not a version range (e.g. ">=1.0,<2")',
                file=origin,
                line=index.get(("packs", pid)),
            ) from None
    folders = [path.parent / rel for rel in doc.get("own_packs") or ()]
    home = path.parent.resolve()
    for i, folder in enumerate(folders):
        if not folder.resolve().is_relative_to(home):
            raise RulesetError(
                f"own_packs: {doc['own_packs'][i]!r} is outside the profile's folder ({home}); "
                "a clinic's own packs live beside its profile, or come from an installed plugin",
                file=origin,
                line=index.get(("own_packs", i)),
            )
        if not folder.exists():
            raise RulesetError(
                f"own_packs: {doc['own_packs'][i]!r} does not exist (looked for {folder})",
                file=origin,
                line=index.get(("own_packs", i)),
            )
    own, errors = load_packs(folders)
    if errors:
        raise errors[0]  # a clinic's pack that does not load must not be skipped silently
    overrides: dict[str, Mapping[str, Any]] = {}
    for pid, values in (doc.get("parameters") or {}).items():
        overrides[pid] = MappingProxyType(dict(values))
    wording: dict[str, Wording] = {}
    for key, words in (doc.get("wording") or {}).items():
        for part in ("summary", "detail"):
            problem = markup_problem(words.get(part) or "")
            if problem:
                raise RulesetError(
                    f"wording for {key!r}, {part}: {problem}",
                    file=origin,
                    line=index.get(("wording", key, part)),
                )
        wording[key] = Wording(summary=words.get("summary"), detail=words.get("detail"))
    return ClinicProfile(
        path=path,
        clinic_id=doc["clinic"]["id"],
        name=doc["clinic"]["name"],
        selections=MappingProxyType(selections),
        own_packs=tuple(own),
        overrides=MappingProxyType(overrides),
        disabled=tuple(doc.get("disabled") or ()),
        wording=MappingProxyType(wording),
        lines=MappingProxyType({"/".join(map(str, p)): n for p, n in index.items() if p}),
    )


# ---------------------------------------------------------------------------------------------
# Pack tests
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class CaseResult:
    """One test case of one pack: what fired, and every expectation that was not met."""

    pack: str
    origin: str
    case: str
    line: int | None
    failures: tuple[str, ...]
    fired: tuple[str, ...]
    cards: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "file": self.origin,
            "line": self.line,
            "case": self.case,
            "ok": self.ok,
            "failures": list(self.failures),
            "fired": list(self.fired),
            "cards": [{"rule": r, "indicator": i} for r, i in self.cards],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class PackCoverage:
    """Which of a pack's rules (and score bands) fired in at least one of its cases."""

    pack: str
    origin: str
    rules: tuple[str, ...]
    covered: frozenset[str]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.rules) if self.rules else 100.0

    @property
    def missed(self) -> list[str]:
        return [r for r in self.rules if r not in self.covered]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "file": self.origin,
            "rules": len(self.rules),
            "covered": len(self.covered),
            "percent": round(self.percent, 1),
            "never_fired": self.missed,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class TestReport:
    """Every case's result, per-pack coverage, and the packs that did not load."""

    __test__: ClassVar[bool] = False  # not a pytest class

    cases: tuple[CaseResult, ...]
    coverage: tuple[PackCoverage, ...]
    errors: tuple[RulesetError, ...] = ()

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    @property
    def percent(self) -> float:
        total = sum(len(c.rules) for c in self.coverage)
        covered = sum(len(c.covered) for c in self.coverage)
        return 100.0 * covered / total if total else 100.0

    def under(self, min_coverage: float) -> list[PackCoverage]:
        """Packs whose own coverage is below ``min_coverage`` percent."""
        return [c for c in self.coverage if c.percent + 1e-9 < min_coverage]

    def ok(self, min_coverage: float = 0.0) -> bool:
        return not self.failures and not self.errors and not self.under(min_coverage)

    def to_dict(self, min_coverage: float = 0.0) -> dict[str, Any]:
        return {
            "ok": self.ok(min_coverage),
            "min_coverage": min_coverage,
            "coverage_percent": round(self.percent, 1),
            "cases": [c.to_dict() for c in self.cases],
            "coverage": [c.to_dict() for c in self.coverage],
            "errors": [error_dict(e) for e in self.errors],
        }


def run_pack_tests(
    packs: Iterable[RulePack], *, load_errors: Iterable[RulesetError] = ()
) -> TestReport:
    """Run every test case of every pack, each on an engine of its own pack alone."""
    cases: list[CaseResult] = []
    coverage: list[PackCoverage] = []
    for pack in packs:
        covered: set[str] = set()
        for i, case in enumerate(pack.tests):
            result = _run_case(pack, case, _pack_line(pack, ["tests", i]))
            covered.update(result.fired)
            cases.append(result)
        ids = tuple(pack.rule_ids)
        coverage.append(PackCoverage(pack.id, pack.origin, ids, frozenset(covered & set(ids))))
    return TestReport(tuple(cases), tuple(coverage), tuple(load_errors))


def case_facts(case: Mapping[str, Any], as_of: dt.date) -> list[dict[str, Any]]:
    """A test case's facts: derived from its events (if any) plus its literal facts.

    Events without ``id`` or ``source`` get ``case-<n>`` and ``pack-test``. Raises
    :class:`InputError` naming the event for an invalid one.
    """
    facts = [dict(f) for f in case.get("facts") or ()]
    if not case.get("events"):
        return facts
    events = []
    for n, raw in enumerate(case["events"], 1):
        try:
            events.append(load_event({"id": f"case-{n}", "source": "pack-test", **raw}))
        except InputError as exc:
            raise InputError(f"event {n}: {exc.reason}") from None
    return History(events).facts(as_of) + facts


def _run_case(pack: RulePack, case: Mapping[str, Any], line: int | None) -> CaseResult:
    name = str(case["name"])

    def result(
        failures: list[str], fired: Iterable[str] = (), cards: Iterable[tuple[str, str]] = ()
    ) -> CaseResult:
        return CaseResult(
            pack.id, pack.origin, name, line, tuple(failures), tuple(fired), tuple(cards)
        )

    try:
        as_of = dt.date.fromisoformat(case["as_of"])
        engine = Engine(
            [pack], overrides={pack.id: case.get("parameters") or {}}, allow_protected=True
        )
        facts = case_facts(case, as_of)
        evaluation = engine.evaluate_facts(facts, as_of)
    except ValueError as exc:
        return result([f"as_of: {exc}"])
    except StridewiseError as exc:
        return result([getattr(exc, "reason", str(exc))])
    except Exception as exc:  # the rules core's own errors: report, keep testing other cases
        return result([f"evaluation failed: {type(exc).__name__}: {exc}"])
    fired = {k.split("/", 1)[1] for k in evaluation.fired} | {
        c.rule_id for c in evaluation.all_cards
    }
    indicators: dict[str, set[str]] = {}
    for card in evaluation.all_cards:
        indicators.setdefault(card.rule_id, set()).add(card.indicator)
    known = set(pack.rule_ids)
    failures: list[str] = [f"failed: {f}" for f in evaluation.failures]
    for exp in case.get("expect") or ():
        rid = exp["rule"]
        if rid not in known:
            failures.append(f"expects unknown rule {rid!r}" + _did_you_mean(rid, sorted(known)))
        elif rid not in fired:
            failures.append(f"expected {rid} to fire; it did not")
        elif exp.get("indicator") and exp["indicator"] not in indicators.get(rid, ()):
            got = ", ".join(sorted(indicators.get(rid, ()))) or "no card"
            failures.append(f"expected {rid} with indicator {exp['indicator']}; got {got}")
    for rid in case.get("silent") or ():
        if rid not in known:
            failures.append(
                f"names unknown rule {rid!r} as silent" + _did_you_mean(rid, sorted(known))
            )
        elif rid in fired:
            failures.append(f"expected {rid} to stay silent; it fired")
    shown = {c.rule_id: c for c in evaluation.cards}
    hidden = {c.rule_id: c for c in evaluation.suppressed}
    for rid in case.get("shown") or ():
        if rid not in shown:
            why = f" (suppressed: {hidden[rid].suppression})" if rid in hidden else ""
            failures.append(f"expected {rid}'s card to show; it did not{why}")
    for rid in case.get("suppressed") or ():
        if rid not in hidden:
            failures.append(f"expected {rid}'s card to be suppressed; it was not")
    cards = sorted((c.rule_id, c.indicator) for c in evaluation.cards)
    return result(failures, sorted(fired), cards)


# ---------------------------------------------------------------------------------------------
# Vignettes: a short history run through every pack together, and the message it must give
# ---------------------------------------------------------------------------------------------

_CARD_KEY = {"type": "string", "pattern": _QUALIFIED}
VIGNETTE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "stridewise vignettes",
    "type": "object",
    "additionalProperties": False,
    "required": ["vignettes"],
    "properties": {
        "vignettes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "as_of", "events"],
                "properties": {
                    "name": {"type": "string", "minLength": 3},
                    "story": {"type": "string"},
                    "as_of": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
                    "events": {"type": "array", "items": {"type": "object"}},
                    "training": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["start", "weeks", "km"],
                            "properties": {
                                "start": {"type": "string", "format": "date"},
                                "weeks": {"type": "integer", "minimum": 1, "maximum": 104},
                                "km": {
                                    "type": "array",
                                    "minItems": 7,
                                    "maxItems": 7,
                                    "items": {"type": "number", "minimum": 0},
                                },
                                "shoe": {"type": "string"},
                                "rpe": {"type": "number", "minimum": 0, "maximum": 10},
                                "cadence_spm": {"type": "number"},
                                "surface": {"type": "string"},
                            },
                        },
                    },
                    "first": _CARD_KEY,
                    "shown": {"type": "array", "items": _CARD_KEY},
                    "suppressed": {"type": "array", "items": _CARD_KEY},
                    "silent": {"type": "array", "items": _CARD_KEY},
                    "max_shown": {"type": "integer", "minimum": 0},
                    "indicators": {
                        "type": "object",
                        "propertyNames": {"enum": ["critical", "warning", "info"]},
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                },
            },
        }
    },
}


def builtin_vignette_files() -> list[Traversable]:
    """The vignette files shipped in :mod:`stridewise.rulesets` (``vignettes/*.yaml``)."""
    root = files("stridewise.rulesets").joinpath("vignettes")
    if not root.is_dir():
        return []
    return sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def run_vignettes(
    packs: Iterable[RulePack], sources: Iterable[Path | Traversable]
) -> list[CaseResult]:
    """Run vignettes (a short history, the cards it must and must not show) on all packs."""
    engine = Engine(list(packs))
    results: list[CaseResult] = []
    for source in sources:
        origin = str(source)
        text = source.read_text("utf-8")
        index = line_index(text)
        try:
            doc = parse_yaml(text, origin)
            _check_schema(doc, VIGNETTE_SCHEMA, origin)
        except RulesetError as exc:
            results.append(
                CaseResult("vignettes", origin, "(file)", exc.line, (exc.reason,), (), ())
            )
            continue
        for i, vignette in enumerate(doc["vignettes"]):
            results.append(_run_vignette(engine, vignette, origin, index.get(("vignettes", i))))
    return results


def _training_runs(blocks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs from repeating weeks: ``km`` is the distance for each day of the week from
    ``start`` (0 = rest), repeated ``weeks`` times; each run at 5:30 min/km."""
    runs: list[dict[str, Any]] = []
    for b, block in enumerate(blocks):
        start = dt.date.fromisoformat(block["start"])
        for i in range(7 * block["weeks"]):
            km = block["km"][i % 7]
            if not km:
                continue
            day = start + dt.timedelta(days=i)
            run = {
                "kind": "run",
                "id": f"vignette-{b}-{i}",
                "source": "vignette",
                "start": f"{day.isoformat()}T07:00:00+00:00",
                "distance_m": km * 1000.0,
                "moving_time_s": km * 330.0,
            }
            for key, name in (
                ("shoe", "shoe_id"),
                ("rpe", "rpe"),
                ("cadence_spm", "cadence_spm"),
                ("surface", "surface"),
            ):
                if key in block:
                    run[name] = block[key]
            runs.append(run)
    return runs


def _run_vignette(
    engine: Engine, vignette: Mapping[str, Any], origin: str, line: int | None
) -> CaseResult:
    name = str(vignette["name"])
    try:
        as_of = dt.date.fromisoformat(vignette["as_of"])
        events = [*vignette["events"], *_training_runs(vignette.get("training") or ())]
        evaluation = engine.evaluate_facts(
            case_facts({"events": events}, as_of), as_of, athlete="vignette"
        )
    except (ValueError, StridewiseError) as exc:
        reason = getattr(exc, "reason", str(exc))
        return CaseResult("vignettes", origin, name, line, (reason,), (), ())
    shown = [c.key for c in evaluation.cards]
    merged = {k for c in evaluation.cards for k in c.merged}
    hidden = {c.key: c for c in evaluation.suppressed}
    fired = set(evaluation.fired) | {c.key for c in evaluation.all_cards}
    failures: list[str] = []
    first = vignette.get("first")
    if first and (not shown or shown[0] != first):
        failures.append(f"expected {first} first; got {shown[0] if shown else 'no card'}")
    for key in vignette.get("shown") or ():
        if key not in shown and key not in merged:
            why = f" (set aside: {hidden[key].suppression})" if key in hidden else ""
            failures.append(f"expected {key} to show; it did not{why}")
    for key in vignette.get("suppressed") or ():
        if key not in hidden:
            state = "it showed" if key in shown else "it did not fire"
            failures.append(f"expected {key} to fire and be set aside; {state}")
    for key in vignette.get("silent") or ():
        if key in fired:
            failures.append(f"expected {key} to stay silent; it fired")
    limit = vignette.get("max_shown")
    if limit is not None and len(shown) > limit:
        failures.append(f"expected at most {limit} cards; {len(shown)} showed: {shown}")
    for indicator, count in (vignette.get("indicators") or {}).items():
        got = sum(1 for c in evaluation.cards if c.indicator == indicator)
        if got != count:
            failures.append(f"expected {count} {indicator} card(s); got {got}")
    cards = tuple((c.key, c.indicator) for c in evaluation.cards)
    return CaseResult("vignettes", origin, name, line, tuple(failures), tuple(sorted(fired)), cards)


# ---------------------------------------------------------------------------------------------
# Lint
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One lint finding, printed as ``file:line: severity: message``."""

    file: str
    line: int
    severity: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def lint_packs(sources: Iterable[Path | Traversable]) -> list[Finding]:
    """Load every pack file (each load error is a finding) and lint the packs that load."""
    packs, errors = load_packs(sources)
    findings = [Finding(e.file or "<pack>", e.line or 1, "error", e.reason) for e in errors]
    conditions: dict[str, tuple[RulePack, str]] = {}
    compiled_ok: list[RulePack] = []
    for pack in packs:
        findings += lint_pack(pack)
        try:
            compiled, _ = compile_packs([pack])
            refusal = core_refusal(compiled)  # what the rules core itself would refuse
            if refusal is not None:
                raise refusal
        except RulesetError as exc:
            findings.append(Finding(exc.file or pack.origin, exc.line or 1, "error", exc.reason))
            continue
        compiled_ok.append(pack)
        for rule in compiled:
            marker = json.dumps(rule.condition, sort_keys=True)
            twin = conditions.setdefault(marker, (pack, rule.key))
            if twin[1] != rule.key:
                where = "" if twin[0] is pack else f" in {twin[0].origin}"
                findings.append(
                    Finding(
                        pack.origin,
                        pack.lines.get(rule.rule["id"], 1),
                        "warning",
                        f"rule {rule.rule['id']!r} has the same conditions as {twin[1]!r}{where}: "
                        "they always fire together",
                    )
                )
    if len(compiled_ok) > 1:  # packs that each build may still clash when built together
        try:
            refusal = core_refusal(compile_packs(compiled_ok)[0])
        except RulesetError as exc:
            refusal = exc
        if refusal is not None:
            findings.append(
                Finding(
                    refusal.file or "<packs>",
                    refusal.line or 1,
                    "error",
                    f"with every pack loaded together: {refusal.reason}",
                )
            )
    return sorted(findings)


def lint_pack(pack: RulePack) -> list[Finding]:
    """What loading does not check, for one loaded pack."""
    out: list[Finding] = []

    def add(severity: str, message: str, line: int | None) -> None:
        out.append(Finding(pack.origin, line or 1, severity, message))

    defaults = {n: p.default for n, p in pack.parameters.items()}
    if pack.status == "active" and not pack.reviewed:
        add(
            "warning",
            "an active pack should say when it was last reviewed (ruleset.reviewed)",
            _pack_line(pack, ["ruleset"]),
        )
    cited: set[str] = set()
    used: set[str] = set()
    cards: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None, Any, int | None]] = []
    for rule in pack.rules:
        rid, line = rule["id"], pack.lines.get(rule["id"])
        used.update(_rule_params(rule))
        used.update(_rule_params({"when": rule["then"].get("derive") or {}}))
        if "card" in rule["then"]:
            cards.append((rid, rule["then"]["card"], rule, None, line))
        reason = never_fires(pack, rule, defaults)
        if reason:
            add("error", f"rule {rid!r} can never fire: {reason}", line)
            continue
        fragile = fragile_under_overrides(pack, rule, defaults)
        if fragile:
            values, why = fragile
            shown = " and ".join(f"{n} = {fmt_value(v)}" for n, v in values.items())
            add(
                "warning",
                f"rule {rid!r} can never fire when {shown} (the bounds allow it): {why}",
                line,
            )
    for sid, score in pack.scores.items():
        cited.add(score["source"])
        for band in score["bands"]:
            cards.append((band["id"], band["card"], None, score, _pack_line(pack, ["scores", sid])))
    for param in pack.parameters.values():
        if param.source:
            cited.add(param.source)
    for rid, card, rule_spec, score, line in cards:
        refs = card["source"]
        cited.update(refs if isinstance(refs, list) else [refs])
        for text in (card["summary"], card["detail"]):
            used.update(m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(2) is None)
        filled = long_fill(card["summary"], pack, rule_spec, score)
        if len(filled) > SUMMARY_MAX:
            add(
                "warning",
                f"{rid!r}: the summary can reach {len(filled)} characters with long values "
                f"(cards show at most {SUMMARY_MAX}; longer ones are cut): {filled!r}",
                line,
            )
    for sid in pack.sources:
        if sid not in cited:
            add("warning", f"source {sid!r} is never cited", _pack_line(pack, ["sources", sid]))
    for name in pack.parameters:
        if name not in used:
            add(
                "warning",
                f"parameter {name!r} is never used",
                _pack_line(pack, ["parameters", name]),
            )
    out += _lint_tests(pack)
    return out


def _lint_tests(pack: RulePack) -> list[Finding]:
    out: list[Finding] = []
    known = set(pack.rule_ids)
    facts = {**FACT_FIELDS, **pack.derives()}
    expected: set[str] = set()
    for i, case in enumerate(pack.tests):
        line = _pack_line(pack, ["tests", i]) or 1

        def add(message: str, line: int = line, case: Mapping[str, Any] = case) -> None:
            out.append(Finding(pack.origin, line, "error", f"test {case['name']!r}: {message}"))

        for rid in [e["rule"] for e in case.get("expect") or ()] + list(case.get("silent") or ()):
            if rid not in known:
                add(f"names unknown rule {rid!r}" + _did_you_mean(rid, sorted(known)))
        expected.update(e["rule"] for e in case.get("expect") or ())
        for name, value in (case.get("parameters") or {}).items():
            param = pack.parameters.get(name)
            if param is None:
                add(f"sets unknown parameter {name!r}")
                continue
            try:
                param.check(value, pack.origin)
            except RulesetError as exc:
                add(exc.reason)
        for n, fact in enumerate(case.get("facts") or (), 1):
            fields = facts.get(fact["type"])
            if fields is None:
                add(f"fact {n}: unknown fact type {fact['type']!r}")
                continue
            for field in fact:
                if field not in ("type", "rule") and field not in fields:
                    add(
                        f"fact {n}: {fact['type']} has no field {field!r}"
                        + _did_you_mean(field, sorted(fields))
                    )
        if case.get("events"):
            try:
                case_facts({"events": case["events"]}, dt.date.fromisoformat(case["as_of"]))
            except (InputError, ValueError) as exc:
                add(getattr(exc, "reason", str(exc)))
    for rid in pack.rule_ids:
        if rid not in expected:
            line = pack.lines.get(rid) or _band_line(pack, rid)
            out.append(
                Finding(pack.origin, line, "warning", f"no test case expects rule {rid!r} to fire")
            )
    return out


def _band_line(pack: RulePack, band_id: str) -> int:
    for sid, score in pack.scores.items():
        if any(b["id"] == band_id for b in score["bands"]):
            return _pack_line(pack, ["scores", sid]) or 1
    return 1


# ---------------------------------------------------------------------------------------------
# Explain
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class RuleExplanation:
    """Why a rule fired (the facts it matched) or why not (the first test that failed)."""

    key: str
    status: str  # "fired", "silent" or "disabled"
    title: str | None
    reason: str | None
    matched: tuple[Mapping[str, Mapping[str, Any]], ...] = ()
    parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cards: tuple[Card, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.key,
            "status": self.status,
            "title": self.title,
            "reason": self.reason,
            "matched": [{a: dict(f) for a, f in m.items()} for m in self.matched],
            "parameters": dict(self.parameters),
            "cards": [{"summary": c.summary, "indicator": c.indicator} for c in self.cards],
        }


_MATCH_LIMIT = 20


@dataclasses.dataclass(slots=True)
class _Failure:
    depth: int
    passed: int
    reason: str
    candidates: int

    def text(self, fact_type: str) -> str:
        if self.candidates > 1:
            return f"no {fact_type} fact matches (closest: {self.reason})"
        return self.reason


def explain(engine: Engine, evaluation: Evaluation) -> list[RuleExplanation]:
    """Explain one evaluation: every rule (and score band) of the engine's packs, in pack order."""
    fired = set(evaluation.fired)
    pool = [dict(f) for f in evaluation.facts]
    _rederive(engine, fired, pool)
    cards_by_key: dict[str, list[Card]] = {}
    for card in evaluation.all_cards:  # suppressed cards fired too
        cards_by_key.setdefault(card.key, []).append(card)
    active = {r.key: r for r in engine.rules}
    out: list[RuleExplanation] = []
    for pack in engine.packs:
        for spec in pack.rules:
            key = f"{pack.id}/{spec['id']}"
            rule = active.get(key)
            if rule is None:
                out.append(RuleExplanation(key, "disabled", spec.get("title"), "disabled"))
                continue
            bindings, reason = _match(rule, pool)
            params = {n: rule.params[n] for n in _rule_params(spec) if n in rule.params}
            matched: tuple[Mapping[str, Mapping[str, Any]], ...] = tuple(
                _shown(rule, b) for b in bindings
            )
            if key in fired:
                note = None
                if not matched:  # our reading disagrees with the core: show what the cards hold
                    matched = tuple(f for c in cards_by_key.get(key, ()) for f in c.facts)
                    note = "the rules engine fired it; this explanation finds no match"
                out.append(
                    RuleExplanation(
                        key,
                        "fired",
                        spec.get("title"),
                        note,
                        matched,
                        params,
                        tuple(cards_by_key.get(key, ())),
                    )
                )
            else:
                why = reason or "its conditions hold here, yet the rules engine did not fire it"
                out.append(RuleExplanation(key, "silent", spec.get("title"), why, (), params))
        out += _explain_scores(engine, pack, fired, cards_by_key)
    return out


def _rederive(engine: Engine, fired: set[str], pool: list[dict[str, Any]]) -> None:
    """Rebuild the facts fired rules derived (an evaluation keeps only their type)."""
    derivers = [r for r in engine.rules if r.key in fired and "derive" in r.rule["then"]]
    done: set[str] = set()
    for _ in range(len(derivers)):
        progress = False
        for rule in derivers:
            if rule.key in done:
                continue
            bindings, _ = _match(rule, pool)
            if not bindings:
                continue
            derive = rule.rule["then"]["derive"]
            for binding in bindings:
                fact = {"type": derive["fact"], "rule": rule.key}
                for name, operand in (derive.get("fields") or {}).items():
                    fact[name] = _operand_value(operand, binding, rule.params)
                if fact not in pool:
                    pool.append(fact)
            done.add(rule.key)
            progress = True
        if not progress:
            break


def _shown(
    rule: CompiledRule, binding: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    for alias, fact in binding.items():
        fields = [*(("rule",) if fact.get("type") not in FACT_FIELDS else ())]
        fields += rule.used_fields.get(alias, ())
        shown[alias] = {f: fact[f] for f in fields if f in fact}
    return shown


def _operand_value(
    operand: Any, binding: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]
) -> Any:
    if is_ref(operand):
        alias, field = operand["ref"].split(".")
        value = binding.get(alias, {}).get(field)
        return MISSING if value is None else value
    return resolve_param(operand, params)


def _match(
    rule: CompiledRule, pool: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Every binding (alias -> fact) that satisfies the rule (up to a limit), or why none does."""
    patterns = _patterns(rule.rule)
    if isinstance(rule.rule["when"], Mapping) and "any" in rule.rule["when"]:
        bindings: list[dict[str, Any]] = []
        reasons: list[str] = []
        for pattern in patterns:
            found, reason = _search([pattern], pool, rule.params)
            bindings += found
            if reason:
                reasons.append(reason)
        unique = list(dict.fromkeys(reasons))
        return bindings[:_MATCH_LIMIT], None if bindings else "; and ".join(unique)
    return _search(patterns, pool, rule.params)


def _search(
    patterns: Sequence[Mapping[str, Any]],
    pool: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], str | None]:
    results: list[dict[str, Any]] = []
    best: list[tuple[_Failure, str]] = []

    def fail(failure: _Failure, fact_type: str) -> None:
        if not best or (failure.depth, failure.passed) > (best[0][0].depth, best[0][0].passed):
            best[:] = [(failure, fact_type)]

    def go(i: int, bound: dict[str, Any]) -> None:
        if len(results) >= _MATCH_LIMIT:
            return
        if i == len(patterns):
            results.append(dict(bound))
            return
        pattern = patterns[i]
        where = pattern.get("where") or {}
        if "absent" in pattern:
            fact_type = pattern["absent"]
            for fact in pool:
                if (
                    fact.get("type") == fact_type
                    and _test(where, fact, fact_type, bound, params)[0]
                ):
                    shown = f" with {_describe_where(where, params)}" if where else ""
                    fail(
                        _Failure(
                            i, 0, f"a {fact_type} fact{shown} is present (the rule needs none)", 1
                        ),
                        fact_type,
                    )
                    return
            go(i + 1, bound)
            return
        fact_type = pattern["fact"]
        alias = pattern.get("as", fact_type)
        candidates = [f for f in pool if f.get("type") == fact_type]
        if not candidates:
            fail(_Failure(i, 0, f"no {fact_type} fact", 0), fact_type)
            return
        for fact in candidates:
            ok, passed, reason = _test(where, fact, fact_type, bound, params)
            if ok:
                go(i + 1, {**bound, alias: fact})
            else:
                fail(_Failure(i, passed, reason or "", len(candidates)), fact_type)

    go(0, {})
    if results:
        return results, None
    failure, fact_type = best[0]
    return [], failure.text(fact_type)


def _describe_where(where: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    parts = []
    for key, value in where.items():
        if key in ("all", "any"):
            parts.append(f"{key} of ({'; '.join(_describe_where(s, params) for s in value)})")
        else:
            parts += [f"{key} {describe_test(op, v, params)}" for op, v in ops(value)]
    return ", ".join(parts)


def _test(
    where: Mapping[str, Any],
    fact: Mapping[str, Any],
    fact_type: str,
    bound: Mapping[str, Mapping[str, Any]],
    params: Mapping[str, Any],
) -> tuple[bool, int, str | None]:
    """Run a pattern's field tests on one fact: (passed all, how many passed, first failure)."""
    passed = 0
    for key, value in where.items():
        if key in ("all", "any"):
            subs = [_test(s, fact, fact_type, bound, params) for s in value]
            if key == "all":
                for ok, n, reason in subs:
                    passed += n
                    if not ok:
                        return False, passed, reason
            elif any(ok for ok, _, _ in subs):
                passed += 1
            else:
                return False, passed, "; and ".join(r for _, _, r in subs if r)
            continue
        actual = value_of(fact, key)
        for op, operand in ops(value):
            resolved = _operand_value(operand, bound, params)
            if op != "exists" and resolved is MISSING:
                return False, passed, f"{operand['ref']} is not known"
            if passes(op, actual, resolved):
                passed += 1
                continue
            name = f"{fact_type}.{key}"
            if op == "exists":
                state = "is not known" if actual is MISSING else f"= {fmt_value(actual)}"
                return (
                    False,
                    passed,
                    f"{name} {state}, needs it {'present' if operand else 'absent'}",
                )
            need = describe_test(op, operand, params)
            if op == "eq" and (isinstance(resolved, bool) or not isinstance(resolved, int | float)):
                need = need[2:]  # "needs yes", "needs rolling"; numbers keep "= 0"
            if actual is MISSING:
                return False, passed, f"{name} is not known; needs {need}"
            return False, passed, f"{name} = {fmt_value(actual)}, needs {need}"
    return True, passed, None


def _explain_scores(
    engine: Engine, pack: RulePack, fired: set[str], cards: Mapping[str, list[Card]]
) -> list[RuleExplanation]:
    out: list[RuleExplanation] = []
    for sid, score in pack.scores.items():
        points: dict[str, int] = {}
        for rule in engine.rules:
            spec = rule.rule["then"].get("score")
            if rule.pack.id == pack.id and rule.key in fired and spec and spec["id"] == sid:
                points[spec["component"]] = max(points.get(spec["component"], 0), spec["points"])
        total = sum(points.values())
        for band in score["bands"]:
            key = f"{pack.id}/{band['id']}"
            title = f"{score['title']}: {band.get('min', '…')}-{band.get('max', '…')} points"
            if key in cards:
                out.append(
                    RuleExplanation(
                        key,
                        "fired",
                        title,
                        None,
                        ({"score": {"total": total, **points}},),
                        {},
                        tuple(cards[key]),
                    )
                )
            elif {key, band["id"]} & engine.disabled:
                out.append(RuleExplanation(key, "disabled", title, "disabled"))
            elif not points:
                out.append(RuleExplanation(key, "silent", title, f"no rule scored {sid}"))
            else:
                out.append(
                    RuleExplanation(
                        key,
                        "silent",
                        title,
                        f"{sid} = {total}, needs {band.get('min', '…')}-{band.get('max', '…')}",
                    )
                )
    return out


# ---------------------------------------------------------------------------------------------
# Decision log
# ---------------------------------------------------------------------------------------------

_HEADER_KEY = "stridewise_decision_log"


@contextlib.contextmanager
def _append_fd(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        yield fd
    finally:
        os.close(fd)


class DecisionLog:
    """An append-only JSON-lines log of evaluations.

    The first line is a header holding the log's random salt; athletes are recorded only as
    ``sha256(salt + ":" + id)``. Each entry is written with one ``write`` on an ``O_APPEND``
    file and synced; a line that does not parse is skipped on reading (see :attr:`problems`).
    """

    def __init__(self, path: Path | str, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.problems: list[tuple[int, str]] = []
        self._salt: str | None = None
        self._lock = threading.Lock()

    # -- header --------------------------------------------------------------------------------

    @property
    def salt(self) -> str:
        """The log's salt, creating the log with a fresh one if it does not exist yet."""
        if self._salt is None:
            with self._lock:
                if self._salt is None:
                    self._salt = self._open_header()
        return self._salt

    def _open_header(self) -> str:
        header = {
            _HEADER_KEY: 1,
            "salt": secrets.token_hex(16),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if not self.path.exists() and self._create(header):
            return str(header["salt"])
        try:
            with self.path.open("rb") as fh:
                first = fh.readline()
        except OSError as exc:
            raise InputError(
                f"cannot read the decision log: {exc.strerror}", file=str(self.path)
            ) from None
        if not first.strip():  # an empty file someone created: make it a log
            with _append_fd(self.path) as fd:
                self._write(fd, header)
            return str(header["salt"])
        try:
            parsed = json.loads(first)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("salt"), str):
            raise InputError(
                "line 1 is not a stridewise decision log header; refusing to append",
                file=str(self.path),
                row=1,
            )
        return str(parsed["salt"])

    def _create(self, header: Mapping[str, Any]) -> bool:
        """Create the log with its header in one step (False if another writer was first)."""
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                self._write(fd, header)
            finally:
                os.close(fd)
            os.link(tmp, self.path)  # appears whole, header included, or not at all
        except FileExistsError:
            return False
        except OSError as exc:
            raise InputError(
                f"cannot create the decision log: {exc.strerror or exc}", file=str(self.path)
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def hash_athlete(self, athlete_id: str) -> str:
        """How the athlete appears in this log (and should appear in card uuids)."""
        return hashlib.sha256(f"{self.salt}:{athlete_id}".encode()).hexdigest()

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, fd: int, entry: Mapping[str, Any]) -> None:
        data = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line (a crash mid-write) stays on its own line
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if self.fsync:
            os.fsync(fd)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append one entry (one line)."""
        _ = self.salt  # the header goes first
        with self._lock:
            try:
                with _append_fd(self.path) as fd:
                    self._write(fd, entry)
            except OSError as exc:
                raise InputError(
                    f"cannot write the decision log: {exc.strerror or exc}", file=str(self.path)
                ) from None

    # -- reading ---------------------------------------------------------------------------------

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every decision in order; broken lines are skipped and listed in :attr:`problems`."""
        self.problems = []
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return
        with fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError as exc:
                    self.problems.append((n, f"not JSON: {exc}"))
                    continue
                if not isinstance(obj, dict):
                    self.problems.append((n, "not a JSON object"))
                elif _HEADER_KEY in obj:
                    if n != 1:
                        self.problems.append((n, "a second header"))
                elif "decision_id" not in obj:
                    self.problems.append((n, "no decision_id"))
                else:
                    yield obj

    def for_athlete(self, athlete_id: str) -> Iterator[dict[str, Any]]:
        """The decisions recorded for one athlete."""
        wanted = self.hash_athlete(athlete_id)
        return (e for e in self.entries() if e.get("athlete") == wanted)


def effective_parameters(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every pack's parameter values in this engine (defaults with overrides applied)."""
    out = {p.id: {n: q.default for n, q in p.parameters.items()} for p in engine.packs}
    for rule in engine.rules:
        out[rule.pack.id].update(rule.params)
    return out


def record(
    log: DecisionLog,
    engine: Engine,
    evaluation: Evaluation,
    athlete_id: str,
    *,
    clinic: str | None = None,
) -> dict[str, Any]:
    """Append one evaluation to ``log``; returns the entry written.

    Card uuids derive from the ``athlete`` the evaluation ran with: evaluate with
    ``athlete=log.hash_athlete(athlete_id)`` so app and log share uuids without the raw id.
    Cards whose uuid derives from the raw id are recorded with the hashed-id uuid instead.
    """
    hashed = log.hash_athlete(athlete_id)

    def logged(card: Card) -> dict[str, Any]:
        data = card.to_dict()
        if card.uuid == card_uuid(athlete_id, card.key, card.date):
            data["uuid"] = card_uuid(hashed, card.key, card.date)
        return data

    cards = [logged(c) for c in evaluation.cards]
    entry = {
        "decision_id": str(uuid.uuid4()),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "athlete": hashed,
        "as_of": evaluation.date.isoformat(),
        "clinic": clinic,
        "packs": [
            {"id": p.id, "version": p.version, "content_hash": p.content_hash} for p in engine.packs
        ],
        "parameters": effective_parameters(engine),
        "disabled": sorted(engine.disabled),
        "reworded": sorted(engine.wording),
        "facts": [dict(f) for f in evaluation.facts],
        "fired": list(evaluation.fired),
        "cards": cards,
        # what fired and did not show, with the card that took its place (audit)
        "suppressed": [logged(c) for c in evaluation.suppressed],
        # packs that failed in this evaluation: the cards above are incomplete
        "failures": [f.to_dict() for f in evaluation.failures],
    }
    log.append(entry)
    return entry
