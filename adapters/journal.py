"""The runner's own journal: YAML, JSON or CSV, written by hand or by ``stridewise log``.

YAML/JSON journals are a mapping of sections, each a list of events of one kind::

    stridewise: journal          # marks the file as a journal (optional for YAML/JSON)
    profile:  [{recorded: 2026-01-01, sex: female, birth_year: 1994, height_m: 1.68}]
    runs:     [{date: 2026-03-02, distance_km: 8, time: "42:30", shoe: pegasus}]
    pain:     [{date: 2026-03-20, site: front of shin, severity: 4, with_activity: true,
                stopped_run: true}]
    shoes:    [{id: pegasus, name: Pegasus 40, first_used: 2025-09-01}]
    nutrition: [...]
    injuries: [{date: 2026-04-01, site: tibia, cleared: 2026-05-20, hop_test_pain: 1,
                strength_test_passed: true}]
    cross_training: [...]

Entries use the event fields of :mod:`stridewise.engine.events` (SI units) or these friendly
forms: ``distance_km``, ``time``/``duration`` as ``"mm:ss"`` or ``"h:mm:ss"``, ``date`` (+
optional ``start_time`` ``"HH:MM"`` and ``utc_offset``, e.g. ``"+01:00"``), ``shoe`` for
``shoe_id``. ``site`` takes the words runners use, in any case (``tibia``, ``front of shin``,
``top of midfoot``: see :data:`stridewise.engine.events.SITE_ALIASES`). An injury entry logged
again with the same date, site and side updates the first (clearance date, test results).
``id`` and ``source`` are filled in when absent. A CSV journal has one event per
row and a ``kind`` column.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; appends are not guarded
    fcntl = None  # type: ignore[assignment]

from stridewise.engine.errors import InputError
from stridewise.engine.events import MAX_RUN_M, Event, load_event, stable_id
from stridewise.plugins import Skipped, hookimpl

SOURCE = "journal"
MAX_BYTES = 20 * 1024 * 1024
MAX_SHOE_KM = 5000.0  # the shoe schema's bound on a pair's distance before stridewise
SECTIONS = {
    "profile": "profile",
    "runs": "run",
    "cross_training": "cross_training",
    "pain": "pain",
    "shoes": "shoe",
    "nutrition": "nutrition",
    "injuries": "injury",
}
KIND_SECTION = {kind: section for section, kind in SECTIONS.items()}
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def parse_clock(text: str) -> float:
    """``"42:30"`` or ``"1:02:03"`` -> seconds."""
    m = _CLOCK.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a time like 42:30 or 1:02:03")
    h, mi, s = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    if s >= 60 or (m.group(1) and mi >= 60):
        raise ValueError(f"{text!r} is not a time like 42:30 or 1:02:03")
    return float(h * 3600 + mi * 60 + s)


def _offset_seconds(text: str) -> int:
    m = _OFFSET.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a UTC offset like +01:00")
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60)


def normalize_entry(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Friendly journal fields -> event fields (raises ValueError with the field named)."""
    data: dict[str, Any] = {k: v for k, v in entry.items() if v is not None and v != ""}
    data.setdefault("source", SOURCE)
    if "distance_km" in data:
        data["distance_m"] = _metres(data.pop("distance_km"), "distance_km", MAX_RUN_M / 1e3)
    if "start_distance_km" in data:
        data["start_distance_m"] = _metres(
            data.pop("start_distance_km"), "start_distance_km", MAX_SHOE_KM
        )
    for friendly, target in (("time", "moving_time_s"), ("duration", "duration_s")):
        if friendly in data:
            value = data.pop(friendly)
            key = target if kind != "cross_training" else "duration_s"
            data[key] = parse_clock(value) if isinstance(value, str) else _number(value, friendly)
    if "duration_min" in data:
        data["duration_s"] = _number(data.pop("duration_min"), "duration_min") * 60.0
    if "shoe" in data:
        data["shoe_id"] = str(data.pop("shoe"))
    if kind in ("run", "cross_training") and "start" not in data and "date" in data:
        day = _date(data.pop("date"), "date")
        clock_value = data.pop("start_time", "07:00")
        if isinstance(clock_value, int):  # YAML 1.1 reads 7:15 as sexagesimal minutes (435)
            clock_value = f"{clock_value // 60}:{clock_value % 60:02d}"
        clock = str(clock_value)
        offset = _offset_seconds(str(data.pop("utc_offset", "+00:00")))
        try:
            hh, mm = (int(p) for p in clock.split(":"))
            local = dt.datetime.combine(day, dt.time(hh, mm))
        except ValueError:
            raise ValueError(f"start_time: {clock!r} is not a time like 07:30") from None
        try:
            start = local - dt.timedelta(seconds=offset)
        except OverflowError:  # 0001-01-01 with +08:00 starts before year 1 in UTC
            raise ValueError(
                f"date: {day.isoformat()} with UTC offset {offset // 3600:+03d}:"
                f"{abs(offset) % 3600 // 60:02d} is outside the dates stridewise can store"
            ) from None
        data["start"] = start.replace(tzinfo=dt.UTC).isoformat()
        data["utc_offset_s"] = offset
    for key, value in list(data.items()):
        if isinstance(value, dt.date):  # datetime is a date too
            data[key] = value.isoformat()
    if "id" not in data:
        data["id"] = stable_id(SOURCE, kind, sorted(data.items(), key=lambda kv: kv[0]))
    else:
        data["id"] = str(data["id"])
    return data


