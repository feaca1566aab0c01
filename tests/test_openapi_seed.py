"""The served contract against the seed (api/openapi/caledee-api-v2.openapi.json): everything the seed
says is there and compatible, so that a client generated from the seed works against this server.

Compatible: ours may add paths, methods, parameters, properties, enum values and statuses; it may not
drop any, change a JSON type, drop null where the seed allows it, or change a parameter's place, default
or maximum. ``tests/openapi_compat.py`` says it in code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LiveServer
from tests.openapi_compat import schema_differences

SEED = json.loads((Path(__file__).parent.parent / "api/openapi/caledee-api-v2.openapi.json").read_text())
SEED_OPERATIONS = [
    (path, method) for path, item in SEED["paths"].items() for method in item if method != "parameters"
]


@pytest.fixture(scope="module")
def served(live_server: LiveServer) -> dict[str, Any]:
    response = requests.get(live_server.url + "/api/v2/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _parameter(operation: dict[str, Any], name: str, place: str) -> dict[str, Any] | None:
    return next((p for p in operation.get("parameters", []) if (p["name"], p["in"]) == (name, place)), None)


def _operation_differences(path: str, method: str, served: dict[str, Any]) -> list[str]:
    seed_operation = SEED["paths"][path][method]
    ours = served["paths"].get(path, {}).get(method)
    where = f"{method.upper()} {path}"
    if ours is None:
        return [f"{where}: not served"]
    problems: list[str] = []
    if ours.get("security") != seed_operation.get("security"):
        problems.append(f"{where}: security {ours.get('security')}, seed {seed_operation.get('security')}")
    for parameter in seed_operation.get("parameters", []):
        name, place = parameter["name"], parameter["in"]
        our_parameter = _parameter(ours, name, place)
        label = f"{where} parameter {name} ({place})"
        if our_parameter is None:
            problems.append(f"{label}: missing")
            continue
        if parameter.get("required", False) != our_parameter.get("required", False):
            problems.append(
                f"{label}: required {our_parameter.get('required')}, seed {parameter.get('required')}"
            )
        for key in ("default", "maximum", "maxLength", "format"):
            if key in parameter["schema"] and parameter["schema"][key] != our_parameter["schema"].get(key):
                problems.append(
                    f"{label}: {key} {our_parameter['schema'].get(key)!r}, seed {parameter['schema'][key]!r}"
                )
        problems += schema_differences(parameter["schema"], our_parameter["schema"], served, label)
    if "requestBody" in seed_operation:
        seed_body = seed_operation["requestBody"]["content"]["application/json"]["schema"]
        our_body = ours.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if our_body is None:
            problems.append(f"{where}: request body missing")
        else:
            problems += schema_differences(seed_body, our_body, served, f"{where} body")
    for status, answer in seed_operation["responses"].items():
        our_answer = ours["responses"].get(status)
        if our_answer is None:
            problems.append(f"{where} {status}: missing")
            continue
        if "$ref" in answer:
            if answer != our_answer:
                problems.append(f"{where} {status}: {our_answer}, seed {answer}")
            continue
        for header in answer.get("headers", {}):
            if header not in our_answer.get("headers", {}):
                problems.append(f"{where} {status}: header {header} missing")
        for media_type, content in answer.get("content", {}).items():
            our_content = our_answer.get("content", {}).get(media_type)
            if our_content is None:
                problems.append(f"{where} {status}: {media_type} missing")
            else:
                problems += schema_differences(
                    content["schema"], our_content["schema"], served, f"{where} {status}"
                )
    return problems


@pytest.mark.parametrize(
    ("path", "method"), SEED_OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in SEED_OPERATIONS]
)
def test_every_seed_operation_is_served_compatibly(path: str, method: str, served: dict[str, Any]) -> None:
    assert _operation_differences(path, method, served) == []


@pytest.mark.parametrize("name", sorted(SEED["components"]["schemas"]))
def test_every_seed_schema_is_served_compatibly(name: str, served: dict[str, Any]) -> None:
    seed_schema = SEED["components"]["schemas"][name]
    our_schema = served["components"]["schemas"].get(name)
    assert our_schema is not None, f"component {name} missing"
    assert schema_differences(seed_schema, our_schema, served, name) == []
    # The seed's nullable fields say so in ours too (a 3.0-minded client reads `nullable`).
    for prop, schema in seed_schema.get("properties", {}).items():
        if schema.get("nullable"):
            assert our_schema["properties"][prop].get("nullable") is True, f"{name}.{prop}"


def test_seed_headers_responses_and_security_are_served(served: dict[str, Any]) -> None:
    for section in ("headers", "responses", "securitySchemes"):
        for name, value in SEED["components"][section].items():
            assert served["components"][section].get(name) == value, f"{section}.{name}"
    assert served["security"] == SEED["security"]
    assert served["openapi"] == SEED["openapi"] and served["info"] == SEED["info"]


def test_a_changed_seed_is_caught(served: dict[str, Any]) -> None:
    """The diff finds what a drifting server would change: a dropped parameter, a changed type, a
    missing enum value, a nullable field made required-non-null, a missing status."""
    drifted = json.loads(json.dumps(served))
    bookings = drifted["paths"]["/bookings"]["get"]
    bookings["parameters"] = [p for p in bookings["parameters"] if p["name"] != "cursor"]
    next(p for p in bookings["parameters"] if p["name"] == "limit")["schema"]["maximum"] = 500
    booking = drifted["components"]["schemas"]["Booking"]["properties"]
    booking["durationMin"] = {"type": "string"}
    booking["status"]["enum"] = ["active"]
    booking["cancelReason"] = {"type": "string"}
    del drifted["paths"]["/me"]["get"]["responses"]["429"]
    operation_problems = _operation_differences("/bookings", "get", drifted) + _operation_differences(
        "/me", "get", drifted
    )
    assert any("cursor (query): missing" in p for p in operation_problems)
    assert any("maximum 500" in p for p in operation_problems)
    assert any("429: missing" in p for p in operation_problems)
    schema_problems = schema_differences(
        SEED["components"]["schemas"]["Booking"],
        drifted["components"]["schemas"]["Booking"],
        drifted,
        "Booking",
    )
    assert any("durationMin" in p for p in schema_problems)
    assert any("['canceled'] missing" in p for p in schema_problems)
    assert any("cancelReason: allows null" in p for p in schema_problems)
