"""Schemathesis against the service's own OpenAPI document, over real HTTP on loopback.

Every operation gets generated requests (valid and invalid) with a clinic's key: no answer may
be a server error, and every answer must be documented (status, content type, body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_server import Server, start_server, year_of_training

from stridewise.service.openapi import COMMITTED

pytestmark = pytest.mark.slow  # a server, its worker processes, and generated requests

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schema")
    srv = start_server(
        folder, {"riverside": None}, env={"STRIDEWISE_CACHE_DIR": str(folder / "cache")}
    )
    with srv.client("riverside") as c:  # an athlete the generated ids may hit ("0", "A", ...)
        for athlete in ("0", "A", "a"):
            c.post(f"/athletes/{athlete}/events", json={"events": year_of_training(31)[:60]})
    yield srv
    srv.stop()


#: The committed document (the served one is the same with default settings, which the server
#: here uses: test_service.py checks both).
schema = schemathesis.openapi.from_path(COMMITTED)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_error_and_every_answer_as_documented(case: Any, server: Server) -> None:
    response = case.call(
        base_url=server.url, headers={"Authorization": f"Bearer {server.keys['riverside']}"}
    )
    case.validate_response(response, checks=CHECKS)
