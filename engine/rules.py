"""Rule packs: YAML data, loaded safely, validated, and compiled to durable_rules conditions.

A pack is data, never code: ``yaml.safe_load`` semantics, a JSON Schema
(``ruleset.schema.json``) for its shape, and semantic checks for what a schema cannot see
(unknown facts and fields, type mismatches, parameters out of bounds, unknown sources,
critical cards that do not send the runner to a physician). Every problem is a
:class:`RulesetError` naming the file, the line and the reason.

The condition language (its meaning, operators and field catalogue live in
:mod:`stridewise.engine.conditions`; the reference is docs/packs.md)::

    when:                       # a list means all of; or {all: [...]} / {any: [...]}
      - fact: training          # bind a fact by type; alias defaults to the type
        as: t
        where:                  # field tests, and-ed; nest {any: [...]} / {all: [...]}
          enough_history: true
          acwr_ewma: {gt: $acwr_danger}        # $name = a pack parameter
      - fact: pain
        where: {severity: {gte: {ref: t.days_since_rest}}}   # a join on another alias
      - absent: flag            # no such fact (evaluated after the facts it depends on)
        where: {name: spike}
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .conditions import (
    FACT_FIELDS,
    ORDERED_TYPES,
    PY_TYPES,
    Filter,
    allowed_values,
    compatible,
    core_test,
    has_ref,
    ops,
    param_name,
    python_filter,
    resolve_operand,
    type_of,
)
from .errors import RulesetError
from .yamldoc import check_schema, line_of, parse_yaml

PHASE_FACT = "stridewise_phase"
SUMMARY_MAX = 139
PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\}")
#: Placeholders a score card can use besides the pack's parameters.
SCORE_VALUES = ("score", "missing", "scored", "components")
PHYSICIAN = re.compile(r"physician|doctor", re.IGNORECASE)


@cache
def ruleset_schema() -> dict[str, Any]:
    """The JSON Schema every rule pack is validated against."""
    text = files("stridewise.engine").joinpath("ruleset.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(ruleset_schema())


# ---------------------------------------------------------------------------------------------
# The loaded pack
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str
    default: Any
    description: str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    source: str | None = None
    contested: str | None = None

    def check(self, value: Any, where: str) -> Any:
        """Validate a value (default or override) against type and bounds; return it."""
        ok_types = PY_TYPES[self.type]
        if (isinstance(value, bool) and self.type != "boolean") or not isinstance(value, ok_types):
            raise RulesetError(
                f"parameter {self.name!r} must be {self.type}, got {value!r}", file=where
            )
        number = float(value) if isinstance(value, int | float) else None
        if number is not None and not math.isfinite(number):
            # NaN compares false with everything: a rule tested against it silently never fires.
            raise RulesetError(
                f"parameter {self.name!r} must be a finite number, got {value!r}", file=where
            )
        if self.min is not None and number is not None and number < self.min:
            raise RulesetError(
                f"parameter {self.name!r} = {value!r} is below its minimum {self.min:g}"
                f"{' ' + self.unit if self.unit else ''}",
                file=where,
            )
        if self.max is not None and number is not None and number > self.max:
            raise RulesetError(
                f"parameter {self.name!r} = {value!r} is above its maximum {self.max:g}"
                f"{' ' + self.unit if self.unit else ''}",
                file=where,
            )
        if self.choices is not None and value not in self.choices:
            raise RulesetError(
                f"parameter {self.name!r} = {value!r} is not one of {list(self.choices)}",
                file=where,
            )
        return value


@dataclasses.dataclass(frozen=True, slots=True)
class RulePack:
    """A validated rule pack (the parsed YAML plus its manifest)."""

    id: str
    version: str
    title: str
    status: str
    reviewed: str | None
    description: str | None
    sources: Mapping[str, Mapping[str, str]]
    parameters: Mapping[str, Parameter]
    rules: tuple[Mapping[str, Any], ...]
    scores: Mapping[str, Mapping[str, Any]]
    tests: tuple[Mapping[str, Any], ...]
    origin: str
    content_hash: str
    lines: Mapping[str, int]

    @property
    def rule_ids(self) -> list[str]:
        ids = [r["id"] for r in self.rules]
        for sid, score in self.scores.items():
            ids.extend(b["id"] for b in score["bands"])
            if "incomplete" in score:
                inc = score["incomplete"]
                ids.append(str(inc.get("id") or f"{sid.replace('_', '-')}-incomplete"))
        return ids

    @property
    def protected_rules(self) -> frozenset[str]:
        """Ids of the red-flag rules no profile may disable, reword or re-parameterise."""
        return frozenset(r["id"] for r in self.rules if r.get("protected"))

    @property
    def protected_parameters(self) -> frozenset[str]:
        """Parameters a protected rule reads: clinics cannot tune a red flag off."""
        names: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, Mapping):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
            elif isinstance(node, str) and node.startswith("$") and node[1:] in self.parameters:
                names.add(node[1:])

        for rule in self.rules:
            if rule.get("protected"):
                walk(rule["when"])
        return frozenset(names)

    def derives(self) -> dict[str, dict[str, str]]:
        """Fact types this pack's rules derive, with their fields' types.

        A field copied from another derived fact takes that fact's field type (resolved to a
        fixed point, so chains of derivations keep their types); a field two rules fill with
        different types is ``any``.
        """
        out: dict[str, dict[str, str]] = {}
        for _ in range(len(self.rules) + 1):
            known = {**FACT_FIELDS, **out}
            now: dict[str, dict[str, str]] = {}
            for rule in self.rules:
                derive = rule["then"].get("derive")
                if derive:
                    fields = now.setdefault(derive["fact"], {"rule": "string"})
                    for name, operand in (derive.get("fields") or {}).items():
                        typ = _operand_type(operand, rule, self, known)
                        fields[name] = _merge_types(fields.get(name), typ)
            if now == out:
                break
            out = now
        return out


def _merge_types(old: str | None, new: str) -> str:
    if old is None or old == new:
        return new
    if {old, new} == {"integer", "number"}:
        return "number"
    return "any"


def _operand_type(
    operand: Any,
    rule: Mapping[str, Any],
    pack: RulePack,
    known: Mapping[str, Mapping[str, str]] = FACT_FIELDS,
) -> str:
    if isinstance(operand, Mapping):
        alias, field = operand["ref"].split(".")
        fact_type = rule_aliases(rule).get(alias)
        return known.get(fact_type or "", {}).get(field, "any")
    if isinstance(operand, str) and operand.startswith("$") and operand[1:] in pack.parameters:
        return pack.parameters[operand[1:]].type
    return type_of(operand)


def rule_patterns(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The patterns of a rule's ``when`` (a list, or the list under ``all``/``any``)."""
    when = rule["when"]
    if isinstance(when, list):
        return when
    return list(when.get("all") or when.get("any") or [])