def _metres(value: Any, name: str, most_km: float) -> float:
    """A distance given in km, checked in km (the error speaks the unit the runner typed)."""
    km = _number(value, name)
    if not 0.0 <= km <= most_km:  # NaN fails too
        raise ValueError(f"{name}: {km:g} km is outside 0-{most_km:g} km")
    return km * 1000.0


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name}: {value!r} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number") from None


def _date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date like 2026-03-01") from None


_KIND_WORDS = {
    "cross_training": "cross-training",
    "pain": "pain report",
    "nutrition": "nutrition log",
}


def describe_entry(kind: str, entry: Mapping[str, Any]) -> str:
    """``"run of 2026-03-02"``, ``"shoe 'peg'"``: an entry named in words, for messages."""
    name = _KIND_WORDS.get(kind, kind)
    if not isinstance(entry, Mapping):
        return f"{name} entry"
    for key in ("date", "recorded", "start"):
        if entry.get(key) not in (None, ""):
            return f"{name} entry of {entry[key]}"
    if entry.get("id") not in (None, ""):
        return f"{name} entry {str(entry['id'])!r}"
    return f"{name} entry"


def to_event(
    kind: str, entry: Mapping[str, Any], *, file: str, row: int | str | None = None
) -> Event:
    """One journal entry -> a validated event (errors name file, row and field)."""
    if not isinstance(entry, Mapping):
        raise InputError(f"expected a mapping of fields, got {entry!r}", file=file, row=row)
    try:
        data = normalize_entry(kind, entry)
    except (ValueError, OverflowError) as exc:
        raise InputError(str(exc), file=file, row=row) from None
    try:
        return load_event(data, kind)
    except InputError as exc:
        raise exc.located(file=file, row=row) from None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"larger than {MAX_BYTES // 2**20} MB", file=str(path))
        return path.read_text("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None


#: libyaml's safe loader when PyYAML has it (about ten times faster), else the Python one.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Deepest nesting of lists and mappings a journal may have (real ones need 4).
MAX_DEPTH = 32


def _check_yaml_events(text: str, name: str) -> None:
    """Refuse aliases (``*name``: "billion laughs" expands a few lines into billions of
    entries) and nesting deeper than :data:`MAX_DEPTH`, in one linear pass over the parser's
    events and before anything is built."""
    depth = 0
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else "?"
            raise InputError(
                f"line {line}: YAML alias *{event.anchor} refused: a journal writes every entry "
                "out in full (aliases can expand a few lines into billions of entries)",
                file=name,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise InputError(
                    f"line {line}: nested more than {MAX_DEPTH} levels deep; not a journal",
                    file=name,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_document(path: Path) -> dict[str, Any]:
    """Parse a YAML/JSON journal into its mapping of sections (empty file -> empty mapping)."""
    text = _read_text(path)
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(text)
        else:
            _check_yaml_events(text, str(path))
            doc = yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (C or Python)
    except RecursionError:
        raise InputError(
            f"nested too deeply to be a journal (more than {MAX_DEPTH} levels)", file=str(path)
        ) from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
        raise InputError(
            f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}"
            + (f" (line {line})" if line else "")
            + (f": {problem}" if (problem := getattr(exc, "problem", None)) else ""),
            file=str(path),
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(
            "a journal must be a mapping of sections (runs:, pain:, ...)", file=str(path)
        )
    unknown = [k for k in doc if k not in SECTIONS and k != "stridewise"]
    if unknown:
        raise InputError(
            f"unknown section(s) {', '.join(map(str, unknown))}; expected: {', '.join(SECTIONS)}",
            file=str(path),
        )
    return doc


def read_journal(path: Path) -> Iterator[Event | Skipped]:
    """Yield the journal's events; a bad entry is skipped with its row and reason."""
    if path.suffix.lower() == ".csv":
        yield from _read_csv(path)
        return
    doc = load_document(path)
    for section, kind in SECTIONS.items():
        entries = doc.get(section) or []
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list):
            yield Skipped(str(path), f"section '{section}' must be a list of entries")
            continue
        for n, entry in enumerate(entries, start=1):
            row = f"{section}[{n}]"
            try:
                yield to_event(kind, entry, file=str(path), row=row)
            except InputError as exc:
                yield Skipped(str(path), exc.reason, row=row)


def _read_csv(path: Path) -> Iterator[Event | Skipped]:
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "kind" not in reader.fieldnames:
        raise InputError("a CSV journal needs a 'kind' column", file=str(path))
    for row in reader:
        line = reader.line_num
        kind = (row.pop("kind") or "").strip()
        if kind not in KIND_SECTION:
            yield Skipped(str(path), f"kind {kind!r} is not one of {', '.join(KIND_SECTION)}", line)
            continue
        entry = {k: _csv_value(v) for k, v in row.items() if k and v not in (None, "")}
        try:
            yield to_event(kind, entry, file=str(path), row=line)
        except InputError as exc:
            yield Skipped(str(path), exc.reason, row=line)


def _csv_value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip()


# ---------------------------------------------------------------------------------------------
# Appending (stridewise log)
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def journal_lock(path: Path) -> Iterator[None]:
    """Hold the journal's lock (``.<name>.lock`` beside it) so read-modify-writes serialise.

    Every ``stridewise log`` takes it around reading the journal, adding the entry and moving
    the new file into place; a second writer waits instead of overwriting the first one's entry.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new folder: yours only
    lock = path.with_name(f".{path.name}.lock")
    if fcntl is None:
        yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder before us removed that lock file: take the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # removed while held, so a waiter on it notices and retries
        os.close(fd)  # closing releases the lock


def append_entry(path: Path, kind: str, entry: Mapping[str, Any]) -> Event:
    """Validate ``entry`` and append it to the journal atomically; return the event.

    The new file is written beside the old one and moved into place: a failure at any point
    leaves the journal exactly as it was. Concurrent appends wait for each other
    (:func:`journal_lock`), so none is lost.
    """
    with journal_lock(path):
        return _append_locked(path, kind, entry)


def _append_locked(path: Path, kind: str, entry: Mapping[str, Any]) -> Event:
    try:
        event = to_event(kind, entry, file=str(path))
    except InputError as exc:  # say which entry was refused, not a row number it never had
        raise InputError(
            f"the new {describe_entry(kind, entry)} was not added: {exc.reason}",
            file=str(path),
            field=exc.field,
        ) from None
    section = KIND_SECTION[kind]
    stored = {k: v for k, v in normalize_entry(kind, entry).items() if k != "source" or v != SOURCE}
    if path.suffix.lower() == ".csv":
        text = _read_text(path) if path.exists() else ""
        rows = list(csv.DictReader(io.StringIO(text))) if text else []
        fields = list(dict.fromkeys(["kind", *(rows[0].keys() if rows else []), *stored]))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        writer.writerow({"kind": kind, **stored})
        new_text = out.getvalue()
    else:
        doc = load_document(path) if path.exists() else {}
        doc.setdefault("stridewise", "journal")
        existing = doc.get(section) or []
        if isinstance(existing, Mapping):
            existing = [existing]
        if any(isinstance(e, Mapping) and str(e.get("id")) == event.id for e in existing):
            raise InputError(
                f"an entry with id {event.id!r} is already in the journal", file=str(path)
            )
        doc[section] = [*existing, stored]
        if path.suffix.lower() == ".json":
            new_text = json.dumps(doc, indent=2, default=str) + "\n"
        else:
            new_text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    atomic_write(path, new_text)
    return event


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------


class JournalAdapter:
    """Adapter for journal files (YAML, JSON, CSV)."""

    name = "journal"
    description = "runner's own journal (YAML, JSON or CSV with a 'kind' column)"

    def recognise(self, path: Path) -> bool:
        if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml", ".json", ".csv"):
            return False
        try:
            with path.open("rb") as fh:
                head = fh.read(4096).decode("utf-8-sig", errors="replace")
        except OSError:
            return False
        if path.suffix.lower() == ".csv":
            first = head.splitlines()[0] if head else ""
            return "kind" in [c.strip() for c in first.split(",")]
        if "stridewise: journal" in head or '"stridewise": "journal"' in head:
            return True
        keys = re.findall(r'^"?([a-z_]+)"?\s*:', head, flags=re.MULTILINE)
        return bool(keys) and all(k in SECTIONS or k == "stridewise" for k in keys[:3])

    def read(self, path: Path) -> Iterator[Event | Skipped]:
        return read_journal(path)


ADAPTER = JournalAdapter()


@hookimpl
def stridewise_register_adapters(register: Any) -> None:
    register(ADAPTER)
