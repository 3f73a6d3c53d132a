"""Rule packs: YAML data, loaded safely and validated (compiled for the core in compiler.py).

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
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from .conditions import (
    FACT_FIELDS,
    ORDERED_TYPES,
    PY_TYPES,
    allowed_values,
    compatible,
    has_ref,
    ops,
    param_name,
    rule_aliases,
    rule_patterns,
    type_of,
)
from .conditions import (
    PLACEHOLDER as PLACEHOLDER,  # runtime.py imports it from here
)
from .errors import RulesetError
from .yamldoc import check_schema, line_of, parse_yaml

SUMMARY_MAX = 139
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


# The compiler's names, where runtime.py and isolation.py import them from (compiler.py imports
# nothing from this module at run time, so there is no cycle).
from .compiler import PHASE_FACT as PHASE_FACT  # noqa: E402
from .compiler import CompiledRule as CompiledRule  # noqa: E402
from .compiler import compile_packs as compile_packs  # noqa: E402
from .compiler import core_refusal as core_refusal  # noqa: E402
