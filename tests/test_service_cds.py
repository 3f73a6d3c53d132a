"""CDS Hooks 2.0 against the specification's own published examples, over real HTTP.

The JSON examples below are copied from the HL7 CDS Hooks specification
(https://github.com/HL7/cds-hooks, input/pagecontent/index.md: "Calling a CDS Service",
"Feedback"; licensed CC BY 4.0). Each is sent as published; where the example names a patient,
that patient's events are stored first under the same id.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from service_server import END, Server, start_server, year_of_training

pytestmark = pytest.mark.slow  # a server and its worker processes

SPEC_REQUEST: dict[str, Any] = {
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "http://hooks.smarthealthit.org:9080",
    "hook": "patient-view",
    "fhirAuthorization": {
        "access_token": "some-opaque-fhir-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Patient.read user/Observation.read",
        "subject": "cds-service4",
    },
    "context": {"userId": "Practitioner/example", "patientId": "1288992", "encounterId": "89284"},
    "prefetch": {
        "patientToGreet": {
            "resourceType": "Patient",
            "gender": "male",
            "birthDate": "1925-12-23",
            "id": "1288992",
            "active": True,
        }
    },
}

SPEC_EXTENSION_REQUEST: dict[str, Any] = {
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "fhirServer": "http://fhir.example.org:9080",
    "hook": "patient-view",
    "context": {"userId": "Practitioner/example"},
    "extension": {
        "com.example.timestamp": "2017-11-27T22:13:25Z",
        "com.cds-hooks.sandbox.myextension-practitionerspecialty": "gastroenterology",
    },
}

SPEC_FEEDBACK_ACCEPTED: dict[str, Any] = {
    "feedback": [
        {
            "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
            "outcomeTimestamp": "2021-12-11T10:05:31Z",
        }
    ]
}

SPEC_FEEDBACK_OVERRIDDEN: dict[str, Any] = {
    "feedback": [
        {
            "card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb",
            "outcome": "overridden",
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        }
    ]
}

SPEC_FEEDBACK_WITH_REASON: dict[str, Any] = {
    "feedback": [
        {
            "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {
                    "code": "d7ecf885",
                    "system": "https://example.com/cds-hooks/override-reason-system",
                },
                "userComment": "A comment entered by the clinician.",
            },
            "outcomeTimestamp": "2020-12-11T00:00:00Z",
        }
    ]
}

SERVICE = "/cds-services/stridewise-bone-stress"

#: A clinic's own pack whose rule raises during an evaluation (a word compared with a number;
#: the same pack as tests/test_cli_pack_failure.py).
BROKEN_PACK = """\
ruleset: {id: third-party, version: 1.0.0, title: Third party, status: draft}
sources: {src: {label: "A source for tests"}}
rules:
  - id: word-level
    when: [{fact: pain, where: {at_night: true}}]
    then: {derive: {fact: level, fields: {value: high}}}
  - id: number-level
    when: [{fact: pain, where: {at_night: false}}]
    then: {derive: {fact: level, fields: {value: 3}}}
  - id: pain-above-level
    when:
      - fact: level
      - fact: pain
        where: {severity: {gte: {ref: level.value}}}
    then:
      card: {indicator: info, advice: inform, summary: Pain above the level.,
             detail: Detail text., source: src}
