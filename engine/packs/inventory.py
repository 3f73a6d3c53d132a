"""Which packs are installed, who provided each, and where things are in a pack's file."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
from collections.abc import Iterable, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from ..errors import RulesetError
from ..rules import RulePack, iter_pack_files, load_packs
from ..yamldoc import line_of, parse_yaml

#: A rule named with its pack: ``pack-id/rule-id``.
QUALIFIED_RULE = "^[a-z][a-z0-9]*(-[a-z0-9]+)*/[a-z][a-z0-9]*(-[a-z0-9]+)*$"


@dataclasses.dataclass(frozen=True, slots=True)
class PackEntry:
    """A loaded pack and who provided it (a plugin's name, or ``path`` for a file given)."""

    pack: RulePack
    provider: str

    def to_dict(self) -> dict[str, Any]:
        p = self.pack
        return {
            "id": p.id,
            "version": p.version,
            "title": p.title,
            "status": p.status,
            "reviewed": p.reviewed,
            "rules": len(p.rules),
            "score_bands": len(p.rule_ids) - len(p.rules),
            "tests": len(p.tests),
            "content_hash": p.content_hash,
            "origin": p.origin,
            "provider": self.provider,
        }


def discover_packs(
    sources: Iterable[tuple[str, Path | Traversable]],
) -> tuple[list[PackEntry], list[RulesetError]]:
    """Load packs from ``(provider, file or folder)`` pairs, e.g. ``host.ruleset_sources()``.

    Loading is :func:`load_packs` (a broken pack is reported, the others load; the first of two
    packs with one id wins); each pack is tagged with the provider of its file.
    """
    sources = list(sources)
    provider_of = {str(f): name for name, src in sources for f in iter_pack_files(src)}
    packs, errors = load_packs(src for _, src in sources)
    return [PackEntry(p, provider_of.get(p.origin, "path")) for p in packs], errors


def error_dict(exc: RulesetError) -> dict[str, Any]:
    """JSON-ready ``{file, line, reason}`` of a pack or profile error."""
    return {"file": exc.file, "line": exc.line, "reason": exc.reason}


def did_you_mean(ref: str, known: Sequence[str]) -> str:
    bare = {k.split("/", 1)[1]: k for k in known if "/" in k}
    close = difflib.get_close_matches(ref, [*known, *bare], n=1, cutoff=0.75)
    return f" (did you mean {bare.get(close[0], close[0])!r}?)" if close else ""


@functools.lru_cache(maxsize=64)
def _pack_doc(origin: str, content_hash: str) -> Any:
    """A pack's file parsed with its lines (None if it is gone or changed since it loaded)."""
    try:
        text = Path(origin).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != content_hash:
        return None  # the file changed since it was loaded: its lines would mislead
    try:
        return parse_yaml(text, origin)
    except RulesetError:
        return None


def pack_line(pack: RulePack, path: Sequence[Any]) -> int | None:
    """The line of ``path`` in a loaded pack's file, or of its nearest enclosing entry (a pack
    may come from the validated-pack cache: its file is read again, once, for its lines)."""
    doc = _pack_doc(pack.origin, pack.content_hash)
    return None if doc is None else line_of(doc, path)
