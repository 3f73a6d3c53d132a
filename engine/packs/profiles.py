"""Clinic profiles: a clinic's choice of packs (by id and version range), tuning within the
parameters' bounds, disabled rules, its own packs and rewording; see docs/clinics.md."""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from ..errors import RulesetError
from ..rules import PHYSICIAN, SUMMARY_MAX, RulePack, load_packs, markup_problem
from ..runtime import Engine, Wording
from ..yamldoc import check_schema, line_of, line_table, parse_yaml, read_text
from .analysis import card_of, long_fill, never_fires, placeholder_problem
from .inventory import QUALIFIED_RULE, did_you_mean

_SLUG = {"type": "string", "pattern": "^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "maxLength": 60}
_KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 60}
_RULE_REF = "^([a-z][a-z0-9]*(-[a-z0-9]+)*/)?[a-z][a-z0-9]*(-[a-z0-9]+)*$"

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
            "propertyNames": {"pattern": QUALIFIED_RULE},
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
    #: Problems found while reading (raw HTML or markup in wording): :meth:`resolve` lists them
    #: first among its errors, so one check shows every problem and :meth:`build_engine`
    #: refuses the profile.
    problems: tuple[RulesetError, ...] = ()

    def _error(self, message: str, key: str) -> RulesetError:
        return RulesetError(message, file=str(self.path), line=self.lines.get(key))

    def resolve(self, available: Iterable[RulePack]) -> ResolvedProfile:
        """Select packs and check every override, disabled rule and wording against them."""
        errors: list[RulesetError] = list(self.problems)
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
                        + did_you_mean(ref, known),
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
                card, rule, score = card_of(chosen[pid], rid)
            except KeyError:
                errors.append(
                    self._error(
                        f"wording for {key!r}: no rule with a card by that id in the selected "
                        "packs" + did_you_mean(key, known),
                        where,
                    )
                )
                continue
            pack = chosen[pid]
            summary = words.summary or card["summary"]
            detail = words.detail or card["detail"]
            for text in (words.summary, words.detail):
                problem = text and placeholder_problem(text, pack, rule, score is not None)
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


@functools.cache
def _profile_validator() -> Any:
    return importlib.import_module("jsonschema").Draft202012Validator(PROFILE_SCHEMA)


def load_profile(path: Path | str) -> ClinicProfile:
    """Read and validate a clinic profile; the clinic's own packs are loaded too.

    What makes the file unusable (not YAML, the schema broken, a bad version range, an own pack
    that is missing, outside the folder or does not load) raises :class:`RulesetError` with
    file, line and reason. Raw HTML or other markup in wording is collected in
    :attr:`ClinicProfile.problems` (that text is dropped) and :meth:`ClinicProfile.resolve`
    reports it with what needs the installed packs (pack ids, parameter values, rule ids), so
    ``stridewise rulesets profile`` lists all of these at once, with one exit code;
    :meth:`~ClinicProfile.build_engine` refuses a profile with any.
    """
    path = Path(path)
    origin = str(path)
    doc = parse_yaml(read_text(path), origin)
    if not isinstance(doc, dict):
        raise RulesetError(
            "a clinic profile must be a mapping at the top level", file=origin, line=1
        )
    check_schema(doc, _profile_validator(), origin)
    problems: list[RulesetError] = []
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
                line=line_of(doc, ["packs", pid]),
            ) from None
    folders = [path.parent / rel for rel in doc.get("own_packs") or ()]
    home = path.parent.resolve()
    for i, folder in enumerate(folders):
        if not folder.resolve().is_relative_to(home):
            raise RulesetError(
                f"own_packs: {doc['own_packs'][i]!r} is outside the profile's folder ({home}); "
                "a clinic's own packs live beside its profile, or come from an installed plugin",
                file=origin,
                line=line_of(doc, ["own_packs", i]),
            )
        if not folder.exists():
            raise RulesetError(
                f"own_packs: {doc['own_packs'][i]!r} does not exist (looked for {folder})",
                file=origin,
                line=line_of(doc, ["own_packs", i]),
            )
    own, errors = load_packs(folders)
    if errors:
        raise errors[0]  # a clinic's pack that does not load must not be skipped silently
    overrides: dict[str, Mapping[str, Any]] = {}
    for pid, values in (doc.get("parameters") or {}).items():
        overrides[pid] = MappingProxyType(dict(values))
    wording: dict[str, Wording] = {}
    for key, words in (doc.get("wording") or {}).items():
        parts: dict[str, str | None] = {}
        for part in ("summary", "detail"):
            problem = markup_problem(words.get(part) or "")
            if problem:
                problems.append(
                    RulesetError(
                        f"wording for {key!r}, {part}: {problem}",
                        file=origin,
                        line=line_of(doc, ["wording", key, part]),
                    )
                )
                parts[part] = None  # never shown; the profile is refused anyway
            else:
                parts[part] = words.get(part)
        wording[key] = Wording(summary=parts["summary"], detail=parts["detail"])
    return ClinicProfile(
        path=path,
        clinic_id=doc["clinic"]["id"],
        name=doc["clinic"]["name"],
        selections=MappingProxyType(selections),
        own_packs=tuple(own),
        overrides=MappingProxyType(overrides),
        disabled=tuple(doc.get("disabled") or ()),
        wording=MappingProxyType(wording),
        lines=MappingProxyType(line_table(doc)),
        problems=tuple(problems),
    )