"""
NIGHT_PAIN = [
    {
        "kind": "run",
        "id": "r1",
        "source": "app",
        "start": "2026-03-28T07:00:00+00:00",
        "distance_m": 8000,
        "moving_time_s": 2640,
    },
    {
        "kind": "pain",
        "id": "p1",
        "source": "app",
        "date": "2026-03-30",
        "site": "shin",
        "severity": 8,
        "at_night": True,
    },
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("cds")
    (folder / "third.yaml").write_text(BROKEN_PACK)
    profile = folder / "thirdparty.yaml"
    profile.write_text("clinic: {id: thirdparty, name: Third}\nown_packs: [third.yaml]\n")
    srv = start_server(
        folder,
        {"riverside": None, "hillside": None, "thirdparty": profile},
        settings={"decision_log": str(folder / "decisions.jsonl")},
        env={"STRIDEWISE_CACHE_DIR": str(folder / "cache")},
    )
    with srv.client("riverside") as c:
        answer = c.post("/athletes/1288992/events", json={"events": year_of_training(21)})
        assert answer.status_code == 200, answer.text
    yield srv
    srv.stop()


def _no_null_or_empty(node: Any, where: str = "") -> None:
    """CDS Hooks: JSON elements are never null or empty unless the spec says so."""
    assert node is not None and node != "" and node != [] and node != {}, where
    if isinstance(node, dict):
        for k, v in node.items():
            _no_null_or_empty(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_null_or_empty(v, f"{where}[{i}]")


def _check_cds_card(card: dict[str, Any]) -> None:
    """The card attributes of CDS Hooks 2.0 ("Card Attributes", "Source", "Coding")."""
    allowed = {
        "uuid",
        "summary",
        "detail",
        "indicator",
        "source",
        "suggestions",
        "selectionBehavior",
        "overrideReasons",
        "links",
        "extension",
    }
    assert set(card) <= allowed, set(card) - allowed
    assert isinstance(card["summary"], str) and len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert isinstance(card["source"]["label"], str) and card["source"]["label"]
    assert set(card["source"]) <= {"label", "url", "icon", "topic"}
    for reason in card.get("overrideReasons", []):
        assert {"code", "system", "display"} <= set(reason)
    _no_null_or_empty({k: v for k, v in card.items() if k != "extension"}, card["summary"])


def test_discovery_lists_the_service_as_the_specification_describes(server: Server) -> None:
    with server.client() as c:  # discovery holds no data: no key needed
        answer = c.get("/cds-services")
    assert answer.status_code == 200
    services = answer.json()["services"]
    assert len(services) == 1
    service = services[0]
    assert {"hook", "description", "id"} <= set(service)
    assert service["hook"] == "patient-view" and service["id"] == "stridewise-bone-stress"
    _no_null_or_empty(answer.json())


def test_the_specifications_request_example_gets_sourced_cards(server: Server) -> None:
    request = copy.deepcopy(SPEC_REQUEST)
    request["extension"] = {"org.stridewise.as_of": END.isoformat()}
    with server.client("riverside") as c:
        answer = c.post(SERVICE, json=request)
        verbatim = c.post(SERVICE, json=SPEC_REQUEST)  # today: the same year, later
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"cards"}
    cards = answer.json()["cards"]
    assert cards
    for card in cards:
        _check_cds_card(card)
        ours = card["extension"]["org.stridewise"]
        assert ours["date"] == END.isoformat() and ours["rule_id"] and ours["ruleset_version"]
    assert verbatim.status_code == 200
    for card in verbatim.json()["cards"]:
        _check_cds_card(card)


def test_cards_over_cds_match_the_rest_api(server: Server) -> None:
    request = copy.deepcopy(SPEC_REQUEST)
    request["extension"] = {"org.stridewise.as_of": END.isoformat()}
    with server.client("riverside") as c:
        cds = c.post(SERVICE, json=request).json()["cards"]
        rest = c.get("/athletes/1288992/cards", params={"as_of": END.isoformat()}).json()["cards"]
    assert [(c["uuid"], c["summary"], c["indicator"]) for c in cds] == [
        (c["uuid"], c["summary"], c["indicator"]) for c in rest
    ]


def test_prefetched_events_are_used_and_not_stored(server: Server) -> None:
    request = copy.deepcopy(SPEC_REQUEST)
    request["context"]["patientId"] = "walk-in"
    request["prefetch"] = {"stridewiseEvents": year_of_training(22)}
    request["extension"] = {"org.stridewise.as_of": END.isoformat()}
    with server.client("riverside") as c:
        answer = c.post(SERVICE, json=request)
        stored = c.get("/athletes/walk-in/cards")
    assert answer.status_code == 200, answer.text
    assert answer.json()["cards"]
    assert stored.status_code == 404


def test_a_patient_without_data_is_412_with_an_operation_outcome(server: Server) -> None:
    request = copy.deepcopy(SPEC_REQUEST)
    request["context"]["patientId"] = "nobody-here"
    with server.client("riverside") as c:
        answer = c.post(SERVICE, json=request)
    assert answer.status_code == 412
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "nobody-here" in outcome["issue"][0]["details"]["text"]


def test_the_extension_example_without_a_patient_is_refused_clearly(server: Server) -> None:
    with server.client("riverside") as c:
        answer = c.post(SERVICE, json=SPEC_EXTENSION_REQUEST)
    assert answer.status_code == 422
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert "patientId" in answer.json()["issue"][0]["details"]["text"]


def test_a_clinic_cannot_get_another_clinics_patient_over_cds(server: Server) -> None:
    with server.client("hillside") as c:
        answer = c.post(SERVICE, json=SPEC_REQUEST)
    with server.client() as anonymous:
        no_key = anonymous.post(SERVICE, json=SPEC_REQUEST)
    assert answer.status_code == 412  # hillside has no patient 1288992
    assert no_key.status_code == 401


@pytest.mark.parametrize(
    "example",
    [SPEC_FEEDBACK_ACCEPTED, SPEC_FEEDBACK_OVERRIDDEN, SPEC_FEEDBACK_WITH_REASON],
    ids=["accepted", "overridden", "overridden-with-reason"],
)
def test_the_specifications_feedback_examples_are_recorded(
    server: Server, example: dict[str, Any]
) -> None:
    with server.client("riverside") as c:
        answer = c.post(SERVICE + "/feedback", json=example)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"recorded": 1}


def test_feedback_on_an_issued_card_lands_in_the_athletes_decision_log(server: Server) -> None:
    from stridewise.engine.packs import DecisionLog
    from stridewise.service.config import load_config
    from stridewise.storage import open_store

    request = copy.deepcopy(SPEC_REQUEST)
    request["extension"] = {"org.stridewise.as_of": END.isoformat()}
    with server.client("riverside") as c:
        card = c.post(SERVICE, json=request).json()["cards"][0]
        feedback = copy.deepcopy(SPEC_FEEDBACK_WITH_REASON)
        feedback["feedback"][0]["card"] = card["uuid"]
        feedback["feedback"][0]["overrideReason"]["reason"] = card["overrideReasons"][1]
        assert c.post(SERVICE + "/feedback", json=feedback).status_code == 200
    with open_store(load_config(server.config).store_url) as store:
        rows = store.feedback("riverside", "1288992")
    mine = [r for r in rows if r.card_uuid == card["uuid"]]
    assert len(mine) == 1
    assert mine[0].outcome == "overridden" and mine[0].service_id == "stridewise-bone-stress"
    assert "data-wrong" in (mine[0].reason or "")
    assert "A comment entered by the clinician." in (mine[0].reason or "")
    assert mine[0].at == dt.datetime(2020, 12, 11, tzinfo=dt.UTC)
    log = DecisionLog(load_config(server.config).decision_log)
    logged = [e for e in log.for_athlete("1288992") if e["feedback"]["card"] == card["uuid"]]
    assert len(logged) == 1 and logged[0]["feedback"]["outcome"] == "overridden"
    assert "1288992" not in json.dumps(logged[0])  # the athlete is recorded hashed


def test_bad_feedback_names_what_is_wrong_and_records_none_of_it(server: Server) -> None:
    from stridewise.service.config import load_config
    from stridewise.storage import open_store

    bad = copy.deepcopy(SPEC_FEEDBACK_OVERRIDDEN)
    bad["feedback"][0]["outcome"] = "ignored"
    good = copy.deepcopy(SPEC_FEEDBACK_OVERRIDDEN["feedback"][0])
    good["card"] = "c0ffee00-0000-4000-8000-000000000001"
    late = {**good, "outcomeTimestamp": "2020-13-45T00:00:00Z"}
    with server.client("riverside") as c:
        answer = c.post(SERVICE + "/feedback", json=bad)
        half_bad = c.post(SERVICE + "/feedback", json={"feedback": [good, late]})
        unknown = c.post("/cds-services/no-such-service", json=SPEC_REQUEST)
    assert answer.status_code == 422
    assert "outcome" in answer.json()["issue"][0]["details"]["text"]
    assert half_bad.status_code == 422
    assert "feedback.1.outcomeTimestamp" in half_bad.json()["issue"][0]["details"]["text"]
    with open_store(load_config(server.config).store_url) as store:
        recorded = store.feedback("riverside", "(card not matched)")
    assert good["card"] not in {r.card_uuid for r in recorded}  # nothing of a bad batch
    assert unknown.status_code == 404
    assert unknown.json()["resourceType"] == "OperationOutcome"


def test_a_pack_failing_mid_evaluation_is_said_never_read_as_all_clear(server: Server) -> None:
    request = copy.deepcopy(SPEC_REQUEST)
    request["context"]["patientId"] = "night-pain"
    request["extension"] = {"org.stridewise.as_of": "2026-03-31"}
    with server.client("thirdparty") as c:
        assert c.post("/athletes/night-pain/events", json={"events": NIGHT_PAIN}).is_success
        rest = c.get("/athletes/night-pain/cards", params={"as_of": "2026-03-31"}).json()
        cds = c.post(SERVICE, json=request).json()["cards"]
    assert rest["complete"] is False and rest["failed_packs"] == ["third-party"]
    assert any(card["indicator"] == "critical" for card in rest["cards"])  # red flag kept
    assert cds[0]["indicator"] == "warning" and "missing" in cds[0]["summary"]
    assert "third-party" in cds[0]["detail"] and "physician" in cds[0]["detail"]
    assert any(card["indicator"] == "critical" for card in cds[1:])
    for card in cds:
        _check_cds_card(card)
