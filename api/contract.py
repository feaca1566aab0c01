"""``GET /api/v2/openapi.json`` (no token): the contract as this server implements it.

The seed contract (``openapi/caledee-api-v2.openapi.json``) is served unchanged, plus, in its style:
Caledee's paths and methods beyond it and the responses it leaves out where they occur
(``openapi/caledee-additions*.json``, one file per area), a 401 on every operation that takes a token,
a 400 on every operation that takes query parameters or a body, a 429 and the rate-limit headers
everywhere, and the error body on every 4xx.

The schemas of request and response bodies come from the pydantic models the views parse and answer
with (``MODELS``), generated here when the document is built, so that the document cannot drift from the
code: a component of the additions names the fields of its model (its descriptions and examples are kept
over the generated schema); a component of the seed is kept as the seed wrote it and gains the fields the
model adds. ``tests/test_api_contract.py`` checks that the documented bodies are the ones the views parse.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.context import caledee
from api.schemas import (
    api_keys,
    bookings,
    calendars,
    contacts,
    event_types,
    events,
    inbound,
    leads,
    profile,
    schedules,
    teams,
    webhooks,
)
from api.schemas.common import RequestModel

OPENAPI_DIR = Path(__file__).parent / "openapi"
SEED = OPENAPI_DIR / "caledee-api-v2.openapi.json"
ADDITIONS = "caledee-additions*.json"
METHODS = ("get", "put", "post", "patch", "delete")
SCHEMA_REF = "#/components/schemas/"

UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
INVALID_ARGUMENT = {"$ref": "#/components/responses/InvalidArgument"}
RATE_LIMITED = {"$ref": "#/components/responses/RateLimited"}
ERROR_BODY = {"application/json": {"schema": {"$ref": SCHEMA_REF + "Error"}}}
EMPTY_ANSWER_HEADERS = {
    "Caledee-Empty-Reason": {"$ref": "#/components/headers/CaledeeEmptyReason"},
    "Caledee-Empty-Detail": {"$ref": "#/components/headers/CaledeeEmptyDetail"},
}
# The seed's headers on its 200s; every /api/v2 answer carries them (the rate limiter).
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"$ref": "#/components/headers/XRateLimitLimit"},
    "X-RateLimit-Remaining": {"$ref": "#/components/headers/XRateLimitRemaining"},
    "X-RateLimit-Reset": {"$ref": "#/components/headers/XRateLimitReset"},
}

# The seed's answers that say what they are but not their body.
SEED_ANSWER_BODIES = {
    ("/bookings", "post", "201"): "Booking",
    ("/bookings/{id}", "delete", "200"): "Booking",
}

# Every model a view parses a body into or answers with; the models they hold come along. A component's
# name is its class's without "Out" ("In" becomes "Input"), unless named here.
MODELS: list[type[BaseModel]] = [
    profile.UserOut,
    schedules.ScheduleIn,
    schedules.ScheduleOut,
    event_types.EventTypeIn,
    event_types.EventTypeOut,
    event_types.PublicHostOut,
    event_types.PublicEventTypeOut,
    bookings.BookingIn,
    bookings.RescheduleIn,
    bookings.ReasonIn,
    bookings.NoShowIn,
    bookings.BookingOut,
    bookings.SlotOut,
    teams.TeamIn,
    teams.TeamOut,
    teams.MembershipIn,
    teams.RoleIn,
    teams.MembershipOut,
    teams.InvitationOut,
    calendars.CalendarIn,
    calendars.CalendarUpdateIn,
    calendars.CalendarOut,
    calendars.CalendarWithFeedsOut,
    calendars.BookingsFeedOut,
    events.EventIn,
    events.RespondIn,
    events.EventOut,
    leads.LeadStatusIn,
    leads.PublicLeadIn,
    leads.PublicBookingIn,
    leads.LeadOut,
    leads.LeadDetailOut,
    leads.PublicLeadOut,
    inbound.InboundMessageOut,
    contacts.ContactOut,
    api_keys.ApiKeyIn,
    api_keys.ApiKeyOut,
    api_keys.ApiKeyCreatedOut,
    webhooks.WebhookIn,
    webhooks.WebhookUpdateIn,
    webhooks.WebhookOut,
    webhooks.WebhookWithSecretOut,
    webhooks.WebhookDeliveryOut,
]
COMPONENT_NAMES = {"CalendarUpdateIn": "CalendarUpdate", "AttendeeOut": "EventAttendee"}
# Generated keys of a schema that say nothing to a reader ("title": "Createdat").
NOISE = ("title",)

bp = Blueprint("contract", __name__)


def _mode(model: type[BaseModel]) -> Literal["validation", "serialization"]:
    return "validation" if issubclass(model, RequestModel) else "serialization"


def component_name(definition: str) -> str:
    """``ScheduleIn`` -> ``ScheduleInput``, ``ScheduleOut`` -> ``Schedule``; a class name two modules
    share comes from pydantic as ``api__schemas__bookings__LocationOut``: ``BookingsLocation``."""
    *module, name = definition.split("__")
    if name in COMPONENT_NAMES:
        return COMPONENT_NAMES[name]
    if name.endswith("Out"):
        name = name[: -len("Out")]
    elif name.endswith("In"):
        name = name[: -len("In")] + "Input"
    prefix = "".join(part.title() for part in module[-1].split("_")) if module else ""
    return prefix + name


def _schemas_in(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object inside ``schema`` (itself included), walked with a stack: properties'
    names are keys, not schemas."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        yield node
        for key, value in node.items():
            if key in ("properties", "$defs", "patternProperties"):
                stack.extend(value.values())
            elif key not in ("enum", "const", "default", "example", "examples", "required"):
                stack.append(value)


def model_components() -> dict[str, dict[str, Any]]:
    """The JSON Schemas of ``MODELS`` and the models they hold, by component name, with references
    between them as OpenAPI components."""
    _, top = models_json_schema(
        [(model, _mode(model)) for model in MODELS], by_alias=True, ref_template=SCHEMA_REF + "{model}"
    )
    definitions: dict[str, Any] = top.get("$defs", {})
    renamed = {SCHEMA_REF + name: SCHEMA_REF + component_name(name) for name in definitions}
    components = {component_name(name): schema for name, schema in definitions.items()}
    for schema in _schemas_in(list(components.values())):
        for key in NOISE:
            if isinstance(schema.get(key), str):
                del schema[key]
        if "$ref" in schema:
            schema["$ref"] = renamed[schema["$ref"]]
    return components


def _merge_component(written: dict[str, Any] | None, generated: dict[str, Any], seed: bool) -> dict[str, Any]:
    """A seed component as the seed wrote it, plus the properties (and the required list) the model adds;
    an additions' component as generated, with the descriptions and examples written for it."""
    if written is None:
        return generated
    if seed:
        merged = copy.deepcopy(written)
        properties = merged.setdefault("properties", {})
        for name, schema in generated.get("properties", {}).items():
            if name in properties:
                _widen_enum(properties[name], schema)
            properties.setdefault(name, schema)
        if "required" in generated:
            merged.setdefault("required", generated["required"])
        return merged
    merged = copy.deepcopy(generated)
    if "description" in written:
        merged["description"] = written["description"]
    for name, schema in merged.get("properties", {}).items():
        for key in ("description", "example"):
            if key in written.get("properties", {}).get(name, {}):
                schema[key] = written["properties"][name][key]
    return merged


