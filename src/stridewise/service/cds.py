"""CDS Hooks 2.0: discovery, the service endpoint and the feedback endpoint.

- ``GET /cds-services`` lists one service, ``stridewise-bone-stress``, on the ``patient-view``
  hook.
- ``POST /cds-services/stridewise-bone-stress`` takes the hook request. The athlete is
  ``context.patientId``, within the calling clinic (the API key). Its events are the ones
  stored for that athlete (``POST /athletes/{id}/events``) plus any the EHR sends in the
  prefetch key ``stridewiseEvents`` (a list of events in the published event schema; an event
  sent there replaces a stored one with the same id, and nothing sent is stored). The date is
  today (UTC), or the request extension ``org.stridewise.as_of``. The answer is
  ``{"cards": [...]}``: each card has the CDS Hooks fields (uuid, summary, indicator, detail,
  source, overrideReasons) and stridewise's own fields under ``extension`` ->
  ``org.stridewise``. No events at all is 412 (the specification's "cannot get the data").
- ``POST /cds-services/stridewise-bone-stress/feedback`` records each feedback item (accepted,
  or overridden with its reason and comment) in the store's decision log, with the athlete the
  card was issued for when the service still remembers it.

Errors on these endpoints come as a FHIR OperationOutcome, as the specification recommends.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .app import Clinic, ServiceError, _service, check_athlete, json_response, parse_date, read_json

if TYPE_CHECKING:
    from stridewise.engine.cards import Card

SERVICE_ID = "stridewise-bone-stress"
HOOK = "patient-view"
PREFETCH_KEY = "stridewiseEvents"
AS_OF_EXTENSION = "org.stridewise.as_of"
CARD_EXTENSION = "org.stridewise"
OVERRIDE_SYSTEM = "https://stridewise.invalid/cds/override-reason"
#: Reasons a clinician can give for setting a card aside (CDS Hooks overrideReasons).
OVERRIDE_REASONS = (
    {"code": "already-addressed", "system": OVERRIDE_SYSTEM, "display": "Already addressed"},
    {"code": "data-wrong", "system": OVERRIDE_SYSTEM, "display": "The training data is wrong"},
    {"code": "clinical-judgement", "system": OVERRIDE_SYSTEM, "display": "Clinical judgement"},
    {"code": "patient-declined", "system": OVERRIDE_SYSTEM, "display": "Patient declined"},
)
#: The athlete feedback is recorded under when its card was not issued by this service (or so
#: long ago that the service no longer remembers whom for). Not a valid athlete id, so it can
#: never be a real athlete.
UNMATCHED = "(card not matched)"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def discovery() -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": HOOK,
                "id": SERVICE_ID,
                "title": "stridewise: bone stress injury risk in runners",
                "description": (
                    "Sourced recommendations from the runner's training, pain reports, shoes "
                    "and nutrition: load spikes, missing rest, worn shoes, low energy, and red "
                    "flags that need a physician. Cards name their source."
                ),
                "usageRequirements": (
                    "Call with the clinic's API key as the bearer token. The athlete is "
                    "context.patientId; their events are read from this service's store and "
                    f"from the prefetch key '{PREFETCH_KEY}' (events in the stridewise event "
                    "schema, see /openapi.json), as agreed with the CDS client."
                ),
                "version": "STU2",
            }
        ]
    }


def operation_outcome(exc: ServiceError) -> dict[str, Any]:
    """A non-2xx answer as a FHIR OperationOutcome (CDS Hooks 2.0 recommends one)."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": {
            400: "structure",
            401: "login",
            404: "not-found",
            412: "not-found",
            413: "too-costly",
            422: "invalid",
            503: "transient",
        }.get(exc.status, "processing"),
        "details": {"text": exc.message},
    }
    expressions = [
        f"{p['index']}.{p['field']}" if "index" in p and p.get("field") else str(p.get("field"))
        for p in exc.problems
        if p.get("field") is not None
    ]
    if expressions:
        issue["expression"] = expressions[:20]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def cds_card(card: Card) -> dict[str, Any]:
    """A stridewise card as a CDS Hooks card: the specification's fields, ours in extension.

    Empty values are left out (CDS Hooks: an optional attribute without a value is omitted).
    """
    data = card.to_dict()
    source: dict[str, Any] = {"label": data["source"]["label"]}
    if data["source"].get("url"):
        source["url"] = data["source"]["url"]
    ours = {
        k: v
        for k, v in data.items()
        if k not in ("uuid", "summary", "indicator", "detail", "source")
        and v not in (None, [], {}, "")
    }
    out: dict[str, Any] = {
        "uuid": data["uuid"],
        "summary": data["summary"],
        "indicator": data["indicator"],
        "source": source,
        "overrideReasons": [dict(r) for r in OVERRIDE_REASONS],
        "extension": {CARD_EXTENSION: ours},
    }
    if data["detail"]:
        out["detail"] = data["detail"]
    return out


