"""The decision step: the cards that fired become one coherent message.

Rules fire independently; a runner reads their cards as one message. After the rules fire,
:func:`arbitrate` applies, in this order:

1. **Stop wins.** A card whose advice is ``stop`` (every critical card is one) suppresses every
   card that tells the runner to cut back, go on, progress or relax (advice ``reduce``,
   ``progress``, ``reassure``): "stop running and see a physician" never sits beside "step back
   to phase 2" or "low risk". This is the engine's invariant; no pack or profile can turn it off.
2. **Declared precedence.** A card's ``supersedes`` selectors suppress matching cards whenever it
   shows; ``conflicts_with`` suppresses the lower-ranked of the two (a reassuring card always
   gives way). Neither can silence a card
   that says stop: a red flag is never lost.
3. **One card per cause.** Cards with the same ``topic`` (placeholders filled) collapse into the
   highest-ranked one, which lists the others' findings, facts and sources.
4. **One request for data.** Two or more remaining ``information-needed`` cards fold into a
   single "what would sharpen this advice" card.
5. **The tips that matter most.** At most :data:`MAX_TIPS` suggestion cards (info findings and
   guidance) show; past that, the lowest-ranked fold into one "also worth doing" card.

Nothing is dropped silently: every card that does not show is returned with ``suppressed_by``
(the key of the card that took its place) and ``suppression`` (why).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .cards import INDICATOR_ORDER, Card, card_uuid, sort_cards

#: Advice a ``stop`` card overrides.
YIELDS_TO_STOP = frozenset({"reduce", "progress", "reassure"})
FOLD_KEY = "stridewise/sharpen-advice"
TIPS_KEY = "stridewise/also-worth-doing"
#: Info cards that are suggestions (not questions, not requests for data).
TIP_KINDS = frozenset({"finding", "guidance"})
#: At most this many suggestion cards show; past it, the lowest-ranked fold into one card.
MAX_TIPS = 3
_SELECTOR_KEYS = ("category", "advice", "indicator", "kind", "topic", "pack")


@dataclasses.dataclass(frozen=True, slots=True)
class Precedence:
    """What one rule's card declares about other cards (its pack id resolves bare rule ids)."""

    pack: str
    supersedes: tuple[Any, ...] = ()
    conflicts_with: tuple[Any, ...] = ()


def selector_matches(selector: Any, card: Card, pack: str) -> bool:
    """Whether a selector (``rule``, ``pack/rule`` or a mapping of card fields) names a card."""
    if isinstance(selector, str):
        key = selector if "/" in selector else f"{pack}/{selector}"
        return card.key == key
    values = {
        "category": card.category,
        "advice": card.advice,
        "indicator": card.indicator,
        "kind": card.kind,
        "topic": card.topic,
        "pack": card.ruleset_id,
    }
    for field in _SELECTOR_KEYS:
        if field in selector:
            wanted = selector[field]
            allowed = [wanted] if isinstance(wanted, str) else list(wanted)
            if values[field] not in allowed:
                return False
    return True


def _rank(card: Card) -> tuple[int, int, int, str]:
    # A card that says stop leads its topic whatever its priority.
    return (card.advice != "stop", INDICATOR_ORDER[card.indicator], -card.priority, card.key)


def _yields(card: Card, other: Card) -> bool:
    """In a conflict, whether ``card`` gives way: reassurance always does, else the lower rank."""
    if (card.advice == "reassure") != (other.advice == "reassure"):
        return card.advice == "reassure"
    return _rank(card) > _rank(other)


