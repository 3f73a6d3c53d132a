"""Lint: what loading a pack cannot see (rules that never fire, or stop firing under allowed
overrides; summaries too long once filled in; unused sources and parameters; untested rules;
test cases that name unknown rules)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..cards import fmt_value
from ..compiler import compile_packs, core_refusal
from ..conditions import FACT_FIELDS, PLACEHOLDER, value_problem
from ..errors import InputError, RulesetError
from ..rules import SUMMARY_MAX, RulePack, load_packs
from .analysis import fragile_under_overrides, long_fill, never_fires, rule_params
from .cases import case_facts
from .inventory import did_you_mean, pack_line


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
            pack_line(pack, ["ruleset"]),
        )
    cited: set[str] = set()
    used: set[str] = set()
    cards: list[tuple[str, Mapping[str, Any], Mapping[str, Any] | None, Any, int | None]] = []
    for rule in pack.rules:
        rid, line = rule["id"], pack.lines.get(rule["id"])
        used.update(rule_params(rule))
        used.update(rule_params({"when": rule["then"].get("derive") or {}}))
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
            cards.append((band["id"], band["card"], None, score, pack_line(pack, ["scores", sid])))
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
            add("warning", f"source {sid!r} is never cited", pack_line(pack, ["sources", sid]))
    for name in pack.parameters:
        if name not in used:
            add(
                "warning",
                f"parameter {name!r} is never used",
                pack_line(pack, ["parameters", name]),
            )
    out += _lint_tests(pack)
    return out


def _lint_tests(pack: RulePack) -> list[Finding]:
    out: list[Finding] = []
    known = set(pack.rule_ids)
    facts = {**FACT_FIELDS, **pack.derives()}
    expected: set[str] = set()
    for i, case in enumerate(pack.tests):
        line = pack_line(pack, ["tests", i]) or 1

        def add(message: str, line: int = line, case: Mapping[str, Any] = case) -> None:
            out.append(Finding(pack.origin, line, "error", f"test {case['name']!r}: {message}"))

        for rid in [e["rule"] for e in case.get("expect") or ()] + list(case.get("silent") or ()):
            if rid not in known:
                add(f"names unknown rule {rid!r}" + did_you_mean(rid, sorted(known)))
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
            for field, value in fact.items():
                if field not in ("type", "rule") and field not in fields:
                    add(
                        f"fact {n}: {fact['type']} has no field {field!r}"
                        + did_you_mean(field, sorted(fields))
                    )
                elif problem := value_problem(fact["type"], field, value):
                    add(f"fact {n}: {problem} (the engine never gives it such a value)")
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
            return pack_line(pack, ["scores", sid]) or 1
    return 1