def _bad(message: str, field: str, value: Any = None) -> ServiceError:
    return ServiceError(
        422, message, problems=[{"field": field, "value": value, "message": message}]
    )


def _check_request(body: Any) -> tuple[str, dt.date | None, list[Any] | None]:
    """(patient id, as_of or None, prefetched event dicts or None) from a hook request."""
    if not isinstance(body, dict):
        raise _bad("a CDS Hooks request is a JSON object", "body")
    for name in ("hook", "hookInstance"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise _bad(f"'{name}' is required (a non-empty string)", name, body.get(name))
    if body["hook"] != HOOK:
        raise _bad(
            f"this service answers the {HOOK!r} hook, not {body['hook']!r}", "hook", body["hook"]
        )
    context = body.get("context")
    if not isinstance(context, dict):
        raise _bad("'context' is required (an object)", "context")
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient:
        raise _bad(
            "'context.patientId' is required: it names the athlete", "context.patientId", patient
        )
    check_athlete(patient)
    as_of = None
    extension = body.get("extension")
    if isinstance(extension, dict) and AS_OF_EXTENSION in extension:
        raw = extension[AS_OF_EXTENSION]
        as_of = parse_date(
            raw if isinstance(raw, str) else repr(raw), f"extension.{AS_OF_EXTENSION}"
        )
    prefetch = body.get("prefetch")
    events = None
    if isinstance(prefetch, dict) and prefetch.get(PREFETCH_KEY) is not None:
        events = prefetch[PREFETCH_KEY]
        if not isinstance(events, list):
            raise _bad(
                f"prefetch '{PREFETCH_KEY}' must be a list of events", f"prefetch.{PREFETCH_KEY}"
            )
    return patient, as_of, events


async def discover(request: Request) -> Response:
    return json_response(discovery())


async def call_service(request: Request) -> Response:
    service = _service(request)
    if request.path_params["service_id"] != SERVICE_ID:
        raise ServiceError(
            404, f"no CDS service {request.path_params['service_id']!r} here (see /cds-services)"
        )
    body = await read_json(request, service.config.max_request_bytes)
    patient, as_of, sent = _check_request(body)

    def work() -> dict[str, Any]:
        clinic = service.clinic(request)
        events = service.store.events(clinic.id, patient)
        if sent is not None:
            from .app import validate_batch

            if len(sent) > service.config.max_batch_events:
                raise _bad(
                    f"prefetch '{PREFETCH_KEY}' holds {len(sent)} events; at most "
                    f"{service.config.max_batch_events}",
                    f"prefetch.{PREFETCH_KEY}",
                )
            extra, problems = validate_batch(sent)
            if problems:
                raise ServiceError(
                    422,
                    f"{len(problems)} problem(s) in prefetch '{PREFETCH_KEY}'; first: event "
                    f"{problems[0]['index']}: {problems[0]['message']}",
                    problems=problems,
                )
            by_id = {e.id: e for e in events}
            by_id.update((e.id, e) for e in extra)
            events = list(by_id.values())
        if not events:
            raise ServiceError(
                412,
                f"no events for patient {patient!r}: store them with POST /athletes/{patient}/"
                f"events or send them in the prefetch key '{PREFETCH_KEY}'",
            )
        day = as_of or dt.datetime.now(dt.UTC).date()
        evaluation, _ = service.cards(clinic, patient, day, events)
        cards = [cds_card(c) for c in evaluation.cards]
        if evaluation.failures:
            cards.insert(0, _incomplete_card(evaluation.failed_packs))
        service.remember_cards(clinic, patient, [c["uuid"] for c in cards if "uuid" in c])
        return {"cards": cards}

    return json_response(await run_in_threadpool(work))


def _incomplete_card(packs: tuple[str, ...]) -> dict[str, Any]:
    return {
        "summary": "Some advice is missing: part of the rules failed on this record",
        "indicator": "warning",
        "detail": (
            f"The rule packs {', '.join(packs)} failed while evaluating this athlete, so their "
            "findings are missing below. Fewer cards here does not mean all is well; if in "
            "doubt, see a physician."
        ),
        "source": {"label": "stridewise service"},
    }


def _check_feedback(body: Any) -> list[dict[str, Any]]:
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("feedback"), list)
        or not body["feedback"]
    ):
        raise _bad('feedback is {"feedback": [ ... ]} with at least one item', "feedback")
    items: list[dict[str, Any]] = body["feedback"]
    for i, item in enumerate(items):
        where = f"feedback.{i}"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object", where)
        if not isinstance(item.get("card"), str) or not item["card"]:
            raise _bad(
                f"{where}.card is required (the card's uuid)", f"{where}.card", item.get("card")
            )
        if item.get("outcome") not in ("accepted", "overridden"):
            raise _bad(
                f"{where}.outcome must be 'accepted' or 'overridden'",
                f"{where}.outcome",
                item.get("outcome"),
            )
        stamp = item.get("outcomeTimestamp")
        if not isinstance(stamp, str) or not _TIMESTAMP.match(stamp):
            raise _bad(
                f"{where}.outcomeTimestamp is required: an RFC 3339 time like 2021-12-11T10:05:31Z",
                f"{where}.outcomeTimestamp",
                stamp,
            )
        try:
            _parse_time(stamp)
        except ValueError as exc:
            raise _bad(
                f"{where}.outcomeTimestamp: {exc}", f"{where}.outcomeTimestamp", stamp
            ) from None
        reason = item.get("overrideReason")
        if reason is not None and not isinstance(reason, dict):
            raise _bad(f"{where}.overrideReason must be an object", f"{where}.overrideReason")
    return items


