"""The engine: rule packs + an athlete's history -> cards, for one date or a whole timeline."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .arbitration import Precedence, arbitrate
from .backend import Firing, RulesBackend
from .cards import Card, card_uuid, fmt_value
from .conditions import rule_patterns
from .errors import EngineError, IncompleteEvaluation, RulesetError
from .events import Event
from .facts import History
from .rules import (
    PHASE_FACT,
    PLACEHOLDER,
    CompiledRule,
    RulePack,
    compile_packs,
    core_refusal,
    markup_problem,
)


@dataclasses.dataclass(frozen=True, slots=True)
class PackFailure:
    """A rule that raised during an evaluation: its pack's findings are withheld (red flags
    that fired are kept) and the other packs' cards still show."""

    pack: str
    rule: str
    error: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file or "?"
        return f"pack {self.pack!r} failed in rule {self.rule!r} ({where}): {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_log = logging.getLogger("stridewise.engine")


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one evaluation produced: the input facts, the firings and the cards."""

    date: dt.date
    facts: tuple[Mapping[str, Any], ...]
    fired: tuple[str, ...]
    cards: tuple[Card, ...]
    derived: tuple[Mapping[str, Any], ...] = ()
    #: Cards that fired but do not show, each with ``suppressed_by`` and ``suppression``.
    suppressed: tuple[Card, ...] = ()
    #: Rules that raised: their packs' findings are withheld (see :class:`PackFailure`).
    failures: tuple[PackFailure, ...] = ()

    @property
    def failed_packs(self) -> tuple[str, ...]:
        """Ids of the packs that failed in this evaluation (sorted): an app must say so."""
        return tuple(sorted({f.pack for f in self.failures}))

    @property
    def all_cards(self) -> tuple[Card, ...]:
        """Shown cards first, then the suppressed ones."""
        return self.cards + self.suppressed


@dataclasses.dataclass(frozen=True, slots=True)
class Wording:
    """A clinic's replacement text for one rule's card."""

    summary: str | None = None
    detail: str | None = None


class Evaluator:
    """What an engine answers: cards for a date or a timeline, from ``evaluate_facts``.

    Shared by :class:`Engine` (in process) and :class:`~stridewise.engine.isolation.IsolatedEngine`
    (in worker processes). Both say what they evaluate with: the packs and the clinic's
    parameter values (pack id -> parameter -> value).
    """

    packs: list[RulePack]
    overrides: dict[str, dict[str, Any]]

    def evaluate_facts(
        self, facts: Sequence[Mapping[str, Any]], as_of: dt.date, *, athlete: str = "athlete"
    ) -> Evaluation:
        raise NotImplementedError

    def evaluate(
        self,
        history: History | Iterable[Event],
        as_of: dt.date,
        *,
        athlete: str = "athlete",
    ) -> list[Card]:
        """Cards for one athlete as of the end of ``as_of``.

        Raises :class:`IncompleteEvaluation` (with the partial evaluation) when a pack failed:
        fewer cards must never read as "all clear".
        """
        if not isinstance(history, History):
            history = History(history)
        return list(shown_cards(self.evaluate_facts(history.facts(as_of), as_of, athlete=athlete)))

    def timeline(
        self,
        history: History | Iterable[Event],
        start: dt.date,
        end: dt.date,
        *,
        athlete: str = "athlete",
    ) -> Iterator[tuple[dt.date, list[Card]]]:
        """Cards for every day from ``start`` to ``end`` (facts derived once, incrementally)."""
        if not isinstance(history, History):
            history = History(history)
        for day, facts in history.timeline(start, end):
            yield day, list(shown_cards(self.evaluate_facts(facts, day, athlete=athlete)))


class Engine(Evaluator):
    """Compiled rule packs, ready to evaluate athletes one at a time (thread-safe).

    ``overrides`` maps pack id -> parameter -> value (validated against type and bounds);
    ``disabled`` holds rule ids (``pack/rule`` or bare ``rule``); ``wording`` maps
    ``pack/rule`` to replacement card text. Protected red-flag rules cannot be disabled,
    reworded or re-parameterised (``allow_protected`` is for a pack's own test cases).
    """

    def __init__(
        self,
        packs: Iterable[RulePack],
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        disabled: Iterable[str] = (),
        wording: Mapping[str, Wording] | None = None,
        allow_protected: bool = False,
    ) -> None:
        self.packs = list(packs)
        ids = [p.id for p in self.packs]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise RulesetError(f"rule pack(s) loaded twice: {', '.join(sorted(dupes))}")
        self.disabled = frozenset(disabled)
        # Kept so an IsolatedEngine can rebuild this engine in its worker processes.
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.allow_protected = allow_protected
        self.rules, self.strata = compile_packs(
            self.packs, overrides=overrides, disabled=self.disabled, allow_protected=allow_protected
        )
        self._by_key = {r.key: r for r in self.rules}
        self.wording = dict(wording or {})
        for key, words in self.wording.items():
            for text in (words.summary or "", words.detail or ""):
                problem = markup_problem(text)
                if problem:
                    raise RulesetError(f"wording for {key!r}: {problem}")
            pid, _, rid = key.partition("/")
            pack = next((p for p in self.packs if p.id == pid), None)
            if pack is not None and rid in pack.protected_rules and not allow_protected:
                raise RulesetError(f"rule {key!r} is a protected red flag: its wording is fixed")
        self._local = threading.local()  # the failures of the evaluation running on a thread
        try:
            self._backend = RulesBackend(
                {
                    r.key: (
                        r.condition,
                        100 - r.priority,
                        _guarded(self._local, r, self._action(r), []),
                        _guarded(self._local, r, r.accepts, False),
                    )
                    for r in self.rules
                },
                names=_names_sent(self.rules, self.wording),
                origins={
                    r.key: (r.pack.origin, r.pack.lines.get(r.rule["id"]) or None)
                    for r in self.rules
                },
            )
        except EngineError:
            # Say which pack and rule the core refuses, with file and line.
            refusal = core_refusal(self.rules)
            if refusal is None:
                raise
            raise refusal from None
        self._fields = _fields_used(self.rules, self.wording)
        self._precedence = _precedence(self.packs)
        self._static: dict[str, _StaticCard] = {}

    @staticmethod
    def _action(rule: CompiledRule) -> Any:
        derive = rule.rule["then"].get("derive")
        if not derive:
            return None
        fields = derive.get("fields") or {}

        def act(matched: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
            fact = {"type": derive["fact"], "rule": rule.key}
            for name, operand in fields.items():
                fact[name] = _resolve(operand, matched, rule.params)
            return [fact]

        return act

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate_facts(
        self, facts: Sequence[Mapping[str, Any]], as_of: dt.date, *, athlete: str = "athlete"
    ) -> Evaluation:
        """Run the rules over ready-made facts (what pack test cases and apps with facts use)."""
        # Only what some rule looks at goes to the core: fewer, smaller facts to serialize.
        asserted = [
            {k: v for k, v in fact.items() if k in wanted or k == "type"}
            for fact in facts
            if (wanted := self._fields.get(fact.get("type", ""))) is not None
        ]
        asserted += [{"type": PHASE_FACT, "n": n} for n in range(1, self.strata + 1)]
        failures: list[PackFailure] = []
        self._local.failures = failures
        try:
            firings = self._backend.evaluate(asserted)
            return self._cards(firings, facts, as_of, athlete)
        finally:
            self._local.failures = None

    # -- cards -----------------------------------------------------------------------------------

    def _cards(
        self,
        firings: list[Firing],
        facts: Sequence[Mapping[str, Any]],
        as_of: dt.date,
        athlete: str,
    ) -> Evaluation:
        grouped: dict[str, list[Firing]] = {}
        for f in firings:
            grouped.setdefault(f.rule, []).append(f)
        cards: list[Card] = []
        scores: dict[tuple[str, str], dict[str, tuple[int, Firing, CompiledRule]]] = {}
        derived: list[Mapping[str, Any]] = []
        for key, group in grouped.items():
            rule = self._by_key[key]
            then = rule.rule["then"]
            if "card" in then:
                try:
                    cards.append(self._card(rule, then["card"], group, as_of, athlete))
                except Exception as exc:
                    _record_failure(self._local, rule, exc)
            if "score" in then:
                spec = then["score"]
                comps = scores.setdefault((rule.pack.id, spec["id"]), {})
                best = comps.get(spec["component"])
                if best is None or spec["points"] > best[0]:
                    comps[spec["component"]] = (spec["points"], group[0], rule)
            if "derive" in then:
                derived.append({"type": then["derive"]["fact"], "rule": key})
        failures: list[PackFailure] = self._local.failures or []
        failed = {f.pack for f in failures}
        for (pack_id, score_id), comps in scores.items():
            if pack_id in failed:
                continue  # a score with a component that may have failed would mislead
            card = self._score_card(pack_id, score_id, comps, as_of, athlete)
            if card:
                cards.append(card)
        # A failed pack's findings are incomplete (an "all clear" may stand only because a
        # rule raised): only its red flags that did fire are kept.
        cards = [c for c in cards if c.ruleset_id not in failed or c.advice == "stop"]
        shown: list[Card] = cards
        suppressed: list[Card] = []
        if len(cards) > 1:  # arbitrate would return a lone card as it is
            shown, suppressed = arbitrate(cards, self._precedence, athlete=athlete, as_of=as_of)
        return Evaluation(
            date=as_of,
            facts=tuple(facts),
            fired=tuple(sorted(grouped)),
            cards=tuple(shown),
            derived=tuple(derived),
            suppressed=tuple(suppressed),
            failures=tuple(failures),
        )

    def _card(
        self,
        rule: CompiledRule,
        spec: Mapping[str, Any],
        group: list[Firing],
        as_of: dt.date,
        athlete: str,
    ) -> Card:
        first = group[0].matched
        seen: set[str] = set()
        facts: list[dict[str, Any]] = []
        entries: list[tuple[str, dict[str, Any], Mapping[str, Mapping[str, Any]]]] = []
        for firing in group:  # duplicate firings collapse into one card listing each match
            entry = {
                alias: {
                    "type": fact.get("type"),
                    **{f: fact.get(f) for f in rule.used_fields.get(alias, ()) if f in fact},
                }
                for alias, fact in firing.matched.items()
                if not alias.startswith("stridewise_phase")  # the compiler's gate, not a finding
            }
            if len(group) == 1:
                facts.append(entry)
                break
            marker = json.dumps(entry, sort_keys=True, default=str)
            if marker not in seen:
                seen.add(marker)
                entries.append((marker, entry, firing.matched))
        if entries:  # in a fixed order: the card must not depend on the order of the facts
            entries.sort(key=lambda e: e[0])
            facts = [entry for _, entry, _ in entries]
            first = entries[0][2]
        static = self._static.get(rule.key)
        if static is None:  # per-rule parts of the card, the same every time
            static = self._static[rule.key] = _static_card(rule, spec, self.wording)
        summary, detail, topic, note, fixed = static
        return Card(
            uuid=card_uuid(athlete, rule.key, as_of),
            summary=_short(_fill_template(summary, first)),
            detail=_fill_template(detail, first).strip() + note,
            date=as_of,
            facts=tuple(facts),
            parameters={p: rule.params[p] for p in rule.used_params},
            topic=_fill_template(topic, first) if topic is not None else None,
            **fixed,
        )

    def _score_card(
        self,
        pack_id: str,
        score_id: str,
        comps: Mapping[str, tuple[int, Firing, CompiledRule]],
        as_of: dt.date,
        athlete: str,
    ) -> Card | None:
        pack = next(p for p in self.packs if p.id == pack_id)
        score = pack.scores[score_id]
        total = sum(points for points, _, _ in comps.values())
        missing = [c for c in score["components"] if c not in comps]
        band = next(
            (b for b in score["bands"] if b.get("min", -(10**6)) <= total <= b.get("max", 10**6)),
            None,
        )
        if band is None or {f"{pack_id}/{band['id']}", band["id"]} & self.disabled:
            return None
        spec = band["card"]
        key = f"{pack_id}/{band['id']}"
        incomplete = score.get("incomplete")
        if incomplete and spec["advice"] == "reassure" and len(missing) > incomplete["max_missing"]:
            # Too little is known to reassure: say the score is incomplete instead.
            spec = incomplete["card"]
            key = f"{pack_id}/{incomplete_id(score_id, incomplete)}"
        values = {
            "score": total,
            "missing": ", ".join(m.replace("_", " ") for m in missing) or "none",
            "scored": len(comps),
            "components": len(score["components"]),
        }
        wording = self.wording.get(key) or Wording()
        detail = _fill(wording.detail or spec["detail"], {}, values).strip()
        detail += "\n\n**Points:** " + ", ".join(
            f"{c.replace('_', ' ')} {points}" for c, (points, _, _) in sorted(comps.items())
        )
        if missing:
            detail += (
                "\n\n**Not scored (no data):** "
                + ", ".join(m.replace("_", " ") for m in missing)
                + ". The total can only go up as these are filled in."
            )
        return Card(
            uuid=card_uuid(athlete, key, as_of),
            summary=_short(_fill(wording.summary or spec["summary"], {}, values)),
            indicator=spec["indicator"],
            detail=detail,
            source=_source(pack, spec["source"]),
            sources=_sources(pack, spec["source"]),
            rule_id=key.split("/", 1)[1],
            ruleset_id=pack.id,
            ruleset_version=pack.version,
            category=spec.get("category") or pack.id,
            kind=spec.get("kind", "finding"),
            date=as_of,
            priority=100,
            advice=spec["advice"],
            topic=spec.get("topic"),
            facts=tuple(
                {"component": c, "points": p, "rule": r.rule["id"]}
                for c, (p, _, r) in sorted(comps.items())
            ),
            parameters={"score": total, "missing": missing},
        )


#: A card text with the rule's parameters filled in once: literal parts, and (alias, field)
#: for each placeholder read from the matched facts.
Template = tuple[str | tuple[str, str], ...]
#: Per rule: summary, detail and topic templates, the contested-threshold note, and the card
#: fields that never change (indicator, source, ids, category, kind, priority, advice).
_StaticCard = tuple[Template, Template, Template | None, str, dict[str, Any]]


def _static_card(
    rule: CompiledRule, spec: Mapping[str, Any], wording: Mapping[str, Wording]
) -> _StaticCard:
    words = wording.get(rule.key) or Wording()
    fixed: dict[str, Any] = {
        "indicator": spec["indicator"],
        "source": _source(rule.pack, spec["source"]),
        "sources": _sources(rule.pack, spec["source"]),
        "rule_id": rule.rule["id"],
        "ruleset_id": rule.pack.id,
        "ruleset_version": rule.pack.version,
        "category": spec.get("category") or rule.rule.get("category") or rule.pack.id,
        "kind": spec.get("kind", "finding"),
        "priority": rule.priority,
        "advice": spec["advice"],
    }
    topic = spec.get("topic")
    return (
        _template(words.summary or spec["summary"], rule.params),
        _template(words.detail or spec["detail"], rule.params),
        _template(topic, rule.params) if topic else None,
        _contested_note(rule),
        fixed,
    )


def _template(text: str, params: Mapping[str, Any]) -> Template:
    """``text`` split at its fact placeholders, the parameters filled in (as :func:`_fill`)."""
    parts: list[str | tuple[str, str]] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        name, field = m.group(1), m.group(2)
        literal = text[pos : m.start()]
        if field is None:
            literal += fmt_value(params[name]) if name in params else m.group(0)
        if parts and isinstance(parts[-1], str):
            parts[-1] += literal
        else:
            parts.append(literal)
        if field is not None:
            parts.append((name, field))
        pos = m.end()
    if parts and isinstance(parts[-1], str):
        parts[-1] += text[pos:]
    else:
        parts.append(text[pos:])
    return tuple(parts)


def _fill_template(template: Template, matched: Mapping[str, Mapping[str, Any]]) -> str:
    """The text of a :func:`_template` for one match: the same as :func:`_fill` on the text."""
    first = template[0]
    if len(template) == 1 and isinstance(first, str):  # no placeholder for a fact
        out = first
    else:
        pieces: list[str] = []
        for part in template:
            if isinstance(part, str):
                pieces.append(part)
                continue
            value = matched.get(part[0], {}).get(part[1])
            pieces.append(_neutral(fmt_value(value)) if value is not None else "?")
        out = "".join(pieces)
    return _SINGULAR.sub(r"\1 \2", out) if "1 " in out else out


def _record_failure(local: threading.local, rule: CompiledRule, exc: Exception) -> None:
    """Note a rule that raised against its pack, in the evaluation running on this thread."""
    failure = PackFailure(
        pack=rule.pack.id,
        rule=rule.key,
        error=f"{type(exc).__name__}: {exc}",
        file=rule.pack.origin,
        line=rule.pack.lines.get(rule.rule["id"]) or None,
    )
    _log.error("%s", failure)
    failures = getattr(local, "failures", None)
    if failures is not None and failure not in failures:
        failures.append(failure)


def _guarded(local: threading.local, rule: CompiledRule, fn: Any, failed: Any) -> Any:
    """``fn`` with an exception recorded against the rule's pack (the evaluation goes on for
    every other pack) instead of failing the whole evaluation. Holds no reference to the
    engine (no cycle: a dropped engine is freed at once)."""
    if fn is None:
        return None

    def guarded(matched: Mapping[str, Mapping[str, Any]]) -> Any:
        try:
            return fn(matched)
        except (TimeoutError, MemoryError):
            raise  # the app's deadline or the machine, not the pack: the evaluation stops
        except Exception as exc:
            _record_failure(local, rule, exc)
            return failed

    return guarded


def shown_cards(evaluation: Evaluation) -> tuple[Card, ...]:
    """The shown cards, or :class:`IncompleteEvaluation` when a pack failed."""
    if evaluation.failures:
        raise IncompleteEvaluation(
            "; ".join(str(f) for f in evaluation.failures)
            + ": these packs' findings are missing from the cards",
            evaluation,
        )
    return evaluation.cards


def incomplete_id(score_id: str, incomplete: Mapping[str, Any]) -> str:
    """Rule id of a score's "incomplete" card: its ``id``, or ``<score-id>-incomplete``."""
    return str(incomplete.get("id") or f"{score_id.replace('_', '-')}-incomplete")


