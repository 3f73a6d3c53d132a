"""Import anything a runner has: dispatch paths to adapters, keep going past bad files.

Each path is offered whole to the adapters first (a Strava export folder or zip, a journal, a
FIT file); a folder no adapter claims is walked and each file is offered on its own. Adapters
decide by content. A file that fails is recorded with its reason and the import goes on;
events already read are kept. Finally the same activity from several sources is merged.

Only folders and regular files are opened (a named pipe called ``x.fit`` would block the
import forever). Each input has a time budget (:data:`FILE_TIMEOUT_S`, or
``STRIDEWISE_FILE_TIMEOUT`` in seconds) for being recognised and read: an adapter that runs
past it is abandoned with its helper thread, reported by name, and not used again in that
import, so a plugin that loops forever cannot hang a command.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import multiprocessing
import os
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from queue import SimpleQueue
from typing import Any, TypeVar, cast

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


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """Something an adapter had to decide for the user: a guessed sport, a distance taken
    from laps because the summary had none. The event was imported; the note says how."""

    file: str
    note: str
    event_id: str | None = None
    row: int | str | None = None

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"{where}: {self.note}"


@dataclasses.dataclass(frozen=True, slots=True)
class ReadHints:
    """What the user tells an import that files may not say (``--sport``, ``--tz``).

    ``sport`` is used for activities whose file names no sport (a GPX without ``<type>``);
    ``tz`` (an IANA name such as ``America/Sao_Paulo``) is the home time zone for times that
    carry no UTC offset (Strava's ``activities.csv``); None means the system's.
    """

    sport: str | None = None
    tz: str | None = None


_NO_HINTS = ReadHints()  # frozen: safe to share
_HINTS: contextvars.ContextVar[ReadHints] = contextvars.ContextVar(
    "stridewise_read_hints", default=_NO_HINTS
)


def read_hints() -> ReadHints:
    """The hints of the import under way (adapters call this while reading)."""
    return _HINTS.get()


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
    #: What adapters decided for the user (guessed sports, distances from laps...).
    notes: list[Note] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (what ``stridewise import --json`` prints)."""
        return {
            "files_read": self.files_read,
            "events": len(self.events),
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "activities_by_source": dict(sorted(self.activities_by_source.items())),
            "duplicates_merged": self.duplicates_merged,
            "merges": self.merges,
            "notes": [
                {"file": n.file, "row": n.row, "event": n.event_id, "note": n.note}
                for n in self.notes
            ],
            "skipped": [{"file": s.file, "row": s.row, "reason": s.reason} for s in self.skipped],
        }


#: Seconds one input may take to be recognised and read (a whole export counts as one).
FILE_TIMEOUT_S = 600.0
_T = TypeVar("_T")


def default_file_timeout() -> float:
    """The per-input time budget: ``STRIDEWISE_FILE_TIMEOUT`` seconds, else the default."""
    try:
        value = float(os.environ.get("STRIDEWISE_FILE_TIMEOUT", FILE_TIMEOUT_S))
    except ValueError:
        return FILE_TIMEOUT_S
    return value if math.isfinite(value) and value > 0 else FILE_TIMEOUT_S


class _Overrun(Exception):
    """A call ran past its time budget; the thread running it was abandoned."""


class _Deadline:
    """Runs adapter calls in a helper thread and waits at most ``budget`` seconds for each.

    A call past its budget is abandoned with its thread (a daemon thread: it ends with the
    process) and a fresh thread takes the next calls. ``current`` names the adapter being
    called, for the report.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.current = ""
        self._jobs: SimpleQueue[Any] = SimpleQueue()
        self._start()

    def _start(self) -> None:
        self._jobs = SimpleQueue()
        worker = threading.Thread(
            target=self._serve, args=(self._jobs,), name="stridewise-adapter", daemon=True
        )
        worker.start()

    @staticmethod
    def _serve(jobs: SimpleQueue[Any]) -> None:
        while (job := jobs.get()) is not None:
            call, box, done = job
            try:
                box.append((True, call()))
            except BaseException as exc:  # handed to the caller, which re-raises it
                box.append((False, exc))
            done.set()

    def run(self, call: Callable[[], _T]) -> _T:
        box: list[tuple[bool, Any]] = []
        done = threading.Event()
        context = contextvars.copy_context()  # the import's hints travel with the call
        self._jobs.put((lambda: context.run(call), box, done))
        if not done.wait(self.budget):
            self._jobs.put(None)  # the stuck thread stops if it ever comes back
            self._start()
            raise _Overrun
        ok, value = box[0]
        if ok:
            return cast(_T, value)
        raise value

    def close(self) -> None:
        self._jobs.put(None)


def _overrun(path: Path, name: str, budget: float, what: str) -> Skipped:
    return Skipped(
        str(path),
        f"adapter {name} took more than {budget:g} s to {what}; abandoned, and not used again "
        "in this import (a bug in that plugin? the budget is STRIDEWISE_FILE_TIMEOUT)",
    )


def _pick(
    adapters: Sequence[Adapter],
    path: Path,
    result: ImportResult,
    deadline: _Deadline,
    abandoned: set[str],
) -> Adapter | None:
    """The first adapter that recognises ``path``, each asked within the time budget."""
    notes: list[Skipped] = []

    def pick() -> Adapter | None:
        for adapter in adapters:
            if adapter.name in abandoned:
                continue
            deadline.current = adapter.name
            try:
                if adapter.recognise(path):
                    return adapter
            except Exception as exc:  # an adapter's bug must not stop the import
                notes.append(Skipped(str(path), f"adapter {adapter.name} failed: {exc}"))
        return None

    while True:
        try:
            chosen = deadline.run(pick)
        except _Overrun:
            abandoned.add(deadline.current)
            notes.append(_overrun(path, deadline.current, deadline.budget, "recognise it"))
            result.skipped.extend(notes)
            notes = []
            continue  # ask the others again, without the one that hung
        result.skipped.extend(notes)
        return chosen


def _not_regular(path: Path) -> str | None:
    """Why ``path`` must not be opened (a named pipe, socket or device), or None."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        what = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        what = "a device"
    else:
        what = "not a regular file"
    return f"{what}, not a file: not opened"


def _walk(path: Path) -> Iterable[Path]:
    for child in sorted(path.rglob("*")):
        if not child.name.startswith(".") and not child.is_dir():
            yield child


def import_paths(
    paths: Iterable[Path | str],
    host: PluginHost,
    *,
    progress: Callable[[Path], None] | None = None,
    workers: int = 1,
    file_timeout: float | None = None,
    hints: ReadHints | None = None,
) -> ImportResult:
    """Read every path with the adapter that recognises it; merge duplicates at the end.

    ``workers`` > 1 reads files in that many processes when there are enough files to pay
    for starting them (0 = one per CPU); results are the same as reading in one process.
    ``file_timeout`` is each input's time budget in seconds (default:
    :func:`default_file_timeout`). ``hints`` tell adapters what files may not say.
    """
    adapters = host.adapters()
    result = ImportResult()
    deadline = _Deadline(file_timeout if file_timeout is not None else default_file_timeout())
    token = _HINTS.set(hints or ReadHints())
    try:
        return _import(paths, adapters, host, result, deadline, progress, workers)
    finally:
        _HINTS.reset(token)
        deadline.close()


def _import(
    paths: Iterable[Path | str],
    adapters: Sequence[Adapter],
    host: PluginHost,
    result: ImportResult,
    deadline: _Deadline,
    progress: Callable[[Path], None] | None,
    workers: int,
) -> ImportResult:
    raw: list[Event] = []
    queue: list[Path] = []
    abandoned: set[str] = set()
    picked: dict[Path, Adapter | None] = {}
    for p in map(Path, paths):
        if not p.exists():
            result.skipped.append(Skipped(str(p), "no such file or folder"))
        elif (why := _not_regular(p)) is not None:
            result.skipped.append(Skipped(str(p), why))
        elif (found := _pick(adapters, p, result, deadline, abandoned)) is not None or p.is_file():
            picked[p] = found
            queue.append(p)
        else:
            queue.extend(_walk(p))
    jobs: list[tuple[Path, Adapter]] = []
    for path in queue:
        if (why := _not_regular(path)) is not None:
            result.skipped.append(Skipped(str(path), why))
            continue
        if path in picked:
            adapter = picked[path]
        else:
            adapter = _pick(adapters, path, result, deadline, abandoned)
        if adapter is None:
            result.skipped.append(Skipped(str(path), _unrecognised(path)))
            if progress:
                progress(path)
        else:
            jobs.append((path, adapter))
    n_workers = _workers(workers, len(jobs))
    outcomes: Iterable[tuple[Path, Adapter, list[Event | Skipped] | None]]
    if n_workers > 1:
        outcomes = _read_in_pool(jobs, host, n_workers, deadline.budget)
    else:
        outcomes = ((path, adapter, None) for path, adapter in jobs)
    for path, adapter, items in outcomes:
        if items is None and adapter.name in abandoned:
            items = [Skipped(str(path), f"not read: adapter {adapter.name} was abandoned")]
        elif items is None:  # not read in a worker (or the worker lacks this adapter)
            try:
                items = deadline.run(lambda: _read(adapter, path))  # noqa: B023 - run at once
            except _Overrun:
                abandoned.add(adapter.name)
                items = [_overrun(path, adapter.name, deadline.budget, "read it")]
        if progress:
            progress(path)
        result.files_read += 1
        for item in items:
            if isinstance(item, Skipped):
                result.skipped.append(item)
            elif isinstance(item, Note):
                result.notes.append(item)
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
    if isinstance(item, Skipped | Note):
        return item  # type: ignore[return-value]  # notes pass through with the skips
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
_worker_deadline: _Deadline | None = None
_worker_abandoned: set[str] = set()


def _init_worker(blocked: Sequence[str], budget: float, hints: ReadHints) -> None:
    global _worker_host, _worker_deadline
    _HINTS.set(hints)
    _worker_host = PluginHost(blocked=blocked)
    _worker_deadline = _Deadline(budget)
    threading.Thread(target=_exit_with_parent, name="stridewise-orphan", daemon=True).start()


def _exit_with_parent() -> None:
    """End this worker when the importing process ends, even killed (its pipe closes)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(1)


def _read_in_worker(adapter_name: str, path: Path) -> list[Event | Skipped] | None:
    assert _worker_host is not None and _worker_deadline is not None
    adapter = next((a for a in _worker_host.adapters() if a.name == adapter_name), None)
    if adapter is None:
        return None
    if adapter_name in _worker_abandoned:
        return [Skipped(str(path), f"not read: adapter {adapter_name} was abandoned")]
    try:
        return _worker_deadline.run(lambda: _read(adapter, path))
    except _Overrun:
        _worker_abandoned.add(adapter_name)
        return [_overrun(path, adapter_name, _worker_deadline.budget, "read it")]


def _read_in_pool(
    jobs: Sequence[tuple[Path, Adapter]], host: PluginHost, n_workers: int, budget: float
) -> Iterator[tuple[Path, Adapter, list[Event | Skipped] | None]]:
    """Read files in worker processes (a fresh plugin host each), in the original order.

    Each worker ends when this process ends, even when it is killed, so no pool outlives it.
    """
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        n_workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(sorted(host.blocked), budget, read_hints()),
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
    if (why := _not_regular(path)) is not None:
        return why
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if not head:
        return "empty file"
    return "not a format stridewise reads (FIT, TCX, GPX, Strava or Garmin export, journal)"