def arbitrate(
    cards: Sequence[Card],
    precedence: Mapping[str, Precedence],
    *,
    athlete: str,
    as_of: dt.date,
    fold_version: str = "1",
) -> tuple[list[Card], list[Card]]:
    """Shown cards (sorted) and suppressed cards (each with ``suppressed_by`` and why)."""
    live = sort_cards(list(cards))
    if len(live) <= 1:  # nothing to arbitrate: no step below changes a lone card
        return live, []
    gone: list[Card] = []

    def drop(card: Card, by: str, why: str) -> None:
        gone.append(dataclasses.replace(card, suppressed_by=by, suppression=why))

    # 1. Stop wins.
    stops = [c for c in live if c.advice == "stop"]
    if stops:
        lead = stops[0]
        kept = []
        for card in live:
            if card.advice in YIELDS_TO_STOP:
                drop(
                    card,
                    lead.key,
                    f"'{lead.summary}' says stop running; this card's advice "
                    f"({card.advice}) would contradict it",
                )
            else:
                kept.append(card)
        live = kept

    # 2. Declared precedence (a stop card is never silenced this way).
    silenced: dict[str, tuple[str, str]] = {}
    declaring = any(card.key in precedence for card in live)  # else nothing is silenced
    for card in live if declaring else ():
        if card.key in silenced:
            continue
        spec = precedence.get(card.key)
        if spec is None:
            continue
        for other in live:
            if other is card or other.key in silenced or other.advice == "stop":
                continue
            if any(selector_matches(s, other, spec.pack) for s in spec.supersedes):
                silenced[other.key] = (card.key, f"superseded by '{card.summary}'")
            elif any(
                selector_matches(s, other, spec.pack) for s in spec.conflicts_with
            ) and _yields(other, card):
                silenced[other.key] = (card.key, f"conflicts with '{card.summary}'")
    # conflicts declared by the lower-ranked card against a higher-ranked one
    for card in live if declaring else ():
        spec = precedence.get(card.key)
        if spec is None or card.key in silenced or card.advice == "stop":
            continue
        for other in live:
            if other is card or other.key in silenced:
                continue
            if any(selector_matches(s, other, spec.pack) for s in spec.conflicts_with) and _yields(
                card, other
            ):
                silenced[card.key] = (other.key, f"conflicts with '{other.summary}'")
                break
    kept = []
    for card in live:
        if card.key in silenced:
            by, why = silenced[card.key]
            drop(card, by, why)
        else:
            kept.append(card)
    live = kept

    # 3. One card per cause.
    by_topic: dict[str, list[Card]] = {}
    for card in live:
        if card.topic:
            by_topic.setdefault(card.topic, []).append(card)
    merged: dict[str, Card] = {}
    for group in by_topic.values():
        if len(group) < 2:
            continue
        group.sort(key=_rank)
        lead, rest = group[0], group[1:]
        merged[lead.key] = _merge(lead, rest)
        for card in rest:
            drop(card, lead.key, f"same cause ({card.topic}): listed in '{lead.summary}'")
    merged_away = {c.key for c in gone}
    live = [merged.get(c.key, c) for c in live if c.key not in merged_away]

    # 4. One request for data.
    asks = [c for c in live if c.kind == "information-needed"]
    if len(asks) > 1:
        fold = _fold(
            asks,
            key=FOLD_KEY,
            summary=f"What would sharpen this advice: {len(asks)} things to add to your records.",
            intro="These records are missing or out of date; with them the advice above can be "
            "more specific:",
            kind="information-needed",
            category="information-needed",
            advice="inform",
            athlete=athlete,
            as_of=as_of,
            version=fold_version,
        )
        for card in asks:
            drop(card, fold.key, "folded into 'what would sharpen this advice'")
        live = [c for c in live if c.kind != "information-needed"] + [fold]

    # 5. The few tips that matter most; the rest in one card.
    tips = sort_cards([c for c in live if c.indicator == "info" and c.kind in TIP_KINDS])
    if len(tips) > MAX_TIPS:
        rest = tips[MAX_TIPS - 1 :]
        more = _fold(
            rest,
            key=TIPS_KEY,
            summary=f"Also worth doing: {len(rest)} smaller suggestions for your bones.",
            intro="Each of these is a smaller step that lowers the risk of a bone stress injury; "
            "the cards above come first:",
            kind="guidance",
            category="prevention",
            advice="modify",
            athlete=athlete,
            as_of=as_of,
            version=fold_version,
        )
        for card in rest:
            drop(card, more.key, "one of several smaller suggestions, listed in 'also worth doing'")
        folded = {c.key for c in rest}
        live = [c for c in live if c.key not in folded] + [more]
    return sort_cards(live), sorted(gone, key=_rank)


def _merge(lead: Card, rest: Iterable[Card]) -> Card:
    rest = list(rest)
    lines = "\n".join(f"- {c.summary} ({c.ruleset_id}/{c.rule_id})" for c in rest)
    parameters = dict(lead.parameters)
    for card in rest:
        for name, value in card.parameters.items():
            parameters.setdefault(name, value)
    return dataclasses.replace(
        lead,
        detail=f"{lead.detail}\n\n**Also seen, same cause:**\n{lines}",
        facts=lead.facts + tuple(f for c in rest for f in c.facts),
        sources=_sources([lead, *rest]),
        parameters=parameters,
        merged=tuple(c.key for c in rest),
    )


def _sources(cards: Iterable[Card]) -> tuple[Mapping[str, str], ...]:
    """Every source the cards cite, once each, in order."""
    sources: list[Mapping[str, str]] = []
    for card in cards:
        for src in card.sources or (card.source,):
            if src not in sources:
                sources.append(src)
    return tuple(sources)


def _fold(
    cards: Sequence[Card],
    *,
    key: str,
    summary: str,
    intro: str,
    kind: str,
    category: str,
    advice: str,
    athlete: str,
    as_of: dt.date,
    version: str,
) -> Card:
    """One card listing several others (summary and source of each); they are its evidence."""
    cards = sort_cards(list(cards))
    lines = "\n".join(f"- {c.summary} *({c.source['label']})*" for c in cards)
    return Card(
        uuid=card_uuid(athlete, key, as_of),
        summary=summary,
        indicator="info",
        detail=f"{intro}\n\n{lines}",
        source=cards[0].source,
        sources=_sources(cards),
        rule_id=key.split("/", 1)[1],
        ruleset_id=key.split("/", 1)[0],
        ruleset_version=version,
        category=category,
        kind=kind,
        date=as_of,
        priority=0,
        facts=tuple({"card": c.key, "summary": c.summary} for c in cards),
        parameters={},
        advice=advice,
        merged=tuple(c.key for c in cards),
    )