def _precedence(packs: Iterable[RulePack]) -> dict[str, Precedence]:
    """Card key -> what its card declares about other cards (supersedes, conflicts_with)."""
    out: dict[str, Precedence] = {}
    for pack in packs:
        specs = [(r["id"], r["then"].get("card")) for r in pack.rules]
        specs += [(b["id"], b["card"]) for s in pack.scores.values() for b in s["bands"]]
        for sid, score in pack.scores.items():
            if "incomplete" in score:
                specs.append((incomplete_id(sid, score["incomplete"]), score["incomplete"]["card"]))
        for rid, card in specs:
            if card and (card.get("supersedes") or card.get("conflicts_with")):
                out[f"{pack.id}/{rid}"] = Precedence(
                    pack.id,
                    tuple(card.get("supersedes") or ()),
                    tuple(card.get("conflicts_with") or ()),
                )
    return out


def _fields_used(
    rules: Iterable[CompiledRule], wording: Mapping[str, Wording] | None = None
) -> dict[str, frozenset[str]]:
    """Fact type -> every field any rule tests, joins on, derives from or shows in its card
    (the clinic's wording included)."""
    fields: dict[str, set[str]] = {}
    for rule in rules:
        words = (wording or {}).get(rule.key) or Wording()
        shown: dict[str, set[str]] = {}
        for text in (words.summary or "", words.detail or ""):
            for m in PLACEHOLDER.finditer(text):
                if m.group(2) is not None:
                    shown.setdefault(m.group(1), set()).add(m.group(2))
        for n, pattern in enumerate(rule_patterns(rule.rule)):
            fact_type = str(pattern.get("fact") or pattern.get("absent"))
            alias = pattern.get("as", fact_type) if "fact" in pattern else f"absent{n}"
            fields.setdefault(fact_type, set()).update(rule.used_fields.get(alias, ()))
            fields[fact_type].update(shown.get(alias, ()))
    return {t: frozenset(f) for t, f in fields.items()}


