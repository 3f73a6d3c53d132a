"""The service's OpenAPI 3.1 document, built from the published event schema.

``src/stridewise/service/openapi.json`` is this document with the default settings, committed
so that app developers can read it without running the service; a test keeps it equal to what
:func:`build_openapi` makes (regenerate it with ``python -m stridewise.service.openapi``). The
running service serves its own at ``/openapi.json`` (with its configured limits).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import ServiceConfig

COMMITTED = Path(__file__).with_name("openapi.json")

_STRING = {"type": "string"}
_DATE = {"type": "string", "format": "date"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": _json(_ref(schema))}


def _rebase(node: Any) -> Any:
    """``#/$defs/X`` references of the event schema as OpenAPI component references."""
    from stridewise.engine.events import retarget_refs

    return retarget_refs(node, "#/$defs/", "#/components/schemas/")


def _schemas(config: ServiceConfig) -> dict[str, Any]:
    from stridewise.engine.events import json_schema

    from .app import ATHLETE_ID

    events = json_schema()
    schemas: dict[str, Any] = {name: _rebase(body) for name, body in events["$defs"].items()}
    schemas["Event"] = {
        "description": events["description"],
        "oneOf": [_rebase(r) for r in events["oneOf"]],
    }
    source = {
        "type": "object",
        "required": ["label"],
        "properties": {"label": _STRING, "url": _STRING},
    }
    schemas["Card"] = {
        "type": "object",
        "description": "One recommendation: the CDS Hooks card fields, then which rule fired, "
        "on which facts and parameter values, for which date.",
        "required": [
            "uuid",
            "summary",
            "indicator",
            "detail",
            "source",
            "rule_id",
            "ruleset_id",
            "ruleset_version",
            "category",
            "kind",
            "date",
            "facts",
            "parameters",
            "sources",
            "advice",
        ],
        "properties": {
            "uuid": _STRING,
            "summary": {"type": "string", "maxLength": 140},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "detail": {"type": "string", "description": "Markdown"},
            "source": source,
            "rule_id": _STRING,
            "ruleset_id": _STRING,
            "ruleset_version": _STRING,
            "category": _STRING,
            "kind": _STRING,
            "date": _DATE,
            "facts": {"type": "array", "items": {"type": "object"}},
            "parameters": {"type": "object"},
            "sources": {"type": "array", "items": source},
            "advice": _STRING,
            "topic": _STRING,
            "merged": {"type": "array", "items": _STRING},
            "suppressed_by": _STRING,
            "suppression": _STRING,
        },
    }
    schemas["EventBatch"] = {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "maxItems": config.max_batch_events,
                "items": _ref("Event"),
            }
        },
    }
    schemas["PutResult"] = {
        "type": "object",
        "required": ["added", "already_stored", "updated"],
        "properties": {
            "added": {"type": "integer", "minimum": 0, "description": "new event ids"},
            "already_stored": {
                "type": "integer",
                "minimum": 0,
                "description": "ids stored before with the same content (nothing written)",
            },
            "updated": {
                "type": "integer",
                "minimum": 0,
                "description": "ids stored before with other content, now replaced",
            },
        },
    }
    day_cards = {
        "complete": {
            "type": "boolean",
            "description": "false when a rule pack failed: its findings are missing, so fewer "
            "cards must not be read as all clear",
        },
        "failed_packs": {"type": "array", "items": _STRING},
        "cards": {"type": "array", "items": _ref("Card")},
    }
    schemas["Cards"] = {
        "type": "object",
        "required": ["athlete", "as_of", "complete", "failed_packs", "cards"],
        "properties": {"athlete": _STRING, "as_of": _DATE, **day_cards},
    }
    schemas["Timeline"] = {
        "type": "object",
        "description": "Streamed as it is evaluated; if evaluation fails part-way, the days so "
        "far are followed by complete: false and the error.",
        "required": ["athlete", "from", "to", "days", "complete"],
        "properties": {
            "athlete": _STRING,
            "from": _DATE,
            "to": _DATE,
            "days": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["date", "complete", "failed_packs", "cards"],
                    "properties": {"date": _DATE, **day_cards},
                },
            },
            "complete": {"type": "boolean"},
            "error": _STRING,
        },
    }
    schemas["Problem"] = {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "index": {"type": "integer", "description": "the event's place in the batch (0-based)"},
            "field": {"type": ["string", "null"]},
            "value": {"description": "the value given (long values are cut)"},
            "message": _STRING,
        },
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": _STRING,
            "problems": {"type": "array", "items": _ref("Problem")},
        },
    }
    schemas["Health"] = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": _STRING, "workers": {"type": "integer"}},
    }
    # -- CDS Hooks 2.0 --------------------------------------------------------------------------
    coding = {
        "type": "object",
        "required": ["code", "system"],
        "properties": {"code": _STRING, "system": _STRING, "display": _STRING},
    }
    schemas["Coding"] = coding
    schemas["CdsServices"] = {
        "type": "object",
        "required": ["services"],
        "properties": {
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hook", "description", "id"],
                    "properties": {
                        "hook": _STRING,
                        "title": _STRING,
                        "description": _STRING,
                        "id": _STRING,
                        "prefetch": {"type": "object", "additionalProperties": _STRING},
                        "usageRequirements": _STRING,
                        "version": _STRING,
                    },
                },
            }
        },
    }
    schemas["CdsRequest"] = {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"const": "patient-view"},
            "hookInstance": {"type": "string", "minLength": 1},
            "fhirServer": _STRING,
            "fhirAuthorization": {"type": "object"},
            "context": {
                "type": "object",
                "required": ["patientId"],
                "properties": {
                    "patientId": {"type": "string", "pattern": ATHLETE_ID.pattern},
                    "userId": _STRING,
                    "encounterId": _STRING,
                },
            },
            "prefetch": {
                "type": "object",
                "properties": {
                    "stridewiseEvents": {
                        "type": "array",
                        "maxItems": config.max_batch_events,
                        "items": _ref("Event"),
                    }
                },
            },
            "extension": {
                "type": "object",
                "properties": {"org.stridewise.as_of": _DATE},
            },
        },
    }
    schemas["CdsCard"] = {
        "type": "object",
        "required": ["summary", "indicator", "source"],
        "properties": {
            "uuid": _STRING,
            "summary": {"type": "string", "maxLength": 140},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "detail": _STRING,
            "source": source,
            "overrideReasons": {"type": "array", "items": coding},
            "extension": {
                "type": "object",
                "properties": {"org.stridewise": {"type": "object"}},
            },
        },
    }
    schemas["CdsResponse"] = {
        "type": "object",
        "required": ["cards"],
        "properties": {"cards": {"type": "array", "items": _ref("CdsCard")}},
    }
    schemas["CdsFeedback"] = {
        "type": "object",
        "required": ["feedback"],
        "properties": {
            "feedback": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["card", "outcome", "outcomeTimestamp"],
                    "properties": {
                        "card": {"type": "string", "minLength": 1},
                        "outcome": {"enum": ["accepted", "overridden"]},
                        "acceptedSuggestions": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"id": _STRING}},
                        },
                        "overrideReason": {
                            "type": "object",
                            "properties": {"reason": coding, "userComment": _STRING},
                        },
                        "outcomeTimestamp": {"type": "string", "format": "date-time"},
                    },
                },
            }
        },
    }
    schemas["FeedbackResult"] = {
        "type": "object",
        "required": ["recorded"],
        "properties": {"recorded": {"type": "integer", "minimum": 1}},
    }
    schemas["OperationOutcome"] = {
        "type": "object",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": _STRING,
                        "code": _STRING,
                        "details": {"type": "object", "properties": {"text": _STRING}},
                        "expression": {"type": "array", "items": _STRING},
                    },
                },
            },
        },
    }
    return schemas


