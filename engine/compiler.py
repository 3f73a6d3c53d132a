"""Compile loaded rule packs for the rules core (see :mod:`stridewise.engine.backend`).

:func:`compile_packs` resolves parameters (defaults, or a clinic's overrides within bounds),
drops disabled rules (never a protected red flag), turns each rule's ``when`` into the core's
JSON condition (:func:`stridewise.engine.conditions.core_test`; joins become Python filters,
:func:`stridewise.engine.conditions.python_filter`), orders rules that test an absence into
strata after every rule that can derive the fact, and refuses what the core would mishandle:
too many different tests below one (:data:`MAX_FANOUT`), too many rules sharing one test
(:data:`MAX_SHARING`), ``any``/``all`` nested deeper than the core builds (:data:`MAX_NESTING`),
and (:func:`core_refusal`) a rule set the core itself refuses to build.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .conditions import (
    PLACEHOLDER,
    Filter,
    core_test,
    has_ref,
    python_filter,
    resolve_operand,
    rule_patterns,
)
from .errors import RulesetError

if TYPE_CHECKING:
    from .rules import RulePack

__all__ = [
    "MAX_ALTERNATIVES",
    "MAX_FANOUT",
    "MAX_NESTING",
    "MAX_SHARING",
    "PHASE_FACT",
    "CompiledRule",
    "compile_packs",
    "core_refusal",
]

#: The fact type of the phase markers that gate strata (see :func:`compile_packs`).
PHASE_FACT = "stridewise_phase"


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule ready for the backend, plus what the runtime needs to build its card."""

    key: str
    pack: RulePack
    rule: Mapping[str, Any]
    condition: Mapping[str, Any]
    priority: int
    params: Mapping[str, Any]
    used_params: tuple[str, ...]
    used_fields: Mapping[str, tuple[str, ...]]
    stratum: int
    filters: tuple[Filter, ...] = ()

    def accepts(self, matched: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether a match passes the rule's joins (checked in Python, see _compile_when)."""
        return all(f(matched) for f in self.filters)


def compile_packs(
    packs: Iterable[RulePack],
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    disabled: Iterable[str] = (),
    allow_protected: bool = False,
) -> tuple[list[CompiledRule], int]:
    """Compile packs (parameters resolved, disabled rules dropped) into backend rules.

    Returns the rules and the number of strata: rules that test the absence of a fact run in
    a stratum after every rule that can derive that fact. Disabling a protected (red-flag) rule
    or overriding a parameter it reads is refused unless ``allow_protected`` (the pack's own
    test cases).
    """
    overrides = overrides or {}
    off = set(disabled)
    packs = list(packs)
    compiled: list[CompiledRule] = []
    derivers: dict[str, set[str]] = {}
    absent_of: dict[str, set[str]] = {}
    needs: dict[str, set[str]] = {}
    where: dict[str, tuple[RulePack, Mapping[str, Any]]] = {}
    active: list[tuple[RulePack, Mapping[str, Any], dict[str, Any]]] = []
    for pack in packs:
        values = {n: p.default for n, p in pack.parameters.items()}
        for name, value in (overrides.get(pack.id) or {}).items():
            if name not in pack.parameters:
                raise RulesetError(
                    f"override for unknown parameter {name!r} of pack {pack.id!r}",
                    file=pack.origin,
                )
            values[name] = pack.parameters[name].check(value, pack.origin)
            if (
                not allow_protected
                and name in pack.protected_parameters
                and value != pack.parameters[name].default
            ):
                raise RulesetError(
                    f"parameter {name!r} of pack {pack.id!r} is read by a protected red-flag "
                    "rule and cannot be changed",
                    file=pack.origin,
                )
        for rule in pack.rules:
            key = f"{pack.id}/{rule['id']}"
            if key in off or rule["id"] in off:
                if rule.get("protected") and not allow_protected:
                    raise RulesetError(
                        f"rule {key!r} is a protected red flag and cannot be disabled",
                        file=pack.origin,
                        line=pack.lines.get(rule["id"]),
                    )
                continue
            active.append((pack, rule, values))
            derive = rule["then"].get("derive")
            if derive:
                derivers.setdefault(derive["fact"], set()).add(key)
            absent_of[key] = {p["absent"] for p in rule_patterns(rule) if "absent" in p}
            needs[key] = {p["fact"] for p in rule_patterns(rule) if "fact" in p}
            where[key] = (pack, rule)
    strata = _strata(derivers, absent_of, needs, where)
    for pack, rule, values in active:
        key = f"{pack.id}/{rule['id']}"
        used_params: set[str] = set()
        used_fields: dict[str, set[str]] = {}
        filters: list[Filter] = []
        condition = _compile_when(rule, values, used_params, used_fields, filters)
        _check_nesting(pack, rule, condition)
        stratum = strata[key]
        if stratum:
            # The core checks a negation only when the facts before it in the pattern list
            # complete a match; the phase marker goes first, so absences are checked once
            # every fact they depend on is in.
            gate = {"stridewise_phase_": {"$and": [{"type": PHASE_FACT}, {"n": stratum}]}}
            if "any" in condition:
                condition = {"any": [{"all": [gate, alt]} for alt in condition["any"]]}
            else:
                condition = {"all": [gate, *condition["all"]]}
        # A derived fact copies its fields from the matched facts: they must reach the core
        # whatever other packs test, or the copy is None and the answer depends on them.
        for operand in ((rule["then"].get("derive") or {}).get("fields") or {}).values():
            resolve_operand(operand, values, set(), used_fields)
        card = rule["then"].get("card") or {}
        for text in (card.get("summary", ""), card.get("detail", ""), card.get("topic", "")):
            for m in PLACEHOLDER.finditer(text):
                if m.group(2) is None:
                    if m.group(1) in values:
                        used_params.add(m.group(1))
                else:
                    used_fields.setdefault(m.group(1), set()).add(m.group(2))
        compiled.append(
            CompiledRule(
                key=key,
                pack=pack,
                rule=rule,
                condition=condition,
                priority=int(rule.get("priority", 50)),
                params=values,
                used_params=tuple(sorted(used_params)),
                used_fields={a: tuple(sorted(f)) for a, f in used_fields.items()},
                stratum=stratum,
                filters=tuple(filters),
            )
        )
    _check_sharing(compiled)
    _check_fanout(compiled)
    return compiled, max(strata.values(), default=0)


#: Different tests the core can hang below one test (measured: 513 make ``create_ruleset``
#: loop for ever, e.g. 513 rules testing ``x == 1``, ``x == 2``... or one ``in`` of 513 values).
MAX_FANOUT = 512
#: Alternatives one pattern may expand to (its any/in branches multiplied out).
MAX_ALTERNATIVES = 4096


def _alpha_paths(test: Any) -> list[tuple[str, ...]]:
    """The chains of single tests the core builds for one pattern: ``$and`` chains its parts,
    ``$or`` branches (so ``in`` and ``any`` multiply out)."""
    if isinstance(test, Mapping) and len(test) == 1:
        op, parts = next(iter(test.items()))
        if op == "$or":
            paths = [p for part in parts for p in _alpha_paths(part)]
        elif op == "$and":
            paths = [()]
            for part in parts:
                paths = [a + b for a in paths for b in _alpha_paths(part)]
                if len(paths) > MAX_ALTERNATIVES:
                    break
        else:
            paths = [(repr(test),)]
        if len(paths) > MAX_ALTERNATIVES:
            raise OverflowError
        return paths
    return [(repr(test),)]


def _check_fanout(compiled: Sequence[CompiledRule]) -> None:
    """More than 512 different tests right after one test (across every rule loaded) make the
    core's ``create_ruleset`` loop for ever: refused here, naming the rule that adds the
    513th, with its file and line."""
    children: dict[tuple[str, ...], set[str]] = {}

    def fail(rule: CompiledRule, message: str) -> RulesetError:
        return RulesetError(
            f"rule {rule.rule['id']!r} of pack {rule.pack.id!r}: {message}",
            file=rule.pack.origin,
            line=rule.pack.lines.get(rule.rule["id"]),
        )

    for rule in compiled:
        for _, test in _core_patterns(rule.condition):
            try:
                paths = _alpha_paths(test)
            except OverflowError:
                raise fail(
                    rule,
                    f"a pattern expands to more than {MAX_ALTERNATIVES} alternatives (any/in "
                    "branches multiplied out): the rules core cannot build it; split the rule",
                ) from None
            for path in paths:
                for i, step in enumerate(path):
                    after = children.setdefault(path[:i], set())
                    after.add(step)
                    if len(after) > MAX_FANOUT:
                        before = path[i - 1] if i else "the start"
                        raise fail(
                            rule,
                            f"more than {MAX_FANOUT} different tests follow {before} across "
                            "the loaded rules (an 'in' list, or many rules testing one field for "
                            "different values): the rules core never finishes building that; "
                            "use ranges (gte/lte) or fewer values",
                        )


#: Rules the core lets share one pattern (257 is its error 108, though not every time).
MAX_SHARING = 256


def _core_patterns(condition: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for group in condition.values():
        for item in group:
            if len(item) == 1 and next(iter(item)) in ("all", "any"):
                yield from _core_patterns(item)
            else:
                yield from item.items()


def _check_sharing(compiled: Sequence[CompiledRule]) -> None:
    """More than 256 rules with one pattern (whatever its alias) make the core refuse the whole
    ruleset (error 108): refused here, every time, with the 257th rule's file and line."""
    sharing: dict[str, list[CompiledRule]] = {}
    for rule in compiled:
        mine = {
            repr(test)
            for alias, test in _core_patterns(rule.condition)
            if not alias.startswith("stridewise_phase")  # the compiler's gate: always first
        }
        for marker in mine:
            sharing.setdefault(marker, []).append(rule)
    for marker, rules in sharing.items():
        if len(rules) > MAX_SHARING:
            rule = rules[MAX_SHARING]
            raise RulesetError(
                f"rule {rule.rule['id']!r} of pack {rule.pack.id!r}: {len(rules)} rules test "
                f"the same pattern ({marker}); the rules core takes at most {MAX_SHARING} "
                "(its error 108): merge those rules or tell their conditions apart",
                file=rule.pack.origin,
                line=rule.pack.lines.get(rule.rule["id"]),
            )


#: How deep the core nests ``$and``/``$or`` in one pattern (measured: 16 is its error 113).
MAX_NESTING = 15
#: What the core's error codes at ``create_ruleset`` mean, in a pack author's words.
CORE_REFUSALS = {
    "108": "more than 256 rules share one pattern with it (the core's limit): merge those "
    "rules or tell their conditions apart",
    "113": f"its conditions nest any/all more than {MAX_NESTING} levels deep",
    "204": "a number the core cannot read",
}


def _nesting(node: Any) -> int:
    """Levels of ``$and``/``$or`` in a compiled test."""
    if isinstance(node, Mapping):
        if len(node) == 1 and next(iter(node)) in ("$and", "$or"):
            return 1 + max((_nesting(n) for n in next(iter(node.values()))), default=0)
        return max((_nesting(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return max((_nesting(n) for n in node), default=0)
    return 0


def _check_nesting(pack: RulePack, rule: Mapping[str, Any], condition: Mapping[str, Any]) -> None:
    groups = condition.get("all") or condition.get("any") or []
    depth = max((_nesting(p) for p in groups), default=0)
    if depth > MAX_NESTING:
        raise RulesetError(
            f"rule {rule['id']!r} of pack {pack.id!r}: its conditions are nested {depth} levels "
            f"deep (any/all, and lists of tests); the rules core takes at most {MAX_NESTING} "
            "(its error 113): flatten them",
            file=pack.origin,
            line=pack.lines.get(rule["id"]),
        )


def core_refusal(rules: Sequence[CompiledRule]) -> RulesetError | None:
    """What the rules core refuses in these compiled rules, located: the first rule without
    which the rest build, with its pack, file and line (None when the core takes them all)."""
    from .backend import RulesBackend
    from .errors import EngineError

    def refused(n: int) -> EngineError | None:
        try:
            RulesBackend({r.key: (r.condition, 100 - r.priority, None) for r in rules[:n]})
        except EngineError as exc:
            return exc
        return None

    error = refused(len(rules))
    if error is None:
        return None
    good, bad = 0, len(rules)  # the first `good` rules build, the first `bad` do not
    while bad - good > 1:
        mid = (good + bad) // 2
        found = refused(mid)
        if found is None:
            good = mid
        else:
            bad, error = mid, found
    culprit = rules[bad - 1]
    code = m.group(1) if (m := re.search(r"error code: (\d+)", str(error))) else "?"
    reason = CORE_REFUSALS.get(code, "the core's error is not documented")
    return RulesetError(
        f"rule {culprit.rule['id']!r} of pack {culprit.pack.id!r}: the rules core refuses it: "
        f"{reason} (core error {code})",
        file=culprit.pack.origin,
        line=culprit.pack.lines.get(culprit.rule["id"]),
    )


def _strata(
    derivers: Mapping[str, set[str]],
    absent_of: Mapping[str, set[str]],
    needs: Mapping[str, set[str]] | None = None,
    where: Mapping[str, tuple[RulePack, Mapping[str, Any]]] | None = None,
) -> dict[str, int]:
    """The stratum of every rule: after the rules deriving what it needs, and one past the
    rules deriving a fact whose absence it tests.

    A rule that tests the absence of a fact derived, through any chain of derivations, from
    its own firing has no consistent answer (it would fire, and the fact would then exist):
    refused with the rule's file and line and the chain.
    """
    needs = needs or {}
    keys = sorted(set(absent_of) | set(needs) | {k for ks in derivers.values() for k in ks})
    # key -> [(dependency, weight)]: weight 1 for an absence, 0 for a fact the rule binds
    edges: dict[str, list[tuple[str, int, str]]] = {k: [] for k in keys}
    for key in keys:
        for fact_type in sorted(needs.get(key, ())):
            edges[key] += [(d, 0, fact_type) for d in sorted(derivers.get(fact_type, ()))]
        for fact_type in sorted(absent_of.get(key, ())):
            edges[key] += [(d, 1, fact_type) for d in sorted(derivers.get(fact_type, ()))]
    components = _components(keys, {k: [d for d, _, _ in e] for k, e in edges.items()})
    component_of = {k: n for n, comp in enumerate(components) for k in comp}
    level: dict[str, int] = {}
    for n, comp in enumerate(components):  # dependencies come first
        lv = 0
        for key in comp:
            for dep, weight, fact_type in edges[key]:
                if component_of[dep] == n:
                    if weight:
                        raise _negation_cycle(key, dep, fact_type, comp, edges, where or {})
                    continue
                lv = max(lv, level[dep] + weight)
            if absent_of.get(key):
                lv = max(lv, 1)  # absences are checked once every fact is in
        for key in comp:
            level[key] = lv
    return level


def _components(keys: list[str], deps: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), each after those it depends on."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in keys:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = deps.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                out.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _negation_cycle(
    key: str,
    dep: str,
    fact_type: str,
    comp: list[str],
    edges: Mapping[str, list[tuple[str, int, str]]],
    where: Mapping[str, tuple[RulePack, Mapping[str, Any]]],
) -> RulesetError:
    """The error for ``key`` testing the absence of ``fact_type``, which ``dep`` derives from
    ``key``'s own firing: names the chain of derivations back to ``key``."""
    members = set(comp)
    previous: dict[str, tuple[str, str]] = {}
    queue = [dep]
    while queue and key not in previous:  # shortest chain dep -> ... -> key
        node = queue.pop(0)
        for nxt, _, via in edges[node]:
            if nxt in members and nxt not in previous and nxt != dep:
                previous[nxt] = (node, via)
                queue.append(nxt)
    steps: list[str] = []
    node = key
    while node != dep and node in previous:
        parent, via = previous[node]
        steps.append(f"{node} derives {via!r}")
        node = parent
    steps.append(f"{dep} derives {fact_type!r}")
    pack_rule = where.get(key)
    return RulesetError(
        f"rule {key!r} tests the absence of {fact_type!r}, but {fact_type!r} is derived from "
        f"its own firing ({' -> '.join(steps)}): it would fire and then find {fact_type!r} "
        "present; test something the chain does not produce",
        file=pack_rule[0].origin if pack_rule else None,
        line=pack_rule[0].lines.get(pack_rule[1]["id"]) if pack_rule else None,
    )


def _compile_when(
    rule: Mapping[str, Any],
    params: Mapping[str, Any],
    used_params: set[str],
    used_fields: dict[str, set[str]],
    filters: list[Filter],
) -> dict[str, Any]:
    when = rule["when"]
    group = "any" if isinstance(when, Mapping) and "any" in when else "all"
    out = []
    for n, pattern in enumerate(rule_patterns(rule)):
        if "fact" in pattern:
            fact_type, alias = pattern["fact"], pattern.get("as", pattern["fact"])
            name = alias
        else:
            fact_type, alias = pattern["absent"], f"absent{n}"
            name = f"{alias}$not"
        tests: list[Any] = [{"type": fact_type}]
        where = pattern.get("where")
        if where and has_ref(where):
            # Joins are checked in Python on each match: the core's join code reads past its
            # buffers (seen with valgrind) and fails on a missing field (error 311).
            filters.append(python_filter(where, alias, params, used_params, used_fields))
        elif where:
            tests.append(core_test(where, alias, params, used_params, used_fields))
        out.append({name: {"$and": tests} if len(tests) > 1 else tests[0]})
    if group == "all":  # negations after every positive pattern (see compile_packs)
        out.sort(key=lambda p: next(iter(p)).endswith("$not"))
    return {group: out}