def _names_sent(
    rules: Sequence[CompiledRule], wording: Mapping[str, Wording]
) -> list[tuple[str, str]]:
    """(name, rule key) for every field and fact type the core sees: tested, shown, derived."""
    names = [(f, r.key) for r in rules for fields in r.used_fields.values() for f in fields]
    for r in rules:
        derive = r.rule["then"].get("derive") or {}
        names += [(d, r.key) for d in [derive.get("fact") or "", *(derive.get("fields") or ())]]
    for key, words in wording.items():  # fields a clinic's wording shows are sent too
        for text in (words.summary or "", words.detail or ""):
            names += [(m.group(2), key) for m in PLACEHOLDER.finditer(text) if m.group(2)]
    return [n for n in names if n[0]]


def _resolve(
    operand: Any, matched: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]
) -> Any:
    if isinstance(operand, Mapping):
        alias, field = operand["ref"].split(".")
        return matched.get(alias, {}).get(field)
    if isinstance(operand, str) and operand.startswith("$"):
        return params[operand[1:]]
    return operand


def _neutral(value: str) -> str:
    """A runner's or an app's value put into Markdown: no HTML tag and no link can form."""
    if not _MARKUP_CHARS.search(value):
        return value
    return value.replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\[").replace("]", "\\]")


