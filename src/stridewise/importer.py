"""Import anything a runner has: dispatch paths to adapters, keep going past bad files.

Each path is offered whole to the adapters first (a Strava export folder or zip, a journal, a
FIT file); a folder no adapter claims is walked and each file is offered on its own. Adapters
decide by content. A file that fails is recorded with its reason and the import goes on;
events already read are kept. Finally the same activity from several sources is merged.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

from stridewise.engine.errors import InputError
from stridewise.engine.events import (
    EVENT_CLASSES,
    CrossTraining,
    Event,
    Run,
    deduplicate,
    dump_event,
    load_event,
)
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
    #: One entry per merge: the record kept, the one merged into it, and the sport.
    merges: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``stridewise import --json`` prints)."""
        return {
            "files_read": self.files_read,
            "events": len(self.events),
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "activities_by_source": dict(sorted(self.activities_by_source.items())),
            "duplicates_merged": self.duplicates_merged,
            "merges": self.merges,
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
    workers: int = 1,
) -> ImportResult:
    """Read every path with the adapter that recognises it; merge duplicates at the end.

    ``workers`` > 1 reads files in that many processes when there are enough files to pay
    for starting them (0 = one per CPU); results are the same as reading in one process.
    """
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
    jobs: list[tuple[Path, Adapter]] = []
    for path in queue:
        adapter = _pick(adapters, path, result)
        if adapter is None:
            result.skipped.append(Skipped(str(path), _unrecognised(path)))
            if progress:
                progress(path)
        else:
            jobs.append((path, adapter))
    n_workers = _workers(workers, len(jobs))
    outcomes: Iterable[tuple[Path, Adapter, list[Event | Skipped] | None]]
    if n_workers > 1:
        outcomes = _read_in_pool(jobs, host, n_workers)
    else:
        outcomes = ((path, adapter, None) for path, adapter in jobs)
    for path, adapter, items in outcomes:
        if items is None:  # not read in a worker (or the worker lacks this adapter)
            items = _read(adapter, path)
        if progress:
            progress(path)
        result.files_read += 1
        for item in items:
            if isinstance(item, Skipped):
                result.skipped.append(item)
            else:
                raw.append(item)
    pairs: list[tuple[Run | CrossTraining, Run | CrossTraining]] = []
    result.events, result.duplicates_merged = deduplicate(raw, merges=pairs)
    result.merges = [_merge_entry(kept, other) for kept, other in pairs]
    for event in result.events:
        result.events_by_kind[event.kind] += 1
        if isinstance(event, Run | CrossTraining):
            result.activities_by_source[event.source] += 1
    return result


def _merge_entry(kept: Run | CrossTraining, other: Run | CrossTraining) -> dict[str, Any]:
    """What ``import --json`` says about one merge of the same activity from two sources."""

    def side(e: Run | CrossTraining) -> dict[str, Any]:
        return {
            "id": e.id,
            "source": e.source,
            "source_id": e.source_id,
            "start": e.start.isoformat(),
            "distance_m": e.distance_m,
        }

    return {"sport": kept.sport, "kept": side(kept), "merged": side(other)}


def _read(adapter: Adapter, path: Path) -> list[Event | Skipped]:
    """Everything one adapter yields for one input; failures become a :class:`Skipped`.

    Every event goes through the event schema again (a plugin's dataclass may hold a date in
    the year 9999 or a negative distance); what is not an event at all (a dict, a string,
    None) is reported once per type with the adapter's name. Nothing of either reaches the
    history.
    """
    items: list[Event | Skipped] = []
    wrong: Counter[str] = Counter()
    try:
        for item in adapter.read(path):  # items read before a failure are kept
            checked = _checked(adapter, path, item)
            if checked is None:
                wrong[type(item).__name__] += 1
            else:
                items.append(checked)
    except InputError as exc:
        located = exc if exc.file else exc.located(file=str(path))
        items.append(Skipped(str(located.file), located.reason, located.row))
    except Exception as exc:  # a bug in an adapter: report it, keep what was read
        items.append(
            Skipped(str(path), f"adapter {adapter.name} failed: {type(exc).__name__}: {exc}")
        )
    for type_name, n in sorted(wrong.items()):
        items.append(
            Skipped(
                str(path),
                f"adapter {adapter.name} yielded {n} item(s) of type {type_name}, not events; "
                "ignored (a bug in that plugin)",
            )
        )
    return items


_EVENT_TYPES = tuple(EVENT_CLASSES.values())
_BUILT_IN = "stridewise.adapters."


def _checked(adapter: Adapter, path: Path, item: object) -> Event | Skipped | None:
    """``item`` validated through the event schema, a :class:`Skipped` saying why it is
    refused, or None when it is not an event at all."""
    if isinstance(item, Skipped):
        return item
    if not isinstance(item, _EVENT_TYPES):
        return None
    event = cast(Event, item)
    if type(adapter).__module__.startswith(_BUILT_IN):
        return event  # the built-in adapters build every event through the schema already
    try:
        return load_event(dump_event(event))
    except InputError as exc:
        return Skipped(
            str(path),
            f"adapter {adapter.name} yielded an invalid {event.kind} event {event.id!r} "
            f"(refused): {exc.reason}",
        )
    except Exception as exc:  # a dataclass filled with values of the wrong type
        return Skipped(
            str(path),
            f"adapter {adapter.name} yielded a malformed {event.kind} event (refused): "
            f"{type(exc).__name__}: {exc}",
        )


#: Below this many files a process pool costs more than it saves.
POOL_MIN_FILES = 16


def _workers(requested: int, n_jobs: int) -> int:
    if requested == 1 or n_jobs < POOL_MIN_FILES:
        return 1
    cpus = os.cpu_count() or 1
    return max(1, min(requested or cpus, cpus, n_jobs))


_worker_host: PluginHost | None = None


def _init_worker(blocked: Sequence[str]) -> None:
    global _worker_host
    _worker_host = PluginHost(blocked=blocked)


def _read_in_worker(adapter_name: str, path: Path) -> list[Event | Skipped] | None:
    assert _worker_host is not None
    adapter = next((a for a in _worker_host.adapters() if a.name == adapter_name), None)
    return None if adapter is None else _read(adapter, path)


def _read_in_pool(
    jobs: Sequence[tuple[Path, Adapter]], host: PluginHost, n_workers: int
) -> Iterator[tuple[Path, Adapter, list[Event | Skipped] | None]]:
    """Read files in worker processes (a fresh plugin host each), in the original order."""
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        n_workers, mp_context=context, initializer=_init_worker, initargs=(sorted(host.blocked),)
    ) as pool:
        results = pool.map(
            _read_in_worker,
            [a.name for _, a in jobs],
            [p for p, _ in jobs],
            chunksize=max(1, len(jobs) // (n_workers * 8)),
        )
        for (path, adapter), items in zip(jobs, results, strict=True):
            yield path, adapter, items


def _unrecognised(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not head:
        return "empty file"
    return "not a format stridewise reads (FIT, TCX, GPX, Strava or Garmin export, journal)"
