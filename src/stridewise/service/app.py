"""The HTTP service: athletes' events in, cards out, for many clinics (Starlette on uvicorn).

Why Starlette and not FastAPI: the event contract already exists once, as the marshmallow
schemas behind :func:`stridewise.json_schema`; FastAPI would want it a second time as pydantic
models (two definitions to keep equal, and pydantic's own error format instead of ours, which
names the event index, field and value). Starlette gives the routing, streaming and test
tooling with no second model, and the OpenAPI document is built from the published event
schema itself (:mod:`.openapi`).

Every request but ``/health``, ``/ready``, ``/openapi.json`` and CDS discovery needs a clinic's
API key; athletes are kept per clinic, so a key reaches only its own clinic's athletes (another
clinic's athlete is "not found", exactly like one that does not exist). Blocking work (the
store, fact derivation, waiting for a worker) runs in the thread pool; the rules run in worker
processes (:mod:`.pool`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from stridewise.engine.errors import (
    EngineError,
    EventValidationError,
    InputError,
    RulesetError,
    StridewiseError,
)

from .auth import hash_key, key_from_headers
from .config import ServiceConfig
from .pool import EnginePool

if TYPE_CHECKING:
    from stridewise.engine.events import Event
    from stridewise.engine.isolation import IsolatedEngine
    from stridewise.engine.runtime import Evaluation

_log = logging.getLogger("stridewise.service")

#: Athlete ids: what an app's user id or an EHR's patient id looks like, nothing more.
ATHLETE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Dates the service evaluates (the events themselves cannot be in the future).
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2100, 12, 31)
#: Card uuids remembered per clinic, so CDS feedback (which carries only the uuid) finds its
#: athlete. Older ones are forgotten: their feedback is still recorded, without the athlete.
ISSUED_CARDS = 200_000


_NO_HTML = "the HTML report is not installed here (pip install 'stridewise[html]')"

#: Athletes whose History a service process keeps between requests (the least recently used
#: is dropped first); a year of daily runs is well under 1 MB.
HISTORY_CACHE = 1_000


class _KeptHistory:
    """An athlete's History as of a store version, with the latest day of its events."""

    __slots__ = ("history", "last_day", "lock", "version")

    def __init__(self, version: int, history: Any, events: Sequence[Event]) -> None:
        self.version = version
        self.history = history
        self.last_day = max((e.day for e in events), default=dt.date.min)
        self.lock = threading.Lock()  # a History is not safe to change and read at once


class HistoryCache:
    """Recently used athletes' History objects, each with the store version it reflects.

    A request for cards reads the athlete's version first (one indexed query) and derives the
    facts from the kept History when the version still matches; an upload through this process
    adds its events to the kept History when the store says the version before the upload was
    the kept one (an upload through another process, or a deletion, makes the versions differ,
    and the events are read again). Only cards as of a day on or after every event use it: for
    an earlier day the store's events up to that day are read, as before.
    """

    def __init__(self, size: int = HISTORY_CACHE) -> None:
        self.size = size
        self._kept: collections.OrderedDict[tuple[str, str], _KeptHistory] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], version: int) -> _KeptHistory | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept.version != version:
                return None
            self._kept.move_to_end(key)
            return kept

    def keep(self, key: tuple[str, str], kept: _KeptHistory) -> None:
        with self._lock:
            self._kept[key] = kept
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def uploaded(
        self, key: tuple[str, str], before: int | None, after: int | None, events: Sequence[Event]
    ) -> None:
        """The store moved the athlete from version ``before`` to ``after`` by storing
        ``events``: bring the kept History along, or forget it when it was not at ``before``."""
        if before is not None and before == after:
            return  # nothing changed
        with self._lock:
            kept = self._kept.get(key)
        if kept is None:
            return
        with kept.lock:
            if before is None or after is None or kept.version != before:
                self.drop(key)
                return
            kept.history.add(events)
            kept.last_day = max([kept.last_day, *(e.day for e in events)])
            kept.version = after

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._kept.pop(key, None)


