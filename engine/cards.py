"""Recommendation cards in the HL7 CDS Hooks card shape, plus the facts that triggered them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}
_NAMESPACE = uuid.UUID("6f1f6a8e-8d3c-4c55-9d4e-5e1e7a0b2c11")
_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE.bytes, usedforsecurity=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Card:
    """One recommendation.

    ``uuid``, ``summary`` (< 140 characters), ``indicator``, ``detail`` (Markdown) and
    ``source`` follow CDS Hooks; the rest says which rule fired, on which facts and parameter
    values, for which date.
    """

    uuid: str
    summary: str
    indicator: str
    detail: str
    source: Mapping[str, str]
    rule_id: str
    ruleset_id: str
    ruleset_version: str
    category: str
    kind: str
    date: dt.date
    priority: int
    facts: tuple[Mapping[str, Any], ...]
    parameters: Mapping[str, Any]
    sources: tuple[Mapping[str, str], ...] = ()
    advice: str = "inform"
    topic: str | None = None
    #: Set on a card that does not show: the key of the card that took its place, and why.
    suppressed_by: str | None = None
    suppression: str | None = None
    #: Keys of the cards folded or collapsed into this one.
    merged: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.ruleset_id}/{self.rule_id}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: CDS Hooks fields first, then stridewise's own."""
        out: dict[str, Any] = {
            "uuid": self.uuid,
            "summary": self.summary,
            "indicator": self.indicator,
            "detail": self.detail,
            "source": dict(self.source),
            "rule_id": self.rule_id,
            "ruleset_id": self.ruleset_id,
            "ruleset_version": self.ruleset_version,
            "category": self.category,
            "kind": self.kind,
            "date": self.date.isoformat(),
            "facts": [dict(f) for f in self.facts],
            "parameters": dict(self.parameters),
            "sources": [dict(s) for s in self.sources],
            "advice": self.advice,
        }
        if self.topic:
            out["topic"] = self.topic
        if self.merged:
            out["merged"] = list(self.merged)
        if self.suppressed_by:
            out["suppressed_by"] = self.suppressed_by
            out["suppression"] = self.suppression
        return out


def card_uuid(athlete: str, key: str, date: dt.date) -> str:
    """Deterministic: the same finding for the same athlete and day has the same uuid.

    Exactly ``str(uuid.uuid5(namespace, name))``, formatted by hand (the UUID class is the slow
    part when a replay makes thousands of cards).
    """
    name = f"{athlete}|{key}|{date.isoformat()}".encode()
    sha = _NAMESPACE_SHA1.copy()  # the namespace's 16 bytes hashed once
    sha.update(name)
    b = bytearray(sha.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def sort_cards(cards: list[Card]) -> list[Card]:
    return sorted(cards, key=lambda c: (INDICATOR_ORDER[c.indicator], -c.priority, c.key))


def fmt_value(value: Any) -> str:
    """Numbers for people: at most two decimals, no trailing zeros."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text if text != "-0" else "0"
    return str(value)
