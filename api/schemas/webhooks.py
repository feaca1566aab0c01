"""JSON of ``/webhooks``: subscriptions (the secret only in the create and rotate answers) and their
deliveries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictStr

from api.schemas.common import ApiModel, RequestModel, ResponseModel, UtcDateTime
from caldee_dav.models import Webhook
from caldee_dav.scheduling import webhooks
from caldee_dav.scheduling.webhooks import DeliveryView, WebhookChange

Url = Annotated[StrictStr, Field(min_length=1, max_length=webhooks.MAX_URL_LENGTH)]
Triggers = Annotated[list[StrictStr], Field(max_length=50)]
Description = Annotated[StrictStr, Field(max_length=webhooks.MAX_DESCRIPTION_LENGTH)]
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class WebhookIn(RequestModel):
    """POST body: where to send, and which events (``triggers``, at least one)."""

    url: Url
    triggers: Triggers
    active: StrictBool = True
    description: Description | None = None


class WebhookUpdateIn(RequestModel):
    """PATCH body: the fields sent change (``description: null`` clears it); ``active: true`` on a
    disabled webhook clears its failure state."""

    url: Url | None = None
    triggers: Triggers | None = None
    active: StrictBool | None = None
    description: Description | None = None

    def change(self) -> WebhookChange:
        return WebhookChange(
            url=self.url,
            triggers=self.triggers,
            active=self.active,
            description=self.description,
            clear_description="description" in self.model_fields_set and self.description is None,
        )


class DeliveryListQuery(ApiModel):
    cursor: str | None = None
    limit: int = Field(default=webhooks.DEFAULT_LIMIT, ge=1, le=webhooks.MAX_LIMIT)


class WebhookOut(ResponseModel):
    """A subscription. ``failingSince``: deliveries have failed since then without a success;
    ``disabledReason``: why the server disabled it (set ``active`` to true to resume)."""

    id: str
    url: str
    triggers: list[str]
    active: bool
    description: str | None
    failing_since: UtcDateTime | None
    disabled_at: UtcDateTime | None
    disabled_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def fields_of(cls, webhook: Webhook) -> dict[str, object]:
        return {
            "id": webhook.id,
            "url": webhook.url,
            "triggers": [str(t) for t in webhook.triggers or []],
            "active": webhook.active,
            "description": webhook.description,
            "failing_since": webhook.failing_since,
            "disabled_at": webhook.disabled_at,
            "disabled_reason": webhook.disabled_reason,
            "created_at": webhook.created_at,
            "updated_at": webhook.updated_at,
        }

    @classmethod
    def from_row(cls, webhook: Webhook) -> WebhookOut:
        return cls(**cls.fields_of(webhook))


class WebhookWithSecretOut(WebhookOut):
    """The create and rotate answers, the only ones holding the signing ``secret`` (``whsec_...``).
    After a rotation the previous secret still signs deliveries until ``previousSecretExpiresAt``."""

    secret: str
    previous_secret_expires_at: UtcDateTime | None

    @classmethod
    def from_row(cls, webhook: Webhook) -> WebhookWithSecretOut:
        return cls(
            **cls.fields_of(webhook),
            secret=webhook.secret,
            previous_secret_expires_at=webhook.previous_secret_until,
        )


class WebhookDeliveryOut(ResponseModel):
    """One event sent (or to be sent) to the webhook. ``eventId`` is the ``webhook-id`` header;
    ``lastStatus`` the receiver's HTTP status (null: no answer, see ``lastError``)."""

    id: str
    event_id: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: UtcDateTime | None
    next_attempt_at: UtcDateTime | None
    delivered_at: UtcDateTime | None
    created_at: UtcDateTime

    @classmethod
    def from_view(cls, view: DeliveryView) -> WebhookDeliveryOut:
        delivery = view.delivery
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            type=view.event_type,
            status=delivery.status,  # type: ignore[arg-type]
            attempts=delivery.attempts,
            last_status=delivery.last_status,
            last_error=delivery.last_error,
            last_attempt_at=delivery.last_attempt_at,
            next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )
