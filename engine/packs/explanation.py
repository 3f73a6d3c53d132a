"""Explain an evaluation: which rules fired on which facts, and why each other rule did not
(the first test that failed, read with the condition language of
:mod:`stridewise.engine.conditions`; the engine decides, this only explains)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..cards import Card, fmt_value
from ..compiler import CompiledRule
from ..conditions import (
    FACT_FIELDS,
    MISSING,
    describe_test,
    is_ref,
    ops,
    passes,
    resolve_param,
    rule_patterns,
    value_of,
)
from ..rules import RulePack
from ..runtime import Engine, Evaluation
from .analysis import rule_params


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
            params = {n: rule.params[n] for n in rule_params(spec) if n in rule.params}
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
    patterns = rule_patterns(rule.rule)
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
