"""``GET /api/v2/openapi.json`` (no token): the contract as this server implements it.

The seed contract (``openapi/caledee-api-v2.openapi.json``) is served unchanged, plus, in its style:
Caledee's paths and methods beyond it and the responses it leaves out where they occur
(``openapi/caledee-additions*.json``, one file per area), a 401 on every operation that takes a token
and a 400 on every operation that takes query parameters or a body.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify

from api.context import caledee

OPENAPI_DIR = Path(__file__).parent / "openapi"
SEED = OPENAPI_DIR / "caledee-api-v2.openapi.json"
ADDITIONS = "caledee-additions*.json"
METHODS = ("get", "put", "post", "patch", "delete")

UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
INVALID_ARGUMENT = {"$ref": "#/components/responses/InvalidArgument"}
EMPTY_ANSWER_HEADERS = {
    "Caledee-Empty-Reason": {"$ref": "#/components/headers/CaledeeEmptyReason"},
    "Caledee-Empty-Detail": {"$ref": "#/components/headers/CaledeeEmptyDetail"},
}

bp = Blueprint("contract", __name__)


def _takes_arguments(operation: dict[str, Any]) -> bool:
    query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    return query or "requestBody" in operation


def _takes_token(operation: dict[str, Any]) -> bool:
    return operation.get("security", [{}]) != []


@cache
def served_contract() -> dict[str, Any]:
    """The seed with the additions merged in: nothing of the seed changes, only what it lacks is added."""
    contract = json.loads(SEED.read_text())
    for additions_file in sorted(OPENAPI_DIR.glob(ADDITIONS)):
        additions = json.loads(additions_file.read_text())
        for section, entries in additions.get("components", {}).items():
            for name, value in entries.items():
                contract["components"].setdefault(section, {}).setdefault(name, value)
        for path, item in additions.get("paths", {}).items():
            for method, operation in item.items():
                contract["paths"].setdefault(path, {}).setdefault(method, operation)
    for item in contract["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            if _takes_token(operation):
                responses.setdefault("401", UNAUTHORIZED)
            if _takes_arguments(operation):
                responses.setdefault("400", INVALID_ARGUMENT)
            operation["responses"] = dict(sorted(responses.items()))
    # An empty slot list says why in headers; the seed's 200 keeps its body and gains them.
    availability_ok = contract["paths"]["/availability"]["get"]["responses"]["200"]
    availability_ok.setdefault("headers", EMPTY_ANSWER_HEADERS)
    return contract


@bp.get("/openapi.json")
def get_contract() -> Response:
    contract = copy.deepcopy(served_contract())
    # The server that serves it, rather than the seed's placeholders.
    contract["servers"] = [{"url": f"{caledee().settings.public_url}/api/v2", "description": "This server"}]
    return jsonify(contract)
