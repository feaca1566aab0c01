"""The REST contract (api/openapi/caledee-api-v2.openapi.json, copied from the seed): every path this
release implements answers at the documented place, with the documented scope and error body."""

from __future__ import annotations

import inspect
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from api import create_app
from caldee_dav.config import Settings
from tests.conftest import LiveServer, create_account
from tests.openapi_compat import json_types, schema_differences

CONTRACT = json.loads(
    (Path(__file__).parent.parent / "api" / "openapi" / "caledee-api-v2.openapi.json").read_text()
)
# Nothing of the contract is left for later: every path in it is served.
DEFERRED: set[str] = set()
OPERATIONS = [
    (path, method.upper(), operation["security"][0]["bearerAuth"])
    for path, item in CONTRACT["paths"].items()
    if path not in DEFERRED
    for method, operation in item.items()
]


def url_for(server: LiveServer, path: str) -> str:
    return server.url + "/api/v2" + path.replace("{id}", "bkg_doesnotexist")


def test_contract_is_the_seed_document() -> None:
    assert CONTRACT["info"]["title"] == "Caledee Public API" and CONTRACT["info"]["version"] == "v2"
    assert {p for p, _, _ in OPERATIONS} == {
        "/me",
        "/event-types",
        "/availability",
        "/bookings",
        "/bookings/{id}",
        "/contacts",
        "/leads",
    }


