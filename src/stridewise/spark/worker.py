"""What each Spark Python worker runs: one athlete's events in, that athlete's card rows out.

Nothing here imports pyspark: the same functions serve the batch job, the streaming job and a
plain-Python check. The engine is built once per worker process (Spark reuses its Python
workers between tasks) from the clinic profile the driver shipped, and kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from stridewise.engine.cards import Card
    from stridewise.engine.runtime import Engine

#: The columns of a card row, in order (the DataFrame schema is in ``stridewise.spark``).
CARD_COLUMNS = (
    "athlete",
    "date",
    "rule",
    "pack",
    "version",
    "indicator",
    "summary",
    "card",
    "error",
)


class CardRow(NamedTuple):
    """One row of the output: a card, or (``error`` set, card columns empty) an athlete whose
    events are invalid or whose evaluation failed."""

    athlete: str | None
    date: dt.date
    rule: str | None
    pack: str | None
    version: str | None
    indicator: str | None
    summary: str | None
    card: str | None
    error: str | None


class ProfileFiles(NamedTuple):
    """A clinic profile and the files of its own packs, as text, to ship to the workers (a
    broadcast): the profile's own name, and every file relative to the profile's folder."""

    name: str
    files: Mapping[str, str]

    @classmethod
    def read(cls, path: Path | str) -> ProfileFiles:
        """Read a profile and its own packs (validated here first: a bad profile fails the job
        on the driver, before any worker starts)."""
        from stridewise.engine.packs import load_profile

        path = Path(path)
        clinic = load_profile(path)
        clinic.build_engine(_installed_packs())  # every override and rule name checked
        import yaml

        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        home = path.parent
        files = {path.name: path.read_text(encoding="utf-8")}
        for rel in doc.get("own_packs") or ():
            target = home / rel
            found = [target] if target.is_file() else sorted(target.rglob("*"))
            for f in found:
                if f.is_file():
                    files[f.relative_to(home).as_posix()] = f.read_text(encoding="utf-8")
        return cls(path.name, files)

    def fingerprint(self) -> str:
        text = json.dumps([self.name, sorted(self.files.items())])
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _installed_packs() -> list[Any]:
    import stridewise

    packs, _errors = stridewise.plugin_packs()
    return packs


def engine_for(profile: ProfileFiles | None) -> Engine:
    """This process's engine for ``profile`` (None: the installed packs as they ship), built
    on first use and kept."""
    key = profile.fingerprint() if profile is not None else ""
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _build(profile)
    return engine


def _build(profile: ProfileFiles | None) -> Engine:
    import stridewise

    if profile is None:
        return stridewise.build_engine()
    from stridewise.engine.packs import load_profile

    # The profile's files are written once per worker into a folder of their own (own_packs
    # are named relative to the profile): the executors need no shared file system.
    home = Path(tempfile.mkdtemp(prefix="stridewise-profile-"))
    for rel, text in profile.files.items():
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return load_profile(home / profile.name).build_engine(_installed_packs())


def load_athlete_events(texts: Sequence[str], *, validate: bool = False) -> list[Any]:
    """One athlete's events from their JSON texts (one event object per text, as the store
    keeps them). ``validate``: the full schema check (input from outside); otherwise the fast
    path for events validated before (a shape that does not fit is still validated and
    raises)."""
    from stridewise.engine.errors import InputError
    from stridewise.engine.events import load_event, load_stored_events

    dicts = json.loads("[" + ",".join(texts) + "]")
    for d in dicts:
        d.pop("athlete", None)  # a JSON-lines row names its athlete beside the event
    if not validate:
        return load_stored_events(dicts)
    events = []
    for n, item in enumerate(dicts):
        try:
            events.append(load_event(item))
        except InputError as exc:
            raise exc.located(row=n) from None
    return events


def _reason(exc: BaseException, texts: Sequence[str]) -> str:
    from stridewise.engine.errors import IncompleteEvaluation, InputError

    if isinstance(exc, IncompleteEvaluation):
        return f"evaluation incomplete (no cards shown for this athlete): {exc}"
    if isinstance(exc, InputError):
        if exc.row is not None and isinstance(exc.row, int) and exc.row < len(texts):
            try:
                event_id = json.loads(texts[exc.row]).get("id")
            except (ValueError, AttributeError):
                event_id = None
            if event_id:
                return f"invalid event {event_id!r}: {exc.reason}"
        return f"invalid events: {exc}"
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return f"an event is not JSON: {exc}"
    return f"evaluation failed: {type(exc).__name__}: {exc}"


def _locate(texts: Sequence[str], validate: bool) -> list[Any]:
    """Load events one at a time, so an invalid one is named by its row."""
    from stridewise.engine.errors import InputError

    events: list[Any] = []
    for n, text in enumerate(texts):
        try:
            events += load_athlete_events([text], validate=validate)
        except InputError as exc:
            raise exc.located(row=n) from None
    return events


def _row(athlete: str, card: Card) -> CardRow:
    return CardRow(
        athlete=athlete,
        date=card.date,
        rule=card.rule_id,
        pack=card.ruleset_id,
        version=card.ruleset_version,
        indicator=card.indicator,
        summary=card.summary,
        card=json.dumps(card.to_dict(), ensure_ascii=False, sort_keys=True),
        error=None,
    )


def _error(athlete: str, day: dt.date, reason: str) -> CardRow:
    return CardRow(athlete, day, None, None, None, None, None, None, reason)


def athlete_cards(
    athlete: str,
    texts: Sequence[str],
    *,
    as_of: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    profile: ProfileFiles | None = None,
    validate: bool = False,
) -> list[CardRow]:
    """Card rows for one athlete: as of one date (``as_of``) or for every day from ``start``
    to ``end`` (a timeline). An athlete whose events are invalid, or whose evaluation fails or
    is incomplete, gets one error row naming the reason instead (dated ``as_of`` or ``end``);
    nothing is raised, so the job goes on with the other athletes."""
    import stridewise

    day = as_of if as_of is not None else end
    if day is None:
        raise ValueError("athlete_cards needs as_of, or start and end")
    try:
        try:
            events = load_athlete_events(texts, validate=validate)
        except stridewise.InputError:
            events = _locate(texts, validate)  # raises again, naming the event
        engine = engine_for(profile)
        history = stridewise.History(events)
        if as_of is not None:
            return [_row(athlete, c) for c in engine.evaluate(history, as_of, athlete=athlete)]
        assert start is not None and end is not None
        return [
            _row(athlete, c)
            for _day, cards in engine.timeline(history, start, end, athlete=athlete)
            for c in cards
        ]
    except Exception as exc:  # one athlete's failure is a row, never the job's end
        return [_error(athlete, day, _reason(exc, texts))]


def crash_hook(athlete: str) -> None:
    """Fault injection for the tests of Spark's retries: when ``STRIDEWISE_SPARK_CRASH_ONCE``
    is ``ATHLETE:MARKER-FILE`` and the marker does not exist yet, the worker evaluating that
    athlete creates the marker and dies at once (as a worker killed by the OS would). Unset
    (always, outside those tests) it does nothing."""
    spec = os.environ.get("STRIDEWISE_SPARK_CRASH_ONCE")
    if not spec:
        return
    who, _, marker = spec.partition(":")
    if who != athlete or not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(17)


def rows_for_groups(
    groups: Iterable[tuple[str, Sequence[str]]], **options: Any
) -> Iterator[CardRow]:
    """:func:`athlete_cards` for each (athlete, event texts) pair."""
    for athlete, texts in groups:
        crash_hook(athlete)
        yield from athlete_cards(athlete, texts, **options)


def _arrow_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [("athlete", text), ("date", pa.date32())] + [(name, text) for name in CARD_COLUMNS[2:]]
    )


def _to_batch(rows: list[CardRow]) -> Any:
    import pyarrow as pa

    schema = _arrow_schema()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(CARD_COLUMNS)
    return pa.RecordBatch.from_arrays(
        [pa.array(list(col), type=f.type) for col, f in zip(columns, schema, strict=True)],
        schema=schema,
    )


def card_batches(batches: Iterable[Any], *, profile: Any = None, **options: Any) -> Iterator[Any]:
    """Arrow record batches of (athlete, event[, order]) rows, sorted by athlete, in; Arrow
    batches of card rows out (``mapInArrow``). An athlete's rows may span batches: they are
    gathered before its evaluation. Each input batch yields one output batch."""
    current: str | None = None
    texts: list[str] = []
    started = False
    day: dt.date = options.get("as_of") or options["end"]

    def finish() -> list[CardRow]:
        if current is None:
            return [_error_row(day)]
        crash_hook(current)
        return athlete_cards(current, texts, profile=profile, **options)

    for batch in batches:
        athletes = batch.column("athlete").to_pylist()
        events = batch.column("event").to_pylist()
        out: list[CardRow] = []
        for who, text in zip(athletes, events, strict=True):
            if started and who != current:
                out += finish()
                texts = []
            current, started = who, True
            texts.append(text)
        yield _to_batch(out)
    if started:
        yield _to_batch(finish())


def _error_row(day: dt.date) -> CardRow:
    return CardRow(None, day, None, None, None, None, None, None, "events without an athlete id")