def _parse_time(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def feedback(request: Request) -> Response:
    service = _service(request)
    service_id = request.path_params["service_id"]
    if service_id != SERVICE_ID:
        raise ServiceError(404, f"no CDS service {service_id!r} here (see /cds-services)")
    body = await read_json(request, service.config.max_request_bytes)
    items = _check_feedback(body)

    def work() -> dict[str, Any]:
        clinic: Clinic = service.clinic(request)
        for item in items:
            athlete = service.athlete_of_card(clinic, item["card"])
            reason = item.get("overrideReason")
            at = _parse_time(item["outcomeTimestamp"])  # checked above
            service.store.record_feedback(
                clinic.id,
                athlete or UNMATCHED,
                service_id,
                item["card"],
                item["outcome"],
                _reason_text(reason) if isinstance(reason, Mapping) else None,
                at,
            )
            service.log_feedback({**item, "clinic": clinic.id, "service": service_id}, athlete)
        return {"recorded": len(items)}

    return json_response(await run_in_threadpool(work))


def _reason_text(reason: Mapping[str, Any]) -> str:
    """The override reason as the store keeps it: JSON of the coding and the comment."""
    import json

    return json.dumps(dict(reason), ensure_ascii=False, sort_keys=True, default=str)


def routes() -> list[Route]:
    return [
        Route("/cds-services", discover, methods=["GET"]),
        Route("/cds-services/{service_id}", call_service, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
    ]
