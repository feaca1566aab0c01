"""Time-based work end to end: ``event.starting`` / ``event.ending`` webhooks (one-off events and
occurrences of series, none for cancelled ones) and booking reminder mails, from a live server with two
worker processes (two scanners: each event and reminder must still arrive once), a webhook receiver and
an SMTP sink on loopback ports in this process.

The server's clock is this process's (``tests/dates.py``): events and bookings are placed so that they
are due at once (the scanner looks a minute ahead), and the server scans every second. "Once" is checked
after a later marker has fired: the scan that fired it also saw the earlier ones still in its window.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import dates
from tests.conftest import LiveServer, free_port, start_server, stop_server, wait_for
from tests.scheduling_fixtures import Api, make_event_type, make_schedule, new_api
from tests.test_api_events import calendar_id
from tests.test_outbound_mail import Sink, read_invitation, relay_env
from tests.test_webhook_workers import kill, start_worker
from tests.test_webhooks import LOOPBACK, Hit, Receiver, subscribe

WAIT_SECONDS = 60.0
TIME_TRIGGERS = ["event.starting", "event.ending"]


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    started = Sink(free_port())
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[LiveServer]:
    env = relay_env(sink.port, **LOOPBACK, CALEDEE_TIME_EVENTS_INTERVAL_SECONDS="1")
    log_dir = tmp_path_factory.mktemp("time-events")
    live = start_server(database_url, log_dir, workers=2, extra_env=env)
    # The server's own `caledee worker` scans, and so does a second one: each event and reminder must
    # still fire once.
    second = start_worker(database_url, log_dir, env)
    yield live
    kill(second)
    stop_server(live)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(free_port()).start()
    yield started
    started.stop()


def soon(seconds: int) -> datetime:
    return dates.now().replace(microsecond=0) + timedelta(seconds=seconds)


class Calendar:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.id = calendar_id(api)

    def create(self, title: str, start: datetime, length: timedelta, **fields: Any) -> dict[str, Any]:
        body = {"title": title, "start": dates.api_utc(start), "end": dates.api_utc(start + length), **fields}
        response = self.api.post(f"/calendars/{self.id}/events", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, event_id: str) -> dict[str, Any]:
        response = self.api.get(f"/calendars/{self.id}/events/{event_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def series_with_third_soon(self, title: str) -> tuple[dict[str, Any], str]:
        """A daily series whose third occurrence starts in 30 s (and ends 15 s later); its id."""
        third = soon(30)
        series = self.create(
            title, third - timedelta(days=2), timedelta(seconds=15), recurrence="RRULE:FREQ=DAILY;COUNT=5"
        )
        return series, f"{series['id']}_{dates.ical_utc(third)}"


def hits_about(receiver: Receiver, type_: str, resource_id: str) -> list[Hit]:
    return [hit for hit in receiver.of_type(type_) if hit.json["data"]["id"] == resource_id]


def wait_hit(receiver: Receiver, type_: str, resource_id: str) -> Hit:
    found = wait_for(
        lambda: hits_about(receiver, type_, resource_id), f"{type_} of {resource_id}", WAIT_SECONDS
    )
    return found[0]


def fire_marker(calendar: Calendar, receiver: Receiver) -> None:
    """An event starting in 30 s, created now, and its event.starting received: every scan that fired
    something earlier has run again since (its window still held the earlier events)."""
    marker = calendar.create("Marker", soon(30), timedelta(minutes=5))
    wait_hit(receiver, "event.starting", marker["id"])


def settle(api: Api, webhook_id: str, receiver: Receiver) -> None:
    """Wait until every delivery queued for the webhook has reached the receiver."""

    def settled() -> bool:
        response = api.get(f"/webhooks/{webhook_id}/deliveries", params={"limit": 100})
        assert response.status_code == 200, response.text
        deliveries = response.json()["data"]
        done = all(d["status"] == "succeeded" for d in deliveries)
        return done and len(receiver.hits) >= len(deliveries)

    wait_for(settled, "every delivery received", WAIT_SECONDS)


def test_starting_and_ending_arrive_once_for_an_event_and_an_occurrence_of_a_series(
    server: LiveServer, receiver: Receiver
) -> None:
    api = new_api(server)
    calendar = Calendar(api)
    webhook = subscribe(api, receiver.url, TIME_TRIGGERS)
    one_off = calendar.create("Stand-up", soon(30), timedelta(seconds=15))
    series, occurrence_id = calendar.series_with_third_soon("Daily check")

    for resource_id in (one_off["id"], occurrence_id):
        starting = wait_hit(receiver, "event.starting", resource_id)
        ending = wait_hit(receiver, "event.ending", resource_id)
        # The data is the event (or occurrence) as GET /calendars/{id}/events/{eventId} shows it.
        assert starting.json["data"] == calendar.get(resource_id)
        assert ending.json["data"]["end"] == calendar.get(resource_id)["end"]
    assert hits_about(receiver, "event.starting", occurrence_id)[0].json["data"]["seriesId"] == series["id"]
    # Only the occurrence in the window: not the series' earlier or later ones.
    assert {hit.json["data"]["id"] for hit in receiver.of_type("event.starting")} == {
        one_off["id"],
        occurrence_id,
    }

    fire_marker(calendar, receiver)
    settle(api, webhook["id"], receiver)
    for resource_id in (one_off["id"], occurrence_id):
        for type_ in TIME_TRIGGERS:
            assert len(hits_about(receiver, type_, resource_id)) == 1, (type_, resource_id)


def test_cancelled_events_and_occurrences_do_not_fire(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    calendar = Calendar(api)
    cancelled_one_off = calendar.create("Called off", soon(30), timedelta(seconds=15), status="cancelled")
    _, overridden = calendar.series_with_third_soon("Cancelled by override")
    patched = api.patch(f"/calendars/{calendar.id}/events/{overridden}", json={"status": "cancelled"})
    assert patched.status_code == 200, patched.text
    _, deleted = calendar.series_with_third_soon("Deleted occurrence")
    removed = api.delete(f"/calendars/{calendar.id}/events/{deleted}", params={"mode": "single"})
    assert removed.status_code == 204, removed.text
    kept = calendar.create("Still on", soon(30), timedelta(seconds=15))
    # Subscribed only now: no scan can have seen the occurrences before they were cancelled.
    webhook = subscribe(api, receiver.url, TIME_TRIGGERS)

    wait_hit(receiver, "event.starting", kept["id"])
    fire_marker(calendar, receiver)
    settle(api, webhook["id"], receiver)
    about = {hit.json["data"]["id"] for hit in receiver.hits}
    assert kept["id"] in about
    assert not about & {cancelled_one_off["id"], overridden, deleted}


def test_a_webhook_for_ending_only_gets_no_starting(server: LiveServer, receiver: Receiver) -> None:
    api = new_api(server)
    calendar = Calendar(api)
    subscribe(api, receiver.url, ["event.ending"])
    event = calendar.create("Short", soon(30), timedelta(seconds=15))
    wait_hit(receiver, "event.ending", event["id"])
    assert receiver.of_type("event.starting") == []


# --- reminders ----------------------------------------------------------------------------------


def first_slot_after(api: Api, event_type: dict[str, Any], after: datetime) -> datetime:
    slots = api.slots(event_type["id"], dates.api_utc(after), dates.api_utc(after + timedelta(days=3)))
    starts = [datetime.fromisoformat(s["start"].replace("Z", "+00:00")) for s in slots]
    return min(start for start in starts if start >= after)


def book(api: Api, event_type: dict[str, Any], start: datetime, email: str) -> dict[str, Any]:
    invitee = {"name": "Ada Lovelace", "email": email, "timezone": "America/New_York"}
    response = api.book(event_type["id"], dates.api_utc(start), duration=30, invitee=invitee)
    assert response.status_code == 201, response.text
    return response.json()


def minutes_until(start: datetime) -> int:
    """Whole minutes m with start - m in the last minute: a reminder m minutes before is due now."""
    return math.floor((start - dates.now()).total_seconds() / 60)


def reminders_to(sink: Sink, email: str) -> list[Any]:
    return [r for r in sink.to(email) if str(r.message["Subject"]).strip().startswith("Reminder:")]


def test_a_booking_reminder_mail_arrives_once(server: LiveServer, sink: Sink) -> None:
    api = new_api(server)
    make_schedule(api, "UTC")
    event_type = make_event_type(api, name="Intro call", durationsMin=[30], slotIntervalMin=30)
    first_start = first_slot_after(api, event_type, dates.now() + timedelta(hours=2))
    ada = f"ada-{secrets.token_hex(4)}@example.com"
    booking = book(api, event_type, first_start, ada)
    invitation = read_invitation(sink.wait_for(ada)[0].message)

    minutes = minutes_until(first_start)
    patched = api.patch(f"/event-types/{event_type['id']}", json={"reminderMinutes": [minutes]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["reminderMinutes"] == [minutes]

    mail = wait_for(lambda: reminders_to(sink, ada), "a reminder", WAIT_SECONDS)[0].message
    assert str(mail["Subject"]).strip().startswith("Reminder: Intro call with ")
    reminder = read_invitation(mail)
    assert reminder.method == "REQUEST"
    # The booking's event as it is: same UID and SEQUENCE as the invitation, nothing to update.
    assert str(reminder.event["UID"]) == str(invitation.event["UID"])
    assert int(reminder.event["SEQUENCE"]) == int(invitation.event["SEQUENCE"])
    hours, rest = divmod(minutes, 60)
    assert f"starts in {hours} hour" in reminder.text and (rest == 0 or f"{rest} minute" in reminder.text)
    local = first_start.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%H:%M}" in reminder.text and "America/New_York" in reminder.text
    assert booking["id"]

    # A second booking reminded later (the marker): the first was still in the scans' window meanwhile.
    second_start = first_slot_after(api, event_type, first_start + timedelta(minutes=30))
    grace = f"grace-{secrets.token_hex(4)}@example.com"
    book(api, event_type, second_start, grace)
    patched = api.patch(
        f"/event-types/{event_type['id']}", json={"reminderMinutes": [minutes, minutes_until(second_start)]}
    )
    assert patched.status_code == 200, patched.text
    wait_for(lambda: reminders_to(sink, grace), "the second reminder", WAIT_SECONDS)
    assert len(reminders_to(sink, ada)) == 1


# --- reminderMinutes over REST ------------------------------------------------------------------


def test_reminder_minutes_are_read_written_and_checked(server: LiveServer) -> None:
    api = new_api(server)
    event_type = make_event_type(api)
    assert event_type["reminderMinutes"] == [1440, 60]
    path = f"/event-types/{event_type['id']}"
    changed = api.patch(path, json={"reminderMinutes": [0, 43200, 15]})
    assert changed.status_code == 200 and changed.json()["reminderMinutes"] == [43200, 15, 0]
    assert api.get(path).json()["reminderMinutes"] == [43200, 15, 0]
    assert api.patch(path, json={"reminderMinutes": []}).json()["reminderMinutes"] == []
    assert api.patch(path, json={"reminderMinutes": None}).json()["reminderMinutes"] == [1440, 60]
    for bad, where, code in (
        ([43201], ["reminderMinutes", "0"], "range"),
        ([-1], ["reminderMinutes", "0"], "range"),
        ([60, 60], ["reminderMinutes", "1"], "duplicate"),
        ([1, 2, 3, 4, 5, 6], ["reminderMinutes"], "too_many"),
    ):
        refused = api.patch(path, json={"reminderMinutes": bad})
        assert refused.status_code == 400, refused.text
        details = [{"path": d["path"], "code": d["code"]} for d in refused.json()["details"]]
        assert {"path": where, "code": code} in details, details
    assert api.get(path).json()["reminderMinutes"] == [1440, 60]