def _enum_of(schema: dict[str, Any]) -> list[Any]:
    """The values of an enum, or of the enum in an ``anyOf`` with null (a nullable Literal)."""
    if "enum" in schema:
        return list(schema["enum"])
    return next((s["enum"] for s in schema.get("anyOf", []) if "enum" in s), [])


def _widen_enum(written: dict[str, Any], generated: dict[str, Any]) -> None:
    """A seed enum gains the values the model answers with beyond it (a booking's ``pending``)."""
    if "enum" in written:
        written["enum"] += [v for v in _enum_of(generated) if v not in written["enum"]]


def _complete_operation(operation: dict[str, Any]) -> None:
    """The answers every operation may give, documented where the seed or the additions left them out."""
    responses = operation.setdefault("responses", {})
    if operation.get("security", [{}]) != []:
        responses.setdefault("401", UNAUTHORIZED)
    query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if query or "requestBody" in operation:
        responses.setdefault("400", INVALID_ARGUMENT)
    responses.setdefault("429", RATE_LIMITED)
    for status, response in responses.items():
        if "$ref" in response:
            continue
        if status.startswith("4") and "content" not in response:
            response["content"] = copy.deepcopy(ERROR_BODY)
        if status.startswith("2"):
            headers = response.setdefault("headers", {})
            for name, header in RATE_LIMIT_HEADERS.items():
                headers.setdefault(name, header)
    operation["responses"] = dict(sorted(responses.items()))


@cache
def served_contract() -> dict[str, Any]:
    """The seed with the additions and the models' schemas merged in: nothing of the seed changes, only
    what it lacks is added."""
    contract = json.loads(SEED.read_text())
    seed_schemas = set(contract["components"]["schemas"])
    for additions_file in sorted(OPENAPI_DIR.glob(ADDITIONS)):
        additions = json.loads(additions_file.read_text())
        for section, entries in additions.get("components", {}).items():
            for name, value in entries.items():
                contract["components"].setdefault(section, {}).setdefault(name, value)
        for path, item in additions.get("paths", {}).items():
            for method, operation in item.items():
                contract["paths"].setdefault(path, {}).setdefault(method, operation)
    schemas = contract["components"]["schemas"]
    for name, generated in model_components().items():
        schemas[name] = _merge_component(schemas.get(name), generated, name in seed_schemas)
    for (path, method, status), schema in SEED_ANSWER_BODIES.items():
        answer = contract["paths"][path][method]["responses"][status]
        answer.setdefault("content", {"application/json": {"schema": {"$ref": SCHEMA_REF + schema}}})
    for item in contract["paths"].values():
        for method in METHODS:
            if method in item:
                _complete_operation(item[method])
    # An empty slot list says why in headers; the seed's 200 keeps its body and gains them.
    availability_ok = contract["paths"]["/availability"]["get"]["responses"]["200"]
    for name, header in EMPTY_ANSWER_HEADERS.items():
        availability_ok["headers"].setdefault(name, header)
    return contract


@bp.get("/openapi.json")
def get_contract() -> Response:
    contract = copy.deepcopy(served_contract())
    # The server that serves it, rather than the seed's placeholders.
    contract["servers"] = [{"url": f"{caledee().settings.public_url}/api/v2", "description": "This server"}]
    return jsonify(contract)
