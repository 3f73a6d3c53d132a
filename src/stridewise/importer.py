"""Import anything a runner has: dispatch paths to adapters, keep going past bad files.

Each path is offered whole to the adapters first (a Strava export folder or zip, a journal, a
FIT file); a folder no adapter claims is walked and each file is offered on its own. Adapters
decide by content. A file that fails is recorded with its reason and the import goes on;
events already read are kept. Finally the same activity from several sources is merged.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from stridewise.engine.errors import InputError
from stridewise.engine.events import CrossTraining, Event, Run, deduplicate
from stridewise.plugins import Adapter, PluginHost, Skipped


@dataclasses.dataclass(slots=True)
class ImportResult:
    """What an import found: events, counts per source, merges, and what was skipped."""

    events: list[Event] = dataclasses.field(default_factory=list)
    files_read: int = 0
    activities_by_source: Counter[str] = dataclasses.field(default_factory=Counter)
    events_by_kind: Counter[str] = dataclasses.field(default_factory=Counter)
    duplicates_merged: int = 0
    skipped: list[Skipped] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``stridewise import --json`` prints)."""
        return {
            "files_read": self.files_read,
            "events": len(self.events),
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "activities_by_source": dict(sorted(self.activities_by_source.items())),
            "duplicates_merged": self.duplicates_merged,
            "skipped": [{"file": s.file, "row": s.row, "reason": s.reason} for s in self.skipped],
        }


def _pick(adapters: Sequence[Adapter], path: Path, result: ImportResult) -> Adapter | None:
    for adapter in adapters:
        try:
            if adapter.recognise(path):
                return adapter
        except Exception as exc:  # an adapter's bug must not stop the import
            result.skipped.append(Skipped(str(path), f"adapter {adapter.name} failed: {exc}"))
    return None


def _walk(path: Path) -> Iterable[Path]:
    for child in sorted(path.rglob("*")):
        if child.is_file() and not child.name.startswith("."):
            yield child


def import_paths(
    paths: Iterable[Path | str],
    host: PluginHost,
    *,
    progress: Callable[[Path], None] | None = None,
) -> ImportResult:
    """Read every path with the adapter that recognises it; merge duplicates at the end."""
    adapters = host.adapters()
    result = ImportResult()
    raw: list[Event] = []
    queue: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            result.skipped.append(Skipped(str(p), "no such file or folder"))
        elif _pick(adapters, p, result) is not None or p.is_file():
            queue.append(p)
        else:
            queue.extend(_walk(p))
    for path in queue:
        if progress:
            progress(path)
        adapter = _pick(adapters, path, result)
        if adapter is None:
            result.skipped.append(Skipped(str(path), _unrecognised(path)))
            continue
        result.files_read += 1
        try:
            for item in adapter.read(path):
                if isinstance(item, Skipped):
                    result.skipped.append(item)
                else:
                    raw.append(item)
        except InputError as exc:
            located = exc if exc.file else exc.located(file=str(path))
            result.skipped.append(Skipped(str(located.file), located.reason, located.row))
        except Exception as exc:  # a bug in an adapter: report it, keep what was read
            result.skipped.append(
                Skipped(str(path), f"adapter {adapter.name} failed: {type(exc).__name__}: {exc}")
            )
    result.events, result.duplicates_merged = deduplicate(raw)
    for event in result.events:
        result.events_by_kind[event.kind] += 1
        if isinstance(event, Run | CrossTraining):
            result.activities_by_source[event.source] += 1
    return result


def _unrecognised(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not head:
        return "empty file"
    return "not a format stridewise reads (FIT, TCX, GPX, Strava or Garmin export, journal)"