_MARKUP_CHARS = re.compile(r"[<>\[\]]")


def _fill(text: str, matched: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    def sub(m: Any) -> str:
        name, field = m.group(1), m.group(2)
        if field is None:
            return fmt_value(params[name]) if name in params else m.group(0)
        value = matched.get(name, {}).get(field)
        return _neutral(fmt_value(value)) if value is not None else "?"

    out = PLACEHOLDER.sub(sub, text) if "{" in text else text  # no placeholder: no regex
    return _SINGULAR.sub(r"\1 \2", out) if "1 " in out else out


#: "1 days" -> "1 day" once placeholders are filled (not "21 days", not "1.5 days").
_SINGULAR = re.compile(r"(?<![\d.,])(1) (day|week|run|time|session|month|year|pair|point)s\b")


def _short(summary: str) -> str:
    return summary if len(summary) < 140 else summary[:138].rstrip() + "…"


def _source(pack: RulePack, ref: str | list[str]) -> dict[str, str]:
    first = ref[0] if isinstance(ref, list) else ref
    src = pack.sources[first]
    out = {"label": src["label"]}
    if "url" in src:
        out["url"] = src["url"]
    return out


def _sources(pack: RulePack, ref: str | list[str]) -> tuple[dict[str, str], ...]:
    refs = ref if isinstance(ref, list) else [ref]
    return tuple(_source(pack, r) for r in refs)


def _contested_note(rule: CompiledRule) -> str:
    notes = [
        f"- `{name}` = {fmt_value(rule.params[name])}"
        f"{' ' + p.unit if p.unit else ''}: {p.contested}"
        for name in rule.used_params
        if (p := rule.pack.parameters[name]).contested
    ]
    return "\n\n**Contested threshold:**\n" + "\n".join(notes) if notes else ""