@pytest.mark.parametrize(("path", "method", "scopes"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_missing_token_is_401_with_the_error_body(
    live_server: LiveServer, path: str, method: str, scopes: list[str]
) -> None:
    response = requests.request(method, url_for(live_server, path), json={}, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert set(body) >= {"title", "message"} and body["title"] and body["message"]


@pytest.mark.parametrize(("path", "method", "scopes"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_documented_scope_is_required(
    live_server: LiveServer, path: str, method: str, scopes: list[str]
) -> None:
    unrelated = "read:profile" if scopes != ["read:profile"] else "read:bookings"
    lacking = create_account(live_server.database_url, scopes=[unrelated])
    response = requests.request(
        method,
        url_for(live_server, path),
        json={},
        headers={"Authorization": f"Bearer {lacking.token}"},
        timeout=10,
    )
    assert response.status_code == 403
    assert scopes[0] in response.json()["message"]

    holding = create_account(live_server.database_url, scopes=scopes)
    allowed = requests.request(
        method,
        url_for(live_server, path),
        json={},
        headers={"Authorization": f"Bearer {holding.token}"},
        timeout=10,
    )
    assert allowed.status_code not in (401, 403, 405)
    assert allowed.headers["Content-Type"].startswith("application/json")


def test_expired_and_forged_tokens_are_401(live_server: LiveServer) -> None:
    from datetime import timedelta

    from caldee_dav import clock, db
    from caldee_dav.calendars import accounts
    from caldee_dav.models import ApiToken

    account = create_account(live_server.database_url)
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        token = session.query(ApiToken).filter_by(token_hash=accounts.hash_token(account.token)).one()
        token.expires_at = clock.now() - timedelta(seconds=1)
    for secret in (account.token, "pat_forged", "not-a-pat"):
        response = requests.get(
            live_server.url + "/api/v2/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
        assert response.status_code == 401 and response.json()["title"] == "Unauthorized"


def test_me_matches_the_user_schema(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, timezone="Europe/Paris")
    body = requests.get(
        live_server.url + "/api/v2/me", headers={"Authorization": f"Bearer {account.token}"}, timeout=10
    ).json()
    assert set(body) == set(CONTRACT["components"]["schemas"]["User"]["properties"])
    assert (
        body["slug"] == account.slug and body["email"] == account.email and body["timezone"] == "Europe/Paris"
    )


def _contains(served: object, seed: object) -> bool:
    """Whether ``served`` holds everything of ``seed`` unchanged (objects may gain keys, nothing else)."""
    if isinstance(seed, dict):
        return isinstance(served, dict) and all(
            k in served and _contains(served[k], v) for k, v in seed.items()
        )
    return served == seed


def _route_key(path: str) -> str:
    """A path with its parameters unnamed: Flask's ``/bookings/<booking_id>`` is the contract's
    ``/bookings/{id}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_served_contract_keeps_the_seed_and_lists_every_route(live_server: LiveServer) -> None:
    response = requests.get(live_server.url + "/api/v2/openapi.json", timeout=10)  # no token
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    served = response.json()
    assert served["servers"] == [{"url": live_server.url + "/api/v2", "description": "This server"}]
    for path, item in CONTRACT["paths"].items():
        for method, operation in item.items():
            assert _contains(served["paths"].get(path, {}).get(method), operation), f"{method} {path}"
    # The seed's schemas may gain fields and enum values (tests/test_openapi_seed.py checks how).
    for section in ("securitySchemes", "headers", "responses"):
        assert _contains(served["components"][section], CONTRACT["components"][section])

    # 400 and 401 are documented where they occur (the seed left them out in places).
    bookings = served["paths"]["/bookings"]
    assert {"400", "401"} <= set(bookings["get"]["responses"]) and "401" in bookings["post"]["responses"]
    assert "401" in served["paths"]["/availability"]["get"]["responses"]
    assert "401" not in served["paths"]["/public/{userSlug}"]["get"]["responses"]
    invalid = served["components"]["responses"]["InvalidArgument"]
    assert invalid["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}

    # Every route the server has under /api/v2 is in what it serves.
    app = create_app(Settings(database_url=live_server.database_url))
    documented = {
        (_route_key("/api/v2" + path), method.upper())
        for path, item in served["paths"].items()
        for method in item
    }
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v2/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                assert (_route_key(rule.rule), method) in documented, f"{method} {rule.rule} undocumented"


def _raw_answer(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    """Send ``request`` as bytes on a socket and read the whole answer (the server closes after it)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        for _ in range(1000):  # bounded: an error answer is a few hundred bytes
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v2/me?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n", 431),
        (b"GET /api/v2/me HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"GARBAGE\r\n\r\n", 400),
    ],
    ids=["request-line-too-long", "too-many-headers", "header-too-large", "malformed"],
)
def test_requests_gunicorn_refuses_get_the_json_error_shape(
    live_server: LiveServer, request_bytes: bytes, status: int
) -> None:
    answer_status, headers, body = _raw_answer(live_server, request_bytes)
    assert answer_status == status
    assert headers["content-type"] == "application/json"
    assert set(body) == {"title", "message", "details"} and body["title"] and body["message"]
    assert body["details"] == [{"path": [], "message": body["message"], "code": body["details"][0]["code"]}]


# --- The document against the code: the bodies documented are the models the views parse --------------

JSON_BODY_CALL = re.compile(r"\bjson_body\((\w+)")
QUERY_ARGS_CALL = re.compile(r"\bquery_args\((\w+)")
# The seed's own request body (inline, kept as the seed wrote it): the model that parses it.
SEED_INLINE_BODIES = {("/bookings", "post"): "BookingIn"}


def _api_views() -> list[tuple[str, str, Any]]:
    """(contract path, method, view function) of every /api/v2 route."""
    from api.contract import served_contract

    app = create_app(Settings(database_url="sqlite://"))
    paths = {_route_key(path): path for path in served_contract()["paths"]}
    views = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v2/"):
            continue
        path = paths[_route_key(rule.rule.removeprefix("/api/v2"))]
        view = inspect.unwrap(app.view_functions[rule.endpoint])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            views.append((path, method.lower(), view))
    return views


def _models_called(view: Any, call: re.Pattern[str]) -> list[type[BaseModel]]:
    names = call.findall(inspect.getsource(view))
    return [view.__globals__[name] for name in names]


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")


def test_documented_request_bodies_are_the_models_the_views_parse() -> None:
    from api.contract import component_name, model_components, served_contract

    served = served_contract()
    checked = 0
    for path, method, view in _api_views():
        operation = served["paths"][path][method]
        documented = _body_schema(operation)
        models = _models_called(view, JSON_BODY_CALL)
        where = f"{method.upper()} {path}"
        if not models:
            assert documented is None, f"{where} documents a body its view does not read"
            continue
        assert len(models) == 1 and documented is not None, f"{where}: body undocumented"
        if (path, method) in SEED_INLINE_BODIES:
            assert models[0].__name__ == SEED_INLINE_BODIES[path, method]
            generated = served["components"]["schemas"][component_name(models[0].__name__)]
            # Both ways: the seed's fields are the model's, and the model takes no field the seed lacks.
            assert schema_differences(documented, generated, served, where, wider=True) == []
            assert set(generated["properties"]) == set(documented["properties"]), where
            assert set(generated.get("required", [])) == set(documented.get("required", [])), where
        else:
            name = component_name(models[0].__name__)
            assert documented == {"$ref": "#/components/schemas/" + name}, where
            assert name in model_components(), f"{where}: add {models[0].__name__} to api.contract.MODELS"

        checked += 1
    assert checked >= 15


def test_documented_query_parameters_are_the_query_models_fields() -> None:
    from api.contract import served_contract

    served = served_contract()
    checked = 0
    for path, method, view in _api_views():
        for model in _models_called(view, QUERY_ARGS_CALL):
            operation = served["paths"][path][method]
            documented = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
            fields = {field.alias or name: field for name, field in model.model_fields.items()}
            assert set(documented) == set(fields), f"{method.upper()} {path}"
            for name, field in fields.items():
                if field.default is not None and not field.is_required():
                    assert documented[name]["schema"].get("default") == field.default, f"{path} {name}"
            checked += 1
    assert checked >= 4


def test_seed_schemas_hold_what_their_models_answer() -> None:
    """A seed component's fields are its model's, of the same JSON types; a field the seed does not make
    nullable is never null in the model."""
    from api.contract import model_components, served_contract

    served = served_contract()
    generated = model_components()
    seed_schemas = CONTRACT["components"]["schemas"]
    for name in sorted(set(seed_schemas) & set(generated)):
        seed_schema, model_schema = seed_schemas[name], generated[name]
        assert schema_differences(seed_schema, model_schema, served, name) == []
        for prop, schema in seed_schema.get("properties", {}).items():
            if not schema.get("nullable"):
                assert "null" not in json_types(model_schema["properties"][prop], served), f"{name}.{prop}"
    assert {"User", "EventType", "Slot", "Booking"} <= set(generated)


def test_written_components_say_what_their_models_say() -> None:
    """The additions' hand-written components (read in the repository, and the source of the served
    descriptions) name only their model's fields, with its types."""
    from api.contract import OPENAPI_DIR, model_components, served_contract

    served = served_contract()
    generated = model_components()
    for additions_file in sorted(OPENAPI_DIR.glob("caledee-additions*.json")):
        written = json.loads(additions_file.read_text()).get("components", {}).get("schemas", {})
        for name, schema in written.items():
            assert name in generated, f"{additions_file.name}: {name} is no model's"
            # A request model (it refuses unknown fields) may take more forms of a value than written.
            wider = generated[name].get("additionalProperties") is False
            assert schema_differences(schema, generated[name], served, name, wider=wider) == [], (
                additions_file.name
            )


def test_docs_page_renders_the_contract_from_this_server_only(live_server: LiveServer) -> None:
    page = requests.get(live_server.url + "/api/v2/docs", timeout=10)  # no token
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # Every script and style sheet it loads is this server's, and answers.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"docs/assets/swagger-ui.css", "docs/assets/swagger-ui-bundle.js", "docs/assets/docs.js"} <= set(
        assets
    )
    assert not [a for a in assets if "//" in a and not a.startswith("openapi")]
    assert "<script>" not in page.text  # no inline script: the CSP would refuse it
    for asset in (a for a in assets if a.startswith("docs/assets/")):
        answer = requests.get(f"{live_server.url}/api/v2/{asset}", timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 100, asset
        expected = "text/css" if asset.endswith(".css") else "text/javascript"
        assert answer.headers["Content-Type"].startswith(expected), asset
    script = requests.get(live_server.url + "/api/v2/docs/assets/docs.js", timeout=10).text
    assert '"openapi.json"' in script and "validatorUrl: null" in script
    missing = requests.get(live_server.url + "/api/v2/docs/assets/index.template.html", timeout=10)
    assert missing.status_code == 404 and missing.json()["title"] == "Not Found"
    traversal = requests.get(live_server.url + "/api/v2/docs/assets/..%2F..%2Fcontract.py", timeout=10)
    assert traversal.status_code == 404


def _secured_operations() -> list[tuple[str, str]]:
    from api.contract import served_contract

    served = served_contract()
    return [
        (path, method)
        for path, item in served["paths"].items()
        if path not in DEFERRED
        for method, operation in item.items()
        if operation.get("security", served["security"]) != []
    ]


def test_every_secured_operation_answers_401_without_a_token(live_server: LiveServer) -> None:
    """Every documented operation that takes a token (the seed's and Caledee's) refuses a request without
    one, with the error body: what schemathesis' `ignored_auth` check would look at."""
    operations = _secured_operations()
    assert len(operations) > 40
    for path, method in operations:
        url = live_server.url + "/api/v2" + re.sub(r"\{[^}]+\}", "x", path)
        response = requests.request(method, url, json={}, timeout=10)
        assert response.status_code == 401, f"{method.upper()} {path}"
        assert response.json()["title"] == "Unauthorized"