def build_openapi(config: ServiceConfig | None = None) -> dict[str, Any]:
    """The OpenAPI document for a service with ``config`` (default settings when not given)."""
    import stridewise

    from .app import ATHLETE_ID

    config = config or ServiceConfig()
    athlete = {
        "name": "athlete",
        "in": "path",
        "required": True,
        "description": "The athlete's id in your app (unique within your clinic).",
        "schema": {"type": "string", "pattern": ATHLETE_ID.pattern, "maxLength": 128},
    }
    service_id = {
        "name": "service_id",
        "in": "path",
        "required": True,
        "schema": _STRING,
    }
    auth_errors = {
        "401": _error("No API key, or an unknown one."),
        "422": _error("A parameter is not valid (the message says which and why)."),
    }
    open_: dict[str, Any] = {"security": []}
    limits = (
        f"Bodies over {config.max_request_bytes} bytes get 413; batches over "
        f"{config.max_batch_events} events get 422."
    )
    cds_errors = {
        "400": _error("The body is not JSON.", "OperationOutcome"),
        "401": _error("No API key, or an unknown one.", "OperationOutcome"),
        "404": _error("No such CDS service.", "OperationOutcome"),
        "413": _error("The body is too large.", "OperationOutcome"),
        "422": _error("The hook request is not valid.", "OperationOutcome"),
    }
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Liveness: the process answers.",
                "operationId": "health",
                **open_,
                "responses": {"200": {"description": "Up.", "content": _json(_ref("Health"))}},
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness: the store answers and evaluation workers run.",
                "operationId": "ready",
                **open_,
                "responses": {
                    "200": {"description": "Ready.", "content": _json(_ref("Health"))},
                    "503": _error("Not ready (starting, store down, no worker)."),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "operationId": "openapi",
                **open_,
                "responses": {"200": {"description": "OpenAPI 3.1.", "content": _json({})}},
            }
        },
        "/athletes/{athlete}/events": {
            "post": {
                "summary": "Store a batch of the athlete's events (idempotent by event id).",
                "description": "Every event is validated; if any is not valid, nothing of the "
                "batch is stored and the problems name each event's index, field and value. "
                "Posting the same batch again stores nothing new. " + limits,
                "operationId": "postEvents",
                "parameters": [athlete],
                "requestBody": {"required": True, "content": _json(_ref("EventBatch"))},
                "responses": {
                    "200": {"description": "Stored.", "content": _json(_ref("PutResult"))},
                    "400": _error("The body is not JSON."),
                    **auth_errors,
                    "413": _error("The body is too large."),
                    "422": _error("Events not valid (nothing stored), or too many."),
                },
            }
        },
        "/athletes/{athlete}/cards": {
            "get": {
                "summary": "The athlete's cards as of a date.",
                "operationId": "getCards",
                "parameters": [
                    athlete,
                    {
                        "name": "as_of",
                        "in": "query",
                        "required": False,
                        "description": "Cards as of the end of this day (default: today, UTC).",
                        "schema": _DATE,
                    },
                ],
                "responses": {
                    "200": {"description": "The cards.", "content": _json(_ref("Cards"))},
                    **auth_errors,
                    "404": _error("No such athlete in your clinic."),
                    "503": _error("Evaluation crashed its worker twice (named athlete)."),
                },
            }
        },
        "/athletes/{athlete}/report.html": {
            "get": {
                "summary": "The athlete's HTML report as of a date (one self-contained page).",
                "operationId": "getReport",
                "parameters": [
                    athlete,
                    {
                        "name": "as_of",
                        "in": "query",
                        "required": False,
                        "description": "Report as of the end of this day (default: today, UTC).",
                        "schema": _DATE,
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The page: findings first, charts as inline SVG, no "
                        "script, nothing loaded from the network.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    **auth_errors,
                    "404": _error("No such athlete in your clinic."),
                    "501": _error("The HTML report is not installed (stridewise[html])."),
                    "503": _error("Evaluation crashed its worker twice (named athlete)."),
                },
            }
        },
        "/athletes/{athlete}/timeline": {
            "get": {
                "summary": "The athlete's cards for every day of a range (streamed).",
                "operationId": "getTimeline",
                "parameters": [
                    athlete,
                    {"name": "from", "in": "query", "required": True, "schema": _DATE},
                    {"name": "to", "in": "query", "required": True, "schema": _DATE},
                ],
                "responses": {
                    "200": {"description": "The days.", "content": _json(_ref("Timeline"))},
                    **auth_errors,
                    "404": _error("No such athlete in your clinic."),
                    "503": _error("Evaluation crashed its worker twice (named athlete)."),
                },
            }
        },
        "/athletes/{athlete}": {
            "delete": {
                "summary": "Erase the athlete: events and feedback (a right users have).",
                "operationId": "deleteAthlete",
                "parameters": [athlete],
                "responses": {
                    "204": {"description": "Erased."},
                    **auth_errors,
                    "404": _error("No such athlete in your clinic."),
                },
            }
        },
        "/cds-services": {
            "get": {
                "summary": "CDS Hooks discovery.",
                "operationId": "cdsDiscovery",
                **open_,
                "responses": {
                    "200": {"description": "The services.", "content": _json(_ref("CdsServices"))}
                },
            }
        },
        "/cds-services/{service_id}": {
            "post": {
                "summary": "CDS Hooks service call (patient-view): the athlete's cards.",
                "operationId": "cdsCall",
                "parameters": [service_id],
                "requestBody": {"required": True, "content": _json(_ref("CdsRequest"))},
                "responses": {
                    "200": {"description": "Cards.", "content": _json(_ref("CdsResponse"))},
                    **cds_errors,
                    "412": _error("No events for this patient.", "OperationOutcome"),
                    "503": _error("Evaluation crashed its worker twice.", "OperationOutcome"),
                },
            }
        },
        "/cds-services/{service_id}/feedback": {
            "post": {
                "summary": "CDS Hooks feedback: accepted / overridden (with reason), recorded.",
                "operationId": "cdsFeedback",
                "parameters": [service_id],
                "requestBody": {"required": True, "content": _json(_ref("CdsFeedback"))},
                "responses": {
                    "200": {
                        "description": "Recorded.",
                        "content": _json(_ref("FeedbackResult")),
                    },
                    **cds_errors,
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stridewise service",
            "version": stridewise.__version__,
            "description": "Sourced recommendations that keep runners clear of bone stress "
            "injuries, for apps and EHRs (CDS Hooks 2.0). Decision support, not a diagnosis. "
            "Send your clinic's API key as 'Authorization: Bearer <key>'.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(config),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the committed document (``python -m stridewise.service.openapi``)."""
    COMMITTED.write_text(render(build_openapi()), encoding="utf-8")
    print(f"wrote {COMMITTED}")


if __name__ == "__main__":
    main()
