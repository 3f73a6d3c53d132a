"""Static reading of a pack's rules: can a rule ever fire (with these parameter values, or
under the overrides its bounds allow), and how long its card text gets once filled in.

Values are tried against the rule's tests with :func:`stridewise.engine.conditions.passes`,
over each field's domain from the field catalogue (its range and allowed values). Clinic
profiles and lint both use these answers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from ..cards import fmt_value
from ..conditions import (
    FACT_FIELDS,
    MISSING,
    PLACEHOLDER,
    allowed_values,
    describe_test,
    domain_note,
    is_ref,
    ops,
    param_name,
    passes,
    range_of,
    resolve_param,
    rule_aliases,
    rule_patterns,
)
from ..rules import SCORE_VALUES, Parameter, RulePack


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
    patterns = rule_patterns(rule)
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


def rule_params(rule: Mapping[str, Any]) -> list[str]:
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
    names = [n for n in rule_params(rule) if n in pack.parameters][:4]
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
    aliases = rule_aliases(rule) if rule else {}

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


def placeholder_problem(
    text: str, pack: RulePack, rule: Mapping[str, Any] | None, score_card: bool
) -> str | None:
    facts = {**FACT_FIELDS, **pack.derives()}
    aliases = rule_aliases(rule) if rule else {}
    for m in PLACEHOLDER.finditer(text):
        name, field = m.group(1), m.group(2)
        if field is None:
            if name in pack.parameters or (score_card and name in SCORE_VALUES):
                continue
            return f"{{{name}}} is neither a parameter of {pack.id!r} nor alias.field"
        if name not in aliases or field not in facts.get(aliases[name], {}):
            return f"{{{name}.{field}}} names no fact field this rule binds"
    return None


def card_of(pack: RulePack, rid: str) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, Any]:
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
