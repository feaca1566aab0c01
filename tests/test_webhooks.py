"""Webhooks end to end: a live server, a receiver (``http.server``) on a loopback port in this process,
signatures checked with the helper documented in docs/api.md (extracted from it and run here)."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from caldee_dav import clock
from caldee_dav.models import event_id_for
from tests import dates
from tests import test_inbound_smtp as inbound_tests
from tests.conftest import (
    BACKGROUND,
    ROOT,
    LiveServer,
    free_port,
    start_inbound,
    start_server,
    stop_inbound,
    stop_server,
    wait_for,
)
from tests.scheduling_fixtures import Api, iso, make_event_type, make_schedule, new_api

DAY = dates.next_weekday(dates.MON, after_days=2)
LOOPBACK = {
    "CALEDEE_OUTBOUND_ALLOW": "127.0.0.1,::1",
    "CALEDEE_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    **BACKGROUND,
}


def documented_verifier() -> Callable[..., bool]:
    """``verify_webhook`` exactly as docs/api.md shows it."""
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify_webhook" in b]
    assert len(blocks) == 1
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)  # noqa: S102 - the project's own documentation
    return namespace["verify_webhook"]


verify_webhook = documented_verifier()


# --- the receiver -------------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Keeps every POST; answers with ``answer(hit) -> (status, headers)`` (200 by default)."""

    port: int
    hits: list[Hit] = field(default_factory=list)
    answer: Callable[[Hit], tuple[int, dict[str, str]]] = lambda hit: (200, {})
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length", "0"))
                hit = Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with receiver.lock:
                    receiver.hits.append(hit)
                status, headers = receiver.answer(hit)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def of_type(self, type_: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.json["type"] == type_]

    def about(self, resource_id: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.json["data"].get("id") == resource_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(free_port()).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(database_url, tmp_path_factory.mktemp("webhooks"), extra_env=LOOPBACK)
    yield live
    stop_server(live)


def subscribe(api: Api, url: str, triggers: list[str], **fields: Any) -> dict[str, Any]:
    response = api.post("/webhooks", json={"url": url, "triggers": triggers, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def bookable(api: Api) -> dict[str, Any]:
    make_schedule(api, "UTC")
    return make_event_type(api)


def now_seconds() -> float:
    return clock.now().timestamp()


# --- the subscription ---------------------------------------------------------------------------


def test_crud_shows_the_secret_once_and_refuses_bad_input(server: LiveServer) -> None:
    api, other = new_api(server), new_api(server)
    created = subscribe(api, "http://127.0.0.1:9/hook", ["booking.created"], description="CRM")
    assert created["secret"].startswith("whsec_") and created["active"] is True
    shown = api.get(f"/webhooks/{created['id']}").json()
    assert "secret" not in shown and shown["description"] == "CRM"
    assert [w["id"] for w in api.get("/webhooks").json()["data"]] == [created["id"]]

    unknown = api.post("/webhooks", json={"url": "http://127.0.0.1:9/", "triggers": ["booking.exploded"]})
    assert unknown.status_code == 400 and "booking.cancelled" in unknown.json()["message"]
    for private in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook", "ftp://127.0.0.1/"):
        refused = api.post("/webhooks", json={"url": private, "triggers": ["booking.created"]})
        assert refused.status_code == 400, (private, refused.text)
        assert refused.json()["details"][0]["path"] == ["url"]

    assert other.get(f"/webhooks/{created['id']}").status_code == 404
    assert other.delete(f"/webhooks/{created['id']}").status_code == 404
    changed = api.patch(
        f"/webhooks/{created['id']}", json={"triggers": ["lead.created"], "description": None}
    )
    assert changed.status_code == 200 and changed.json()["triggers"] == ["lead.created"]
    assert changed.json()["description"] is None
    assert api.delete(f"/webhooks/{created['id']}").status_code == 204
    assert api.get(f"/webhooks/{created['id']}").status_code == 404


# --- deliveries ---------------------------------------------------------------------------------


def test_a_booking_reaches_the_receiver_signed_as_the_api_shows_it(
    server: LiveServer, receiver: Receiver
) -> None:
    api = new_api(server)
    hook = subscribe(api, receiver.url, ["booking.created", "booking.cancelled"])
    event_type = bookable(api)
    booked = api.book(event_type["id"], iso(DAY, 10))
    assert booked.status_code == 201, booked.text
    booking_id = booked.json()["id"]
    hit = wait_for(lambda: receiver.of_type("booking.created"), "booking.created")[0]
    assert verify_webhook(hook["secret"], hit.headers, hit.body, now=now_seconds())
    assert not verify_webhook(hook["secret"], hit.headers, hit.body + b" ", now=now_seconds())
    assert hit.headers["webhook-id"] == hit.json["id"] and hit.json["id"].startswith("msg_")
    assert hit.json["data"] == api.get(f"/bookings/{booking_id}").json()

    assert api.delete(f"/bookings/{booking_id}", json={"reason": "ill"}).status_code == 200
    cancelled = wait_for(lambda: receiver.of_type("booking.cancelled"), "booking.cancelled")[0]
    assert cancelled.json["data"]["status"] == "canceled"
    deliveries = wait_for(
        lambda: (
            [
                d
                for d in api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
                if d["status"] != "pending"
            ]
            if all(
                d["status"] != "pending" for d in api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
            )
            else None
        ),
        "deliveries recorded",
    )
    assert [(d["type"], d["status"], d["lastStatus"]) for d in deliveries] == [
        ("booking.cancelled", "succeeded", 200),
        ("booking.created", "succeeded", 200),
    ]


def test_no_subscription_no_delivery_and_other_owners_hear_nothing(
    server: LiveServer, receiver: Receiver
) -> None:
    api, other = new_api(server), new_api(server)
    subscribe(other, receiver.url, ["booking.created"])
    subscribe(api, receiver.url, ["booking.cancelled"])  # not booking.created
    event_type = bookable(api)
    assert api.book(event_type["id"], iso(DAY, 11)).status_code == 201
    ping = subscribe(api, receiver.url, ["lead.created"])
    assert api.post(f"/webhooks/{ping['id']}/test").status_code == 202
    wait_for(lambda: receiver.of_type("ping"), "the ping")  # sent after the booking committed
    assert receiver.of_type("booking.created") == []


def test_receiver_down_then_up_gets_the_same_webhook_id(server: LiveServer) -> None:
    api = new_api(server)
    port = free_port()
    hook = subscribe(api, f"http://127.0.0.1:{port}/hook", ["booking.created"])
    booked = api.book(bookable(api)["id"], iso(DAY, 12)).json()

    def failed_once() -> list[dict[str, Any]]:
        rows = api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
        return [d for d in rows if d["attempts"] >= 2 and d["lastError"]]

    delivery = wait_for(failed_once, "a failed attempt")[0]
    assert delivery["status"] == "pending" and delivery["lastStatus"] is None
    late = Receiver(port).start()
    try:
        hit = wait_for(lambda: late.of_type("booking.created"), "the retried delivery")[0]
        assert hit.headers["webhook-id"] == delivery["eventId"]
        assert hit.json["data"]["id"] == booked["id"]
        assert verify_webhook(hook["secret"], hit.headers, hit.body, now=now_seconds())
    finally:
        late.stop()


def test_4xx_fails_at_once_and_redeliver_sends_the_same_event(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    receiver.answer = lambda hit: (410, {})
    hook = subscribe(api, receiver.url, ["booking.created"])
    api.book(bookable(api)["id"], iso(DAY, 13))

    def finished() -> list[dict[str, Any]]:
        return [
            d for d in api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"] if d["status"] == "failed"
        ]

    failed = wait_for(finished, "the failed delivery")[0]
    assert (failed["attempts"], failed["lastStatus"], failed["nextAttemptAt"]) == (1, 410, None)
    assert len(receiver.hits) == 1

    receiver.answer = lambda hit: (200, {})
    again = api.post(f"/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 202 and again.json()["eventId"] == failed["eventId"]
    wait_for(lambda: len(receiver.hits) == 2, "the redelivery")
    assert receiver.hits[1].headers["webhook-id"] == receiver.hits[0].headers["webhook-id"]
    other = new_api(server)
    assert other.post(f"/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver").status_code == 404


def test_429_waits_for_retry_after(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    receiver.answer = lambda hit: (429, {"Retry-After": "2"}) if len(receiver.hits) == 1 else (200, {})
    hook = subscribe(api, receiver.url, ["booking.created"])
    api.post(f"/webhooks/{hook['id']}/test")

    def throttled() -> list[dict[str, Any]]:
        rows = api.get(f"/webhooks/{hook['id']}/deliveries").json()["data"]
        return [d for d in rows if d["lastStatus"] == 429]

    delivery = wait_for(throttled, "the 429")[0]
    assert delivery["status"] == "pending"
    gap = datetime.fromisoformat(delivery["nextAttemptAt"]) - datetime.fromisoformat(
        delivery["lastAttemptAt"]
    )
    assert gap.total_seconds() >= 2
    wait_for(lambda: len(receiver.hits) == 2, "the retry after Retry-After")


def test_events_of_one_resource_arrive_in_order(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    # The first delivery of each booking fails twice: the booking's later events must wait for it.
    first_tries: dict[str, int] = {}

    def answer(hit: Hit) -> tuple[int, dict[str, str]]:
        if hit.json["type"] == "booking.created":
            first_tries[hit.json["id"]] = first_tries.get(hit.json["id"], 0) + 1
            if first_tries[hit.json["id"]] <= 2:
                return 503, {}
        return 200, {}

    receiver.answer = answer
    subscribe(api, receiver.url, ["booking.created", "booking.rescheduled", "booking.cancelled"])
    event_type = bookable(api)
    booking_ids = []
    for hour in (9, 14):
        booking = api.book(event_type["id"], iso(DAY, hour)).json()
        booking_ids.append(booking["id"])
        moved = api.post(f"/bookings/{booking['id']}/reschedule", json={"start": iso(DAY, hour + 1)})
        assert moved.status_code == 200, moved.text
        assert api.delete(f"/bookings/{booking['id']}").status_code == 200
    for booking_id in booking_ids:
        wait_for(lambda b=booking_id: len(receiver.about(b)) == 5, f"every event of {booking_id}")
        seen = [(hit.json["type"]) for hit in receiver.about(booking_id)]
        assert seen == ["booking.created"] * 3 + ["booking.rescheduled", "booking.cancelled"]


def test_rotation_signs_with_both_secrets(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    hook = subscribe(api, receiver.url, ["booking.created"])
    rotated = api.post(f"/webhooks/{hook['id']}/rotate-secret").json()
    assert rotated["secret"] != hook["secret"] and rotated["previousSecretExpiresAt"]
    api.post(f"/webhooks/{hook['id']}/test")
    hit = wait_for(lambda: receiver.of_type("ping"), "the ping")[0]
    assert len(hit.headers["webhook-signature"].split()) == 2
    for secret in (hook["secret"], rotated["secret"]):
        assert verify_webhook(secret, hit.headers, hit.body, now=now_seconds())


# --- calendar events ----------------------------------------------------------------------------

EVENT_TRIGGERS = ["event.created", "event.updated", "event.deleted", "event.responded", "invite.received"]


def test_a_caldav_put_and_delete_produce_event_deliveries(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    subscribe(api, receiver.url, EVENT_TRIGGERS)
    uid = f"{uuid.uuid4()}@example.org"
    start = dates.at(DAY, 15).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    ics = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Test//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{start}",
            f"DTSTART:{start}",
            "DURATION:PT30M",
            "SUMMARY:Dentist",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    calendar = api.calendar()
    stored = calendar.save_event(ics)
    created = wait_for(lambda: receiver.of_type("event.created"), "event.created")[0]
    event_id = event_id_for(uid)
    calendar_id = created.json["data"]["calendarId"]
    assert created.json["data"]["id"] == event_id and created.json["data"]["title"] == "Dentist"
    assert created.json["data"] == api.get(f"/calendars/{calendar_id}/events/{event_id}").json()

    stored.delete()
    deleted = wait_for(lambda: receiver.of_type("event.deleted"), "event.deleted")[0]
    assert deleted.json["data"] == {"id": event_id, "calendarId": calendar_id, "deleted": True}


def test_an_invitation_by_mail_produces_invite_received_and_event_created(
    server: LiveServer, receiver: Receiver, tmp_path: Path
) -> None:
    api = new_api(server)
    subscribe(api, receiver.url, EVENT_TRIGGERS)
    calendar = next(c for c in api.get("/calendars").json()["data"] if c["slug"] == "calendar")
    mail = start_inbound(server.database_url, tmp_path)
    try:
        uid = f"{uuid.uuid4()}@example.net"
        start = dates.at(DAY, 16)
        ics = inbound_tests.calendar_text(
            "REQUEST",
            inbound_tests.vevent(uid, start, tzid="UTC", attendees=(calendar["inboundEmail"],), rrule=None),
        )
        raw = inbound_tests.message(ics, to=calendar["inboundEmail"], method="REQUEST")
        code, _ = inbound_tests.send(mail, raw, calendar["inboundEmail"])
        assert code == 250
    finally:
        stop_inbound(mail)
    invite = wait_for(lambda: receiver.of_type("invite.received"), "invite.received")[0]
    assert invite.json["data"]["outcome"] == "created" and invite.json["data"]["uids"] == [uid]
    created = wait_for(lambda: receiver.of_type("event.created"), "event.created")[0]
    assert created.json["data"]["id"] == event_id_for(uid)