class ServiceError(Exception):
    """An answer other than 2xx: status, a message for people, and details for programs."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        problems: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)
        self.headers = dict(headers or {})


@dataclasses.dataclass(frozen=True, slots=True)
class Clinic:
    """Who a key belongs to: the clinic's id and its profile (``None``: installed packs)."""

    id: str
    profile: str | None


def _default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=_default, separators=(",", ":")).encode()


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(dumps(data), status, media_type="application/json", headers=dict(headers or {}))


def error_body(exc: ServiceError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": exc.message}
    if exc.problems:
        body["problems"] = exc.problems
    return body


def _shown(value: Any) -> Any:
    """A value echoed in an error: as given, unless its JSON is long (then cut, as text), or
    not valid JSON (a number too large for a float: then as text)."""
    try:
        text = json.dumps(value, default=str, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:200]
    return value if len(text) <= 200 else text[:197] + "..."


def _flatten(problem: Any) -> str:
    if isinstance(problem, Mapping):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in problem.items())
    if isinstance(problem, list | tuple):
        return " ".join(_flatten(p) for p in problem)
    return str(problem)


def validate_batch(items: Sequence[Any]) -> tuple[list[Event], list[dict[str, Any]]]:
    """Every event of a batch validated; the problems name the event index, field and value."""
    from stridewise.engine.events import load_event

    events: list[Event] = []
    problems: list[dict[str, Any]] = []
    seen: dict[str, tuple[int, Event]] = {}
    for index, item in enumerate(items):
        try:
            event = load_event(item)
        except EventValidationError as exc:
            for name, problem in sorted(exc.messages.items()):
                field = None if name == "_schema" else name
                problems.append(
                    {
                        "index": index,
                        "field": field,
                        "value": _shown(item.get(field)) if field else None,
                        "message": _flatten(problem),
                    }
                )
            continue
        except InputError as exc:
            field = exc.field
            value = item.get(field) if isinstance(item, Mapping) and field else item
            problems.append(
                {"index": index, "field": field, "value": _shown(value), "message": exc.reason}
            )
            continue
        prior = seen.get(event.id)
        if prior is not None and prior[1] != event:
            problems.append(
                {
                    "index": index,
                    "field": "id",
                    "value": event.id,
                    "message": f"event {prior[0]} of this batch has the same id with other "
                    "content: an id names one event",
                }
            )
        seen[event.id] = (index, event)
        events.append(event)
    return events, problems


def parse_date(value: str | None, name: str, *, default: dt.date | None = None) -> dt.date:
    if value is None or value == "":
        if default is None:
            raise ServiceError(422, f"query parameter {name!r} is required (a date, YYYY-MM-DD)")
        return default
    if not _DATE.match(value):
        raise ServiceError(
            422,
            f"query parameter {name!r} must be a date like 2026-03-20, got {value!r}",
            problems=[{"field": name, "value": _shown(value), "message": "not a YYYY-MM-DD date"}],
        )
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ServiceError(
            422,
            f"query parameter {name!r}: {value!r} is not a calendar date ({exc})",
            problems=[{"field": name, "value": value, "message": str(exc)}],
        ) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise ServiceError(
            422,
            f"query parameter {name!r}: {value} is outside the dates the service evaluates "
            f"({FIRST_DATE} to {LAST_DATE})",
            problems=[{"field": name, "value": value, "message": "date out of range"}],
        )
    return day


