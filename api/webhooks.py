"""``/api/v2/webhooks``: the caller's webhook subscriptions, their deliveries, a test ping and
redelivery (``caldee_dav.scheduling.webhooks``). The signing secret is in the create and rotate
answers only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.auth import require_scopes
from api.body import json_body, query_args
from api.context import caledee, current_user_id, read_unit, write_unit
from api.schemas.common import json_response, list_response, no_content, to_json
from api.schemas.webhooks import (
    DeliveryListQuery,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookUpdateIn,
    WebhookWithSecretOut,
)
from caldee_dav.scheduling import webhooks
from caldee_dav.scheduling.webhooks import DeliveryView

bp = Blueprint("webhooks", __name__)
READ, WRITE = "read:webhooks", "write:webhooks"


def _secret_response(out: WebhookWithSecretOut, status: int = 200, location: str | None = None) -> Response:
    response = json_response(out, status, location=location)
    response.headers["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@bp.get("/webhooks")
@require_scopes(READ)
def list_webhooks() -> Response:
    with read_unit() as session:
        rows = webhooks.list_webhooks(session, current_user_id())
        return list_response([WebhookOut.from_row(row) for row in rows])


@bp.post("/webhooks")
@require_scopes(WRITE)
def create_webhook() -> Response:
    body = json_body(WebhookIn)
    context = caledee()
    with write_unit() as session:
        webhook = webhooks.create_webhook(
            session,
            context.settings,
            current_user_id(),
            url=body.url,
            triggers=body.triggers,
            active=body.active,
            description=body.description,
            now=context.now(),
        )
        out = WebhookWithSecretOut.from_row(webhook)
    return _secret_response(out, 201, location=f"/api/v2/webhooks/{out.id}")


@bp.get("/webhooks/<webhook_id>")
@require_scopes(READ)
def get_webhook(webhook_id: str) -> Response:
    with read_unit() as session:
        return json_response(
            WebhookOut.from_row(webhooks.get_webhook(session, current_user_id(), webhook_id))
        )


@bp.patch("/webhooks/<webhook_id>")
@require_scopes(WRITE)
def update_webhook(webhook_id: str) -> Response:
    body = json_body(WebhookUpdateIn)
    context = caledee()
    with write_unit() as session:
        webhook = webhooks.update_webhook(
            session, context.settings, current_user_id(), webhook_id, body.change(), context.now()
        )
        out = WebhookOut.from_row(webhook)
    return json_response(out)


@bp.delete("/webhooks/<webhook_id>")
@require_scopes(WRITE)
def delete_webhook(webhook_id: str) -> Response:
    with write_unit() as session:
        webhooks.delete_webhook(session, current_user_id(), webhook_id)
    return no_content()


@bp.post("/webhooks/<webhook_id>/rotate-secret")
@require_scopes(WRITE)
def rotate_secret(webhook_id: str) -> Response:
    with write_unit() as session:
        webhook = webhooks.rotate_secret(session, current_user_id(), webhook_id, caledee().now())
        out = WebhookWithSecretOut.from_row(webhook)
    return _secret_response(out)


@bp.post("/webhooks/<webhook_id>/test")
@require_scopes(WRITE)
def send_test(webhook_id: str) -> Response:
    with write_unit() as session:
        delivery = webhooks.send_test(session, current_user_id(), webhook_id, caledee().now())
        out = WebhookDeliveryOut.from_view(DeliveryView(delivery, "ping"))
    return json_response(out, 202)


@bp.get("/webhooks/<webhook_id>/deliveries")
@require_scopes(READ)
def list_deliveries(webhook_id: str) -> Response:
    args = query_args(DeliveryListQuery)
    with read_unit() as session:
        views, next_cursor = webhooks.list_deliveries(
            session, current_user_id(), webhook_id, cursor=args.cursor, limit=args.limit
        )
        data = [to_json(WebhookDeliveryOut.from_view(view)) for view in views]
    return jsonify({"data": data, "nextCursor": next_cursor})


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
@require_scopes(WRITE)
def redeliver(webhook_id: str, delivery_id: str) -> Response:
    with write_unit() as session:
        view = webhooks.redeliver(session, current_user_id(), webhook_id, delivery_id, caledee().now())
        out = WebhookDeliveryOut.from_view(view)
    return json_response(out, 202)