def rule_aliases(rule: Mapping[str, Any]) -> dict[str, str]:
    """Alias -> fact type of the facts a rule binds."""
    return {p.get("as", p["fact"]): p["fact"] for p in rule_patterns(rule) if "fact" in p}


def load_pack(source: Path | Traversable | str, *, origin: str | None = None) -> RulePack:
    """Read and validate one rule pack file. Raises :class:`RulesetError` with file and line."""
    name = origin or str(source)
    try:
        text = (
            source.read_text("utf-8")
            if not isinstance(source, str)
            else Path(source).read_text("utf-8")
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesetError(f"cannot read: {exc}", file=name) from None
    cached = _pack_cache_file(text, name)
    if cached is not None:
        try:
            return _pack_from_json(json.loads(cached.read_text("utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            pass  # not cached yet (or an entry we cannot read): validate and cache it
    pack = parse_pack(text, origin=name)
    if cached is not None:
        _store_pack(cached, pack)
    return pack


# ---------------------------------------------------------------------------------------------
# Validated packs cached by content hash
# ---------------------------------------------------------------------------------------------

#: Where validated packs are cached (a folder); empty or ``off``: no cache. Default: the
#: platform's user cache folder. The key is the hash of the pack text, its origin and the code
#: and schema that validate packs, so a changed pack or a new stridewise validates again.
CACHE_ENV = "STRIDEWISE_CACHE_DIR"


@cache
def _validator_fingerprint() -> str:
    """Hash of what decides whether a pack is valid: this module, the condition language
    (conditions.py, with the field catalogue), the schema."""
    digest = hashlib.sha256()
    digest.update(Path(__file__).read_bytes())
    digest.update(Path(__file__).with_name("conditions.py").read_bytes())
    digest.update(json.dumps(ruleset_schema(), sort_keys=True).encode())
    digest.update(json.dumps(FACT_FIELDS, sort_keys=True).encode())
    return digest.hexdigest()


def _pack_cache_file(text: str, origin: str) -> Path | None:
    import os

    folder = os.environ.get(CACHE_ENV)
    if folder is None:
        import platformdirs

        folder = str(Path(platformdirs.user_cache_dir("stridewise")))
    if folder.strip().lower() in ("", "off"):
        return None
    key = hashlib.sha256(
        "\0".join((_validator_fingerprint(), origin, text)).encode("utf-8", "surrogatepass")
    ).hexdigest()
    where = hashlib.sha256(origin.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Path(folder) / "packs" / f"{where}-{key[:40]}.json"


def _store_pack(path: Path, pack: RulePack) -> None:
    """Write a validated pack to the cache (atomically; the pack's older entries go)."""
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(path.name.split("-", 1)[0] + "-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dataclasses.asdict(pack), fh, ensure_ascii=False)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        pass  # a cache that cannot be written only costs time


def _pack_from_json(data: dict[str, Any]) -> RulePack:
    params = {
        name: Parameter(
            **{**spec, "choices": tuple(spec["choices"]) if spec["choices"] is not None else None}
        )
        for name, spec in data["parameters"].items()
    }
    return RulePack(
        **{
            **data,
            "parameters": params,
            "rules": tuple(data["rules"]),
            "tests": tuple(data["tests"]),
        }
    )


def parse_pack(text: str, *, origin: str = "<string>") -> RulePack:
    """Validate rule pack YAML text (see :func:`load_pack`)."""
    doc = parse_yaml(text, origin)
    if not isinstance(doc, dict):
        raise RulesetError("a rule pack must be a mapping at the top level", file=origin, line=1)
    check_schema(doc, _validator(), origin)
    manifest = doc["ruleset"]
    parameters: dict[str, Parameter] = {}
    for pname, spec in (doc.get("parameters") or {}).items():
        param = Parameter(
            name=pname,
            type=spec["type"],
            default=spec["default"],
            description=spec["description"],
            unit=spec.get("unit"),
            min=spec.get("min"),
            max=spec.get("max"),
            choices=tuple(spec["choices"]) if "choices" in spec else None,
            source=spec.get("source"),
            contested=spec.get("contested"),
        )
        line = line_of(doc, ["parameters", pname])
        try:
            param.check(param.default, origin)
        except RulesetError as exc:
            raise RulesetError(f"default: {exc.reason}", file=origin, line=line) from None
        if param.source and param.source not in doc["sources"]:
            raise RulesetError(
                f"parameter {pname!r} cites unknown source {param.source!r}", file=origin, line=line
            )
        parameters[pname] = param
    plain = _plain(doc)
    pack = RulePack(
        id=manifest["id"],
        version=manifest["version"],
        title=manifest["title"],
        status=manifest["status"],
        reviewed=manifest.get("reviewed"),
        description=manifest.get("description"),
        sources=plain["sources"],
        parameters=parameters,
        rules=tuple(plain["rules"]),
        scores=plain.get("scores") or {},
        tests=tuple(plain.get("tests") or ()),
        origin=origin,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        lines={
            **{r["id"]: line_of(doc, ["rules", i]) or 0 for i, r in enumerate(doc["rules"])},
        },
    )
    _check_semantics(pack, doc)
    return pack


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


# ---------------------------------------------------------------------------------------------
# Semantic checks
# ---------------------------------------------------------------------------------------------


def _check_semantics(
    pack: RulePack,
    doc: Mapping[str, Any],
    known_derived: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    facts = {**FACT_FIELDS, **pack.derives(), **(known_derived or {})}
    seen: set[str] = set()
    for i, rule in enumerate(pack.rules):
        line = line_of(doc, ["rules", i])

        def fail(msg: str, rule_id: str = rule["id"], line: int | None = line) -> RulesetError:
            return RulesetError(f"rule {rule_id!r}: {msg}", file=pack.origin, line=line)

        if rule["id"] in seen:
            raise fail("duplicate rule id")
        seen.add(rule["id"])
        aliases: dict[str, str] = {}
        for pattern in rule_patterns(rule):
            fact_type = pattern.get("fact") or pattern.get("absent")
            if fact_type not in facts:
                raise fail(f"unknown fact type {fact_type!r} (known: {', '.join(sorted(facts))})")
            if "fact" in pattern:
                alias = pattern.get("as", fact_type)
                if alias in aliases:
                    raise fail(f"alias {alias!r} is bound twice; name one of them with 'as'")
                aliases[alias] = fact_type
        bound: dict[str, str] = {}
        for pattern in rule_patterns(rule):
            fact_type = str(pattern.get("fact") or pattern.get("absent"))
            # A join can only refer to facts bound earlier; absences cannot join at all.
            if "absent" in pattern and has_ref(pattern.get("where") or {}):
                raise fail("an 'absent' pattern cannot refer to other facts (ref)")
            visible = bound
            if "where" in pattern:
                _check_test(
                    pattern["where"], facts[fact_type], fact_type, visible, facts, pack, fail
                )
            if "fact" in pattern:
                bound[pattern.get("as", fact_type)] = fact_type
        then = rule["then"]
        if "card" in then:
            _check_card(then["card"], pack, aliases, facts, fail)
        if "score" in then:
            score = pack.scores.get(then["score"]["id"])
            if score is None:
                raise fail(f"unknown score {then['score']['id']!r}")
            if then["score"]["component"] not in score["components"]:
                raise fail(f"score component {then['score']['component']!r} is not declared")
        if "derive" in then:
            for operand in (then["derive"].get("fields") or {}).values():
                _check_operand(operand, "any", aliases, facts, pack, fail)
    for sid, score in pack.scores.items():
        if score["source"] not in pack.sources:
            raise RulesetError(
                f"score {sid!r} cites unknown source {score['source']!r}",
                file=pack.origin,
                line=line_of(doc, ["scores", sid]),
            )
        for band in score["bands"]:
            if band["id"] in seen:
                raise RulesetError(
                    f"score band id {band['id']!r} clashes with another rule id",
                    file=pack.origin,
                    line=line_of(doc, ["scores", sid]),
                )
            seen.add(band["id"])

            def band_fail(
                msg: str, bid: str = band["id"], line: int | None = line_of(doc, ["scores", sid])
            ) -> RulesetError:
                return RulesetError(f"score band {bid!r}: {msg}", file=pack.origin, line=line)

            _check_card(band["card"], pack, {}, facts, band_fail, score_card=True)
        if "incomplete" in score:
            inc = score["incomplete"]
            inc_id = str(inc.get("id") or f"{sid.replace('_', '-')}-incomplete")
            if inc_id in seen:
                raise RulesetError(
                    f"score {sid!r}: incomplete card id {inc_id!r} clashes with another rule id",
                    file=pack.origin,
                    line=line_of(doc, ["scores", sid, "incomplete"]),
                )
            seen.add(inc_id)

            def inc_fail(
                msg: str,
                where: str = f"score {sid!r} incomplete card",
                line: int | None = line_of(doc, ["scores", sid, "incomplete"]),
            ) -> RulesetError:
                return RulesetError(f"{where}: {msg}", file=pack.origin, line=line)

            _check_card(inc["card"], pack, {}, facts, inc_fail, score_card=True)
            if inc["card"]["advice"] == "reassure":
                raise inc_fail("an incomplete score cannot reassure")


def _check_test(
    test: Mapping[str, Any],
    fields: Mapping[str, str],
    fact_type: str,
    aliases: Mapping[str, str],
    facts: Mapping[str, Mapping[str, str]],
    pack: RulePack,
    fail: Any,
) -> None:
    for key, value in test.items():
        if key in ("all", "any"):
            for sub in value:
                _check_test(sub, fields, fact_type, aliases, facts, pack, fail)
            continue
        if key not in fields:
            raise fail(f"fact {fact_type!r} has no field {key!r}")
        ftype = fields[key]
        if fields is FACT_FIELDS.get(fact_type):
            _check_allowed(value, fact_type, key, pack, fail)
        if isinstance(value, Mapping):
            for op, operand in value.items():
                if op == "exists":
                    continue
                if op == "in":
                    for item in operand:
                        _check_operand(item, ftype, aliases, facts, pack, fail, key)
                    continue
                if op in ("gt", "gte", "lt", "lte") and ftype not in ORDERED_TYPES:
                    raise fail(f"'{op}' on {fact_type}.{key}, a {ftype} field")
                _check_operand(operand, ftype, aliases, facts, pack, fail, key)
        else:
            _check_operand(value, ftype, aliases, facts, pack, fail, key)


def _check_allowed(value: Any, fact_type: str, field: str, pack: RulePack, fail: Any) -> None:
    """A word an engine fact's field can never hold (a typo in ``site: tibia_anteriour``) makes
    a test that silently never holds (or, with ``ne``, always holds): refused."""
    allowed = allowed_values(fact_type, field)
    if allowed is None:
        return
    words: list[tuple[Any, str]] = []
    for op, operand in ops(value):
        if op in ("eq", "ne", "in"):
            for item in operand if op == "in" else [operand]:
                name = param_name(item)
                param = pack.parameters.get(name) if name is not None else None
                if param is not None:
                    words += [
                        (c, f" (parameter ${name})") for c in param.choices or (param.default,)
                    ]
                elif isinstance(item, str):
                    words.append((item, ""))
    for word, where in words:
        if isinstance(word, str) and word not in allowed:
            hint = difflib.get_close_matches(word, allowed, n=1)
            raise fail(
                f"{fact_type}.{field} never takes {word!r}{where}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" It takes: {', '.join(allowed)}"
            )


def _check_operand(
    operand: Any,
    ftype: str,
    aliases: Mapping[str, str],
    facts: Mapping[str, Mapping[str, str]],
    pack: RulePack,
    fail: Any,
    field: str = "",
) -> None:
    if isinstance(operand, Mapping):
        alias, other = operand["ref"].split(".")
        if alias not in aliases:
            raise fail(f"ref {operand['ref']!r}: no fact bound as {alias!r}")
        otype = facts[aliases[alias]].get(other)
        if otype is None:
            raise fail(f"ref {operand['ref']!r}: fact {aliases[alias]!r} has no field {other!r}")
        if not compatible(ftype, otype):
            raise fail(f"{field}: compares a {ftype} with {operand['ref']} ({otype})")
        return
    if isinstance(operand, str) and operand.startswith("$"):
        param = pack.parameters.get(operand[1:])
        if param is None:
            raise fail(f"unknown parameter {operand!r}")
        if not compatible(ftype, param.type):
            raise fail(f"{field}: compares a {ftype} field with {operand} ({param.type})")
        return
    if isinstance(operand, float) and not math.isfinite(operand):
        raise fail(f"{field}: {operand!r} is not a finite number (nothing compares with it)")
    if not compatible(ftype, type_of(operand)):
        raise fail(f"{field}: compares a {ftype} field with {operand!r} ({type_of(operand)})")


def _check_card(
    card: Mapping[str, Any],
    pack: RulePack,
    aliases: Mapping[str, str],
    facts: Mapping[str, Mapping[str, str]],
    fail: Any,
    *,
    score_card: bool = False,
) -> None:
    sources = card["source"] if isinstance(card["source"], list) else [card["source"]]
    for src in sources:
        if src not in pack.sources:
            raise fail(f"card cites unknown source {src!r}")
        problem = markup_problem(pack.sources[src]["label"])
        if problem:
            raise fail(f"source {src!r} label: {problem}")
    for text_key in ("summary", "detail", "topic"):
        problem = markup_problem(card.get(text_key) or "")
        if problem:
            raise fail(f"{text_key}: {problem}")
    for text_key in ("summary", "detail"):
        for m in PLACEHOLDER.finditer(card[text_key]):
            name, field = m.group(1), m.group(2)
            if field is None:
                if name in pack.parameters or (score_card and name in SCORE_VALUES):
                    continue
                raise fail(f"{text_key}: {{{name}}} is neither a parameter nor alias.field")
            if name not in aliases or field not in facts[aliases[name]]:
                raise fail(f"{text_key}: {{{name}.{field}}} names no bound fact field")
    estimate = PLACEHOLDER.sub("12345678", card["summary"])
    if len(estimate) > SUMMARY_MAX:
        raise fail(
            f"summary is {len(estimate)} characters with values filled in (max {SUMMARY_MAX})"
        )
    if card["indicator"] == "critical" and not PHYSICIAN.search(card["summary"] + card["detail"]):
        raise fail("a critical card must tell the runner to see a physician")
    if card["indicator"] == "critical" and card["advice"] != "stop":
        raise fail(f"a critical card's advice must be 'stop', not {card['advice']!r}")
    if card["advice"] in ("progress", "reassure") and card["indicator"] != "info":
        raise fail(f"advice {card['advice']!r} belongs on an info card, not a {card['indicator']}")
    for m in PLACEHOLDER.finditer(card.get("topic", "")):
        name, field = m.group(1), m.group(2)
        if field is None or name not in aliases or field not in facts[aliases[name]]:
            raise fail(f"topic: {{{m.group(0)[1:-1]}}} names no bound fact field")
    for key in ("supersedes", "conflicts_with"):
        for selector in card.get(key) or ():
            problem = _selector_problem(selector, pack)
            if problem:
                raise fail(f"{key}: {problem}")
    for src in sources:
        label = pack.sources[src]["label"]
        if FILE_NAME.search(label):
            raise fail(
                f"source {src!r} is labelled with a file name ({label!r}): cite the reader-facing "
                "title and publisher (and a DOI for a paper)"
            )


#: Raw HTML in card text: a tag, a closing tag, a comment or an autolink (``<script``,
#: ``</b``, ``<!--``, ``<javascript:...>``); "<19" and "< 0.8" are not.
_HTML = re.compile(r"<\s*[A-Za-z!/?]")
#: Markdown link targets: ``[text](target)`` and reference definitions ``[id]: target``.
_LINK_TARGETS = (
    re.compile(r"\]\(\s*<?([^)\s>]*)"),
    re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S*?)>?(?:\s|$)", re.MULTILINE),
)
SAFE_LINK_SCHEMES = ("http", "https", "mailto")


def markup_problem(text: str) -> str | None:
    """Why card text (Markdown shown in apps' web views) is unsafe: raw HTML, or a link whose
    scheme is not http, https or mailto (``javascript:``, ``data:``, ``file:``...). None if
    it is safe."""
    html = _HTML.search(text)
    if html:
        start = html.start()
        return (
            f"raw HTML is not allowed ({text[start : start + 20]!r}...): card text is Markdown "
            "that apps show in web views; write it without tags"
        )
    for pattern in _LINK_TARGETS:
        for m in pattern.finditer(text):
            target = m.group(1)
            scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", target)
            if scheme is None or scheme.group(1).lower() not in SAFE_LINK_SCHEMES:
                return (
                    f"link to {target!r} is not allowed: only {', '.join(SAFE_LINK_SCHEMES)} links"
                )
    return None


#: A source label that is a file name ("seeds/000_38e2.txt") means nothing to a reader.
FILE_NAME = re.compile(r"(^|[\s(/])[\w.-]+/[\w.-]+\.(txt|md|ya?ml|json|pdf)\b|\.(txt|md|ya?ml)\b")


def _selector_problem(selector: Any, pack: RulePack) -> str | None:
    """Why a supersedes/conflicts_with selector is not allowed (None when it is)."""
    if isinstance(selector, str):
        if "/" in selector:
            return None  # another pack's rule: checked when the packs run together
        card = next(
            (r["then"].get("card") for r in pack.rules if r["id"] == selector),
            None,
        )
        if card is None and selector not in pack.rule_ids:
            return f"no rule {selector!r} with a card in this pack"
        if card is not None and (card["indicator"] == "critical" or card["advice"] == "stop"):
            return f"{selector!r} tells the runner to stop: nothing may set it aside"
        return None
    for key, wanted in (("indicator", "critical"), ("advice", "stop")):
        values = selector.get(key)
        if values is not None and wanted in ([values] if isinstance(values, str) else values):
            return f"selects cards with {key} {wanted!r}: nothing may set a red flag aside"
    return None


# ---------------------------------------------------------------------------------------------
# Compilation
# ---------------------------------------------------------------------------------------------


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


def builtin_pack_files() -> list[Traversable]:
    """The YAML files shipped in :mod:`stridewise.rulesets`."""
    root = files("stridewise.rulesets")
    return sorted((f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


def iter_pack_files(source: Path | Traversable) -> list[Path | Traversable]:
    """A pack file, or the ``*.yaml`` files in a folder (sorted by name)."""
    if source.is_dir():
        return sorted(
            (f for f in source.iterdir() if f.name.endswith((".yaml", ".yml"))),
            key=lambda f: f.name,
        )
    return [source]


def load_packs(
    sources: Iterable[Path | Traversable],
) -> tuple[list[RulePack], list[RulesetError]]:
    """Load every pack from files/folders; a broken pack is reported, the others still load.

    When two sources provide the same pack id, the first wins and the second is reported.
    """
    packs: list[RulePack] = []
    errors: list[RulesetError] = []
    seen: dict[str, str] = {}
    for source in sources:
        for f in iter_pack_files(source):
            try:
                pack = load_pack(f)
            except RulesetError as exc:
                errors.append(exc)
                continue
            if pack.id in seen:
                errors.append(
                    RulesetError(
                        f"pack id {pack.id!r} already loaded from {seen[pack.id]}", file=str(f)
                    )
                )
                continue
            seen[pack.id] = pack.origin
            packs.append(pack)
    return packs, errors


#: The name runtime.py imports (kept until it imports :func:`rule_patterns`).
_patterns = rule_patterns