def check_athlete(athlete: str) -> str:
    if not ATHLETE_ID.match(athlete):
        raise ServiceError(
            422,
            f"athlete id {athlete[:140]!r} is not allowed: 1-128 letters, digits and . _ : @ -, "
            "starting with a letter or digit",
            problems=[{"field": "athlete", "value": _shown(athlete), "message": "bad athlete id"}],
        )
    return athlete


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Service:
    """The service's state: settings, the store, the engine pools and the issued card uuids."""

    def __init__(self, config: ServiceConfig, *, store: Any = None) -> None:
        self.config = config
        self._store = store
        self._own_store = store is None
        self.pool = EnginePool(workers=config.workers, timeout=config.evaluation_timeout_s)
        self._issued: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
        self._issued_lock = threading.Lock()
        self.histories = HistoryCache()
        self._decision_log: Any = None
        self.started = False
        self.openapi: bytes | None = None

    # -- life cycle ------------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        if self._store is None:
            raise ServiceError(503, "the service is starting: the store is not open yet")
        return self._store

    def start(self) -> None:
        """Open the store and start the default pool (blocking: run in a thread)."""
        if self._store is None:
            from stridewise.storage import open_store

            self._store = open_store(self.config.store_url)
        if self.config.decision_log:
            from stridewise.engine.packs import DecisionLog

            self._decision_log = DecisionLog(self.config.decision_log)
            _ = self._decision_log.salt  # created (or checked) now, not at the first feedback
        self.pool.engine(None)
        self.started = True

    def stop(self) -> None:
        self.started = False
        self.pool.close()
        if self._own_store and self._store is not None:
            self._store.close()
            self._store = None

    # -- clinics ---------------------------------------------------------------------------------

    def clinic(self, request: Request) -> Clinic:
        """The clinic whose key the request presents; 401 without a valid one."""
        key = key_from_headers(
            request.headers.get("authorization"), request.headers.get("x-api-key")
        )
        if key is None:
            raise ServiceError(
                401,
                "no API key: send your clinic's key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="stridewise"'},
            )
        row = self.store.clinic_for_key(hash_key(key))
        if row is None:
            raise ServiceError(
                401,
                "this API key is not known (revoked, mistyped, or for another service)",
                headers={"WWW-Authenticate": 'Bearer realm="stridewise", error="invalid_token"'},
            )
        profile = row.profile
        if isinstance(profile, Mapping):
            profile = profile.get("path")
        return Clinic(
            id=row.clinic, profile=profile if isinstance(profile, str) and profile else None
        )

    def engine(self, clinic: Clinic) -> IsolatedEngine:
        try:
            return self.pool.engine(clinic.profile)
        except (RulesetError, InputError) as exc:
            _log.error("clinic %s: profile does not load: %s", clinic.id, exc)
            raise ServiceError(
                503, f"this clinic's profile does not load on the service: {exc}"
            ) from None

    # -- athletes --------------------------------------------------------------------------------

    def put_events(self, clinic: Clinic, athlete: str, items: Sequence[Any]) -> dict[str, Any]:
        if len(items) > self.config.max_batch_events:
            raise ServiceError(
                422,
                f"a batch holds at most {self.config.max_batch_events} events; this one has "
                f"{len(items)}: send it in parts (posting is idempotent)",
                problems=[
                    {
                        "field": "events",
                        "value": len(items),
                        "message": f"more than {self.config.max_batch_events} events",
                    }
                ],
            )
        events, problems = validate_batch(items)
        if problems:
            first = problems[0]
            where = f"event {first['index']}" + (
                f", field '{first['field']}'" if first.get("field") else ""
            )
            raise ServiceError(
                422,
                f"{len(problems)} problem(s) in the batch, nothing stored; first: {where}: "
                f"{first['message']}",
                problems=problems,
            )
        result = self.store.put_events(clinic.id, athlete, events)
        self.histories.uploaded(
            (clinic.id, athlete), getattr(result, "previous_version", None), result.version, events
        )
        return {
            "added": result.added,
            "already_stored": result.already_stored,
            "updated": getattr(result, "updated", 0),
        }

    def events(self, clinic: Clinic, athlete: str, until: dt.date | None = None) -> list[Event]:
        events: list[Event] = self.store.events(clinic.id, athlete, until=until)
        if not events and (until is None or not self.store.events(clinic.id, athlete)):
            raise ServiceError(404, f"no athlete {athlete!r} in this clinic")
        return events

    def evaluate(
        self,
        engine: IsolatedEngine,
        facts: Sequence[Mapping[str, Any]],
        day: dt.date,
        clinic: Clinic,
        athlete: str,
    ) -> Evaluation:
        from stridewise.engine.isolation import WorkerCrashed

        try:
            return engine.evaluate_facts(facts, day, athlete=f"{clinic.id}/{athlete}")
        except WorkerCrashed:
            _log.exception(
                "athlete %s of clinic %s crashed the rules core twice", athlete, clinic.id
            )
            raise ServiceError(
                503,
                f"evaluating athlete {athlete!r} as of {day} crashed the rules engine twice "
                "(its worker was replaced each time); nothing was evaluated: try again",
                headers={"Retry-After": "1"},
            ) from None
        except EngineError as exc:
            raise ServiceError(503, f"evaluating athlete {athlete!r} failed: {exc}") from None

    def cards(
        self, clinic: Clinic, athlete: str, as_of: dt.date, events: Sequence[Event] | None = None
    ) -> tuple[Evaluation, dict[str, Any]]:
        from stridewise.engine.facts import History

        engine = self.engine(clinic)
        if events is None:
            facts = self._kept_facts(clinic, athlete, as_of)
        else:
            facts = History(events).facts(as_of)
        evaluation = self.evaluate(engine, facts, as_of, clinic, athlete)
        return evaluation, {
            "athlete": athlete,
            "as_of": as_of.isoformat(),
            "complete": not evaluation.failures,
            "failed_packs": list(evaluation.failed_packs),
            "cards": [c.to_dict() for c in evaluation.cards],
        }

    def _kept_facts(self, clinic: Clinic, athlete: str, as_of: dt.date) -> list[dict[str, Any]]:
        """The athlete's facts as of a day, from the kept History when it is current."""
        from stridewise.engine.facts import History

        key = (clinic.id, athlete)
        version = self.store.athlete_version(clinic.id, athlete)
        kept = self.histories.get(key, version) if version is not None else None
        if kept is None:
            events = self.events(clinic, athlete)  # 404 when there are none
            if version is None:  # stored between the two reads: read again next time
                return History([e for e in events if e.day <= as_of]).facts(as_of)
            kept = _KeptHistory(version, History(events), events)
            self.histories.keep(key, kept)
        with kept.lock:
            if as_of >= kept.last_day:  # every event is on or before the day
                facts: list[dict[str, Any]] = kept.history.facts(as_of)
                return facts
        return History(self.events(clinic, athlete, until=as_of)).facts(as_of)

    def report_html(self, clinic: Clinic, athlete: str, as_of: dt.date) -> str:
        """The athlete's HTML report (the page ``stridewise report --html`` writes), evaluated
        in the clinic's worker pool with its profile."""
        from stridewise.engine.facts import History

        try:
            from stridewise.report_html import render_report
        except ImportError as exc:
            raise ServiceError(501, f"{_NO_HTML}: {exc}") from None
        engine = self.engine(clinic)
        history = History(self.events(clinic, athlete, until=as_of))
        evaluation = self.evaluate(engine, history.facts(as_of), as_of, clinic, athlete)
        name = f"{clinic.id}/{athlete}"
        try:
            return render_report(
                history,
                as_of,
                engine,
                evaluation=evaluation,
                evaluator=engine,
                athlete=name,
                title=f"Report for {athlete}",
            )
        except ImportError as exc:  # the chart renderer, imported when first drawing
            raise ServiceError(501, f"{_NO_HTML}: {exc}") from None

    def timeline(
        self, clinic: Clinic, athlete: str, start: dt.date, end: dt.date
    ) -> Iterator[bytes]:
        """The timeline as JSON pieces: the first day is evaluated before this returns (so a
        missing athlete or a crashed worker is a proper 404/503), the rest as they are read."""
        from stridewise.engine.facts import History

        if end < start:
            raise ServiceError(422, f"'from' ({start}) is after 'to' ({end})")
        days = (end - start).days + 1
        if days > self.config.max_timeline_days:
            raise ServiceError(
                422,
                f"a timeline covers at most {self.config.max_timeline_days} days; "
                f"{start} to {end} is {days}: ask for it in parts",
            )
        engine = self.engine(clinic)
        history = History(self.events(clinic, athlete))
        steps = history.timeline(start, end)

        def day_json(day: dt.date, facts: Sequence[Mapping[str, Any]]) -> bytes:
            evaluation = self.evaluate(engine, facts, day, clinic, athlete)
            return dumps(
                {
                    "date": day.isoformat(),
                    "complete": not evaluation.failures,
                    "failed_packs": list(evaluation.failed_packs),
                    "cards": [c.to_dict() for c in evaluation.cards],
                }
            )

        first_day, first_facts = next(steps)
        first = day_json(first_day, first_facts)
        head = dumps({"athlete": athlete, "from": start.isoformat(), "to": end.isoformat()})

        def rest() -> Iterator[bytes]:
            yield head[:-1] + b',"days":[' + first
            error = None
            try:
                for day, facts in steps:
                    yield b"," + day_json(day, facts)
            except ServiceError as exc:  # the status is sent: say it in the body instead
                error = exc.message
            except Exception as exc:  # a broken stream must say why
                _log.exception("timeline of %s failed", athlete)
                error = f"internal error: {type(exc).__name__}"
            tail: dict[str, Any] = {"complete": error is None}
            if error is not None:
                tail["error"] = error
            yield b"]," + dumps(tail)[1:]

        return rest()

    def delete(self, clinic: Clinic, athlete: str) -> bool:
        self.histories.drop((clinic.id, athlete))
        deleted: bool = self.store.delete_athlete(clinic.id, athlete)
        if deleted:
            with self._issued_lock:
                for key in [
                    k for k, v in self._issued.items() if k[0] == clinic.id and v == athlete
                ]:
                    del self._issued[key]
        return deleted

    # -- CDS card uuids --------------------------------------------------------------------------

    def remember_cards(self, clinic: Clinic, athlete: str, uuids: Sequence[str]) -> None:
        with self._issued_lock:
            for u in uuids:
                self._issued[(clinic.id, u)] = athlete
                self._issued.move_to_end((clinic.id, u))
            while len(self._issued) > ISSUED_CARDS:
                self._issued.popitem(last=False)

    def athlete_of_card(self, clinic: Clinic, card: str) -> str | None:
        with self._issued_lock:
            return self._issued.get((clinic.id, card))

    def log_feedback(self, entry: Mapping[str, Any], athlete: str | None) -> None:
        log = self._decision_log
        if log is None:
            return
        import uuid

        log.append(
            {
                "decision_id": str(uuid.uuid4()),
                "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "feedback": dict(entry),
                "athlete": log.hash_athlete(athlete) if athlete else None,
            }
        )


# -- request helpers ----------------------------------------------------------------------------


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON: 413 past ``limit`` bytes (checked while reading), 400 if not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ServiceError(
            413, f"the request body is {declared} bytes; this service takes at most {limit}"
        )
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(
                413, f"the request body is over {limit} bytes, the most this service takes"
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError(400, f"the request body is not JSON: {exc}") from None
    except RecursionError:
        raise ServiceError(400, "the request body is nested too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _athlete(request: Request) -> str:
    return check_athlete(str(request.path_params["athlete"]))


# -- endpoints ----------------------------------------------------------------------------------


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    service = _service(request)

    def check() -> dict[str, Any]:
        if not service.started:
            raise ServiceError(503, "starting: the store and the workers are not ready yet")
        try:
            service.store.clinic_for_key("0" * 64)
        except Exception as exc:  # any store failure: not ready
            raise ServiceError(
                503, f"the store does not answer: {type(exc).__name__}: {exc}"
            ) from None
        workers = service.pool.worker_count()
        if workers < 1:
            raise ServiceError(503, "no evaluation worker is running")
        return {"status": "ready", "workers": workers}

    return json_response(await run_in_threadpool(check))


async def post_events(request: Request) -> Response:
    service = _service(request)
    athlete = _athlete(request)
    body = await read_json(request, service.config.max_request_bytes)
    if (
        not isinstance(body, dict)
        or set(body) != {"events"}
        or not isinstance(body["events"], list)
    ):
        raise ServiceError(
            422,
            'the body must be {"events": [...]}: a list of events in the published event schema',
            problems=[
                {
                    "field": "events",
                    "value": None,
                    "message": "expected an object with one key, events (a list)",
                }
            ],
        )

    def work() -> dict[str, Any]:
        clinic = service.clinic(request)
        return service.put_events(clinic, athlete, body["events"])

    return json_response(await run_in_threadpool(work))


async def get_cards(request: Request) -> Response:
    service = _service(request)
    athlete = _athlete(request)
    as_of = parse_date(request.query_params.get("as_of"), "as_of", default=_today())

    def work() -> dict[str, Any]:
        clinic = service.clinic(request)
        return service.cards(clinic, athlete, as_of)[1]

    return json_response(await run_in_threadpool(work))


async def get_report(request: Request) -> Response:
    service = _service(request)
    athlete = _athlete(request)
    as_of = parse_date(request.query_params.get("as_of"), "as_of", default=_today())

    def work() -> str:
        clinic = service.clinic(request)
        return service.report_html(clinic, athlete, as_of)

    page = await run_in_threadpool(work)
    return Response(page.encode("utf-8"), media_type="text/html; charset=utf-8")


async def get_timeline(request: Request) -> Response:
    service = _service(request)
    athlete = _athlete(request)
    start = parse_date(request.query_params.get("from"), "from")
    end = parse_date(request.query_params.get("to"), "to")

    def work() -> Iterator[bytes]:
        clinic = service.clinic(request)
        return service.timeline(clinic, athlete, start, end)

    pieces = await run_in_threadpool(work)
    return StreamingResponse(pieces, media_type="application/json")


async def delete_athlete(request: Request) -> Response:
    service = _service(request)
    athlete = _athlete(request)

    def work() -> bool:
        return service.delete(service.clinic(request), athlete)

    if not await run_in_threadpool(work):
        raise ServiceError(404, f"no athlete {athlete!r} in this clinic")
    return Response(status_code=204)


async def openapi(request: Request) -> Response:
    service = _service(request)
    if service.openapi is None:
        from .openapi import build_openapi

        service.openapi = dumps(build_openapi(service.config))
    return Response(service.openapi, media_type="application/json")


# -- errors -------------------------------------------------------------------------------------


async def on_service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if request.url.path.startswith("/cds-services"):
        from .cds import operation_outcome

        return json_response(operation_outcome(exc), exc.status, exc.headers)
    return json_response(error_body(exc), exc.status, exc.headers)


async def on_stridewise_error(request: Request, exc: Exception) -> Response:
    return await on_service_error(request, ServiceError(422, str(exc)))


async def on_http_error(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    message = {404: "no such endpoint", 405: "method not allowed here"}.get(
        exc.status_code, str(exc.detail)
    )
    return await on_service_error(
        request, ServiceError(exc.status_code, message, headers=exc.headers)
    )


async def on_internal_error(request: Request, exc: Exception) -> Response:
    _log.exception("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_response(
        {"error": f"internal error ({type(exc).__name__}); see the service log"}, 500
    )


# -- the app ------------------------------------------------------------------------------------


def app_from_environment() -> Starlette:
    """The app for one of several server processes: settings from ``STRIDEWISE_SERVICE_*``."""
    from .config import load_config

    return create_app(load_config())


def create_app(config: ServiceConfig | None = None, *, store: Any = None) -> Starlette:
    """The ASGI app. ``store`` (anything with the :mod:`stridewise.storage` interface) is opened
    from ``config.store`` when not given; workers start when the app starts."""
    from starlette.exceptions import HTTPException

    from . import cds

    service = Service(config or ServiceConfig(), store=store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/athletes/{athlete}/events", post_events, methods=["POST"]),
        Route("/athletes/{athlete}/cards", get_cards, methods=["GET"]),
        Route("/athletes/{athlete}/report.html", get_report, methods=["GET"]),
        Route("/athletes/{athlete}/timeline", get_timeline, methods=["GET"]),
        Route("/athletes/{athlete}", delete_athlete, methods=["DELETE"]),
        *cds.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ServiceError: on_service_error,
            StridewiseError: on_stridewise_error,
            HTTPException: on_http_error,
            Exception: on_internal_error,
        },
    )
    app.state.service = service
    return app
