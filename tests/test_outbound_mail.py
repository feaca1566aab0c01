"""Outgoing iMIP mail, end to end: bookings and REST respond on a live server, the messages received
by a real SMTP server (aiosmtpd) in this process and read as a mail client reads them.

Every server process of one database sends that database's whole queue, with its own relay settings:
so only one server runs on the module's database at a time (the relay-backed one for the class below,
one per test for the other set-ups)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.engine import make_url

from caldee_dav import db
from caldee_dav.models import OutboundMail, event_id_for
from tests import dates
from tests.conftest import (
    BACKGROUND,
    ROOT,
    LiveServer,
    clock_env,
    free_port,
    start_server,
    stop_server,
    wait_for,
)
from tests.scheduling_fixtures import Api, iso, make_event_type, make_schedule, new_api

WAIT_SECONDS = 10.0
DAY = dates.next_weekday(dates.MON, after_days=2)
NEW_YORK = "America/New_York"
MAIL_SENDER = "caledee@localhost"  # the default: mail_from empty, mail_domain localhost


# --- the SMTP sink ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    recipients: list[str]
    message: EmailMessage


REFUSED_PREFIX = "nobody-"


class Sink:
    """An SMTP server on a loopback port keeping every message it is given. Like a real server, it
    refuses recipients it has no mailbox for: those whose address starts with ``REFUSED_PREFIX``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith(REFUSED_PREFIX):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        received = Received(envelope.mail_from, [r.lower() for r in envelope.rcpt_tos], message)  # type: ignore[arg-type]
        with self._lock:
            self._received.append(received)
        return "250 Message accepted"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if address.lower() in r.recipients]

    def wait_for(self, address: str, count: int = 1) -> list[Received]:
        """The messages to ``address`` once there are at least ``count``."""
        return wait_for(
            lambda: (found := self.to(address)) and len(found) >= count and found,
            f"mail to {address}",
            WAIT_SECONDS,
        )


def relay_env(port: int, **more: str) -> dict[str, str]:
    return {
        "CALEDEE_SMTP_HOST": "127.0.0.1",
        "CALEDEE_SMTP_PORT": str(port),
        "CALEDEE_SMTP_SECURITY": "none",
        **more,
    }


@contextmanager
def running(
    database_url: str, log_dir: Path, extra_env: dict[str, str], workers: int = 1
) -> Iterator[LiveServer]:
    server = start_server(database_url, log_dir, workers=workers, extra_env={**BACKGROUND, **extra_env})
    try:
        yield server
    finally:
        stop_server(server)


# --- reading a message as a mail client does ----------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    text: str
    method: str
    calendar: icalendar.Calendar
    attachment: bytes

    @property
    def event(self) -> icalendar.cal.Component:
        events = self.calendar.walk("VEVENT")
        assert len(events) == 1
        return events[0]


def read_invitation(message: EmailMessage) -> Invitation:
    """The RFC 6047 shape: multipart/mixed [multipart/alternative [text/plain, text/calendar], invite.ics]."""
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.get_payload()  # type: ignore[misc]
    assert alternative.get_content_type() == "multipart/alternative"
    plain, calendar_part = alternative.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert calendar_part.get_content_type() == "text/calendar"
    assert calendar_part.get_content_charset() == "utf-8"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    inline = calendar_part.get_content()
    calendar = icalendar.Calendar.from_ical(inline)
    # The same object twice: inline for clients that show invitations, attached for the others.
    assert icalendar.Calendar.from_ical(attachment.get_content()) == calendar
    method = str(calendar_part.get_param("method"))
    assert method == str(calendar["METHOD"])
    return Invitation(plain.get_content(), method, calendar, attachment.get_content())


def emails(component: icalendar.cal.Component, name: str) -> list[str]:
    values = component.get(name, [])
    values = values if isinstance(values, list) else [values]
    return [str(v).lower().removeprefix("mailto:") for v in values]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def host_with_hours(server: LiveServer) -> tuple[Api, dict[str, Any]]:
    api = new_api(server)
    make_schedule(api, "UTC")
    return api, make_event_type(api, name="Intro call")


def an_invitee() -> dict[str, str]:
    return {"name": "Ada Lovelace", "email": f"ada-{secrets.token_hex(4)}@example.com", "timezone": NEW_YORK}


def book(api: Api, event_type: dict[str, Any], start: datetime, **fields: Any) -> dict[str, Any]:
    response = api.book(event_type["id"], start.isoformat(), **fields)
    assert response.status_code == 201, response.text
    return response.json()


def outbox_of(server: LiveServer, log_dir: Path) -> Path:
    """The server's data folder's outbox: the SQLite file's folder, else ./var of its working folder."""
    url = make_url(server.database_url)
    if url.get_backend_name() == "sqlite":
        return Path(str(url.database)).parent / "outbox"
    return log_dir / "var" / "outbox"


def queued_for(database_url: str, booking_id: str) -> list[OutboundMail]:
    with db.read_unit(db.engine_for(database_url)) as session:
        query = (
            select(OutboundMail)
            .where(OutboundMail.booking_id == booking_id)
            .order_by(OutboundMail.created_at)
        )
        return list(session.scalars(query))


# --- through a relay ----------------------------------------------------------------------------


@pytest.fixture(scope="class")
def relay(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Sink]]:
    """A server of two workers (two mail senders claiming from one queue) relaying to a sink."""
    sink = Sink(free_port())
    sink.start()
    try:
        with running(
            database_url, tmp_path_factory.mktemp("relay"), relay_env(sink.port), workers=2
        ) as server:
            yield server, sink
    finally:
        sink.stop()


class TestThroughTheRelay:
    def test_a_booking_invites_the_invitee_and_guests(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api, event_type = host_with_hours(server)
        invitee, guest = an_invitee(), f"guest-{secrets.token_hex(4)}@example.com"
        start = dates.at(DAY, 14)
        booking = book(api, event_type, start, invitee=invitee, guests=[guest])

        (received,) = sink.wait_for(invitee["email"])
        # One message to both: the invitee and the guest are its envelope's recipients.
        assert sorted(received.recipients) == sorted([invitee["email"], guest])
        assert received.mail_from == MAIL_SENDER
        message = received.message
        host = api.account
        assert message["From"].addresses[0].addr_spec == MAIL_SENDER
        assert message["From"].addresses[0].display_name == host.slug.upper()  # the host's name
        assert message["Reply-To"].addresses[0].addr_spec == host.email
        assert {a.addr_spec for a in message["To"].addresses} == {invitee["email"], guest}
        assert message["Auto-Submitted"] == "auto-generated"
        mail_id = message["X-Caledee-Mail"]
        assert mail_id.startswith("mail_") and message["Message-ID"] == f"<{mail_id}@localhost>"
        # (A subject longer than a line is folded; unfolding may leave the fold's space in front.)
        assert message["Subject"].strip().startswith("Booked: Intro call with ")

        invitation = read_invitation(message)
        assert invitation.method == "REQUEST"
        event = invitation.event
        shown = api.get(f"/bookings/{booking['id']}").json()
        assert str(event["UID"]) == shown["uid"] == booking["uid"]
        assert event.decoded("DTSTART") == utc(shown["startAt"]) == start
        assert emails(event, "ORGANIZER") == [host.email]
        assert invitee["email"] in emails(event, "ATTENDEE") and guest in emails(event, "ATTENDEE")
        assert str(event["STATUS"]) == "CONFIRMED"
        # The summary speaks in the invitee's time zone.
        local = start.astimezone(ZoneInfo(NEW_YORK))
        assert f"{local:%H:%M}" in invitation.text and NEW_YORK in invitation.text
        assert "is confirmed" in invitation.text and host.email in invitation.text
        assert guest in invitation.text and invitee["email"] in invitation.text
        # The same event as the host's CalDAV client shows it.
        caldav_event = api.calendar().event_by_uid(booking["uid"]).icalendar_component
        assert caldav_event.decoded("DTSTART") == event.decoded("DTSTART")
        assert int(caldav_event["SEQUENCE"]) == int(event["SEQUENCE"])

    def test_a_pending_booking_says_it_awaits_confirmation(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api = new_api(server)
        make_schedule(api, "UTC")
        event_type = make_event_type(api, requiresConfirmation=True)
        invitee = an_invitee()
        booking = book(api, event_type, dates.at(DAY, 11), invitee=invitee)
        assert booking["status"] == "pending"
        (requested,) = sink.wait_for(invitee["email"])
        invitation = read_invitation(requested.message)
        assert str(invitation.event["STATUS"]) == "TENTATIVE"
        assert "awaits" in invitation.text and "confirmation" in invitation.text

        confirmed = api.post(f"/bookings/{booking['id']}/confirm")
        assert confirmed.status_code == 200, confirmed.text
        later = read_invitation(sink.wait_for(invitee["email"], 2)[1].message)
        assert later.method == "REQUEST" and str(later.event["STATUS"]) == "CONFIRMED"
        assert int(later.event["SEQUENCE"]) > int(invitation.event["SEQUENCE"])

    def test_reschedule_and_cancel_update_the_invitation(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api, event_type = host_with_hours(server)
        invitee = an_invitee()
        booking = book(api, event_type, dates.at(DAY, 10), invitee=invitee)
        first = read_invitation(sink.wait_for(invitee["email"])[0].message)

        new_start = dates.at(DAY + timedelta(days=1), 15)
        moved = api.post(
            f"/bookings/{booking['id']}/reschedule", json={"start": iso(DAY + timedelta(days=1), 15)}
        )
        assert moved.status_code == 200, moved.text
        update = read_invitation(sink.wait_for(invitee["email"], 2)[1].message)
        assert update.method == "REQUEST"
        assert str(update.event["UID"]) == booking["uid"]
        assert int(update.event["SEQUENCE"]) > int(first.event["SEQUENCE"])
        assert update.event.decoded("DTSTART") == new_start
        old_local = dates.at(DAY, 10).astimezone(ZoneInfo(NEW_YORK))
        assert "moved" in update.text and f"{old_local:%H:%M}" in update.text

        canceled = api.delete(f"/bookings/{booking['id']}", params={"reason": "Host is ill"})
        assert canceled.status_code == 200, canceled.text
        received = sink.wait_for(invitee["email"], 3)
        cancellation = read_invitation(received[2].message)
        assert cancellation.method == "CANCEL"
        assert str(cancellation.event["STATUS"]) == "CANCELLED"
        assert str(cancellation.event["UID"]) == booking["uid"]
        assert int(cancellation.event["SEQUENCE"]) > int(update.event["SEQUENCE"])
        assert "cancelled" in cancellation.text and "Host is ill" in cancellation.text
        assert "Cancelled" in received[2].message["Subject"]
        # One message per change, never two (two workers send from one queue).
        assert len(sink.to(invitee["email"])) == 3

    def test_a_refused_booking_sends_nothing(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api, event_type = host_with_hours(server)
        first, refused, later = an_invitee(), an_invitee(), an_invitee()
        book(api, event_type, dates.at(DAY, 12), invitee=first)
        taken = api.book(event_type["id"], dates.at(DAY, 12).isoformat(), invitee=refused)
        assert taken.status_code == 409, taken.text
        book(api, event_type, dates.at(DAY, 13), invitee=later)
        # The queue goes out in order: once the later booking's mail is here, any for the refused one
        # would be too.
        sink.wait_for(later["email"])
        assert len(sink.to(first["email"])) == 1
        assert sink.to(refused["email"]) == []

    def test_a_refused_recipient_is_given_up_at_once(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api, event_type = host_with_hours(server)
        nobody = {**an_invitee(), "email": f"{REFUSED_PREFIX}{secrets.token_hex(4)}@example.com"}
        lost = book(api, event_type, dates.at(DAY, 9), invitee=nobody)
        # Every recipient refused with 5xx: failed at the first attempt, not retried for a day.
        (row,) = wait_for(
            lambda: [m for m in queued_for(server.database_url, lost["id"]) if m.status == "failed"], "failed"
        )
        assert (
            row.attempts == 1
            and "550" in (row.last_error or "")
            and nobody["email"] in (row.last_error or "")
        )
        assert wait_for(lambda: row.id in server.log() and "failed" in server.log(), "a warning in the log")

        # One recipient refused among others: the others get the message.
        invitee, missing = an_invitee(), f"{REFUSED_PREFIX}{secrets.token_hex(4)}@example.com"
        kept = book(api, event_type, dates.at(DAY, 10), invitee=invitee, guests=[missing])
        (received,) = sink.wait_for(invitee["email"])
        assert received.recipients == [invitee["email"]]
        (sent,) = wait_for(
            lambda: [m for m in queued_for(server.database_url, kept["id"]) if m.status == "sent"], "sent"
        )
        assert missing in (sent.last_error or "")

    def test_respond_replies_to_the_organizer(self, relay: tuple[LiveServer, Sink]) -> None:
        server, sink = relay
        api = new_api(server)
        owner = api.account
        calendar_id = api.get("/calendars").json()["data"][0]["id"]
        organizer = f"boss-{secrets.token_hex(4)}@example.com"
        uid = f"invite-{secrets.token_hex(4)}"
        start = dates.at(DAY, 8)
        text = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSEQUENCE:2\r\nDTSTART:{dates.ical_utc(start)}\r\n"
            f"DTEND:{dates.ical_utc(start + timedelta(hours=1))}\r\nSUMMARY:Quarterly review\r\n"
            f"ORGANIZER;CN=The Boss:mailto:{organizer}\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:colleague@example.com\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{owner.email}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        put = requests.put(
            f"{server.url}/dav/{owner.slug}/calendar/{uid}.ics",
            data=text,
            auth=(owner.slug, owner.token),
            headers={"Content-Type": "text/calendar"},
            timeout=30,
        )
        assert put.status_code == 201, put.text
        # Answering an event the owner organizes tells nobody.
        mine = api.post(
            f"/calendars/{calendar_id}/events",
            json={
                "title": "Mine",
                "start": dates.at(DAY, 12).isoformat(),
                "end": dates.at(DAY, 13).isoformat(),
                "attendees": [{"email": owner.email}],
            },
        )
        assert mine.status_code == 201, mine.text
        assert (
            api.post(
                f"/calendars/{calendar_id}/events/{mine.json()['id']}/respond", json={"response": "declined"}
            ).status_code
            == 200
        )

        answered = api.post(
            f"/calendars/{calendar_id}/events/{event_id_for(uid)}/respond", json={"response": "accepted"}
        )
        assert answered.status_code == 200, answered.text

        (received,) = sink.wait_for(organizer)
        assert received.recipients == [organizer]
        assert received.message["Reply-To"].addresses[0].addr_spec == owner.email
        assert received.message["Subject"] == "Accepted: Quarterly review"
        reply = read_invitation(received.message)
        assert reply.method == "REPLY"
        event = reply.event
        assert (str(event["UID"]), int(event["SEQUENCE"])) == (uid, 2)
        assert emails(event, "ORGANIZER") == [organizer]
        assert emails(event, "ATTENDEE") == [owner.email]  # only the one who answers
        assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
        assert event.decoded("DTSTART") == start
        assert "accepted" in reply.text and "Quarterly review" in reply.text
        assert sink.to(owner.email) == []


# --- other set-ups: one server each -------------------------------------------------------------


def test_mail_queued_while_the_relay_is_down_arrives_when_it_is_back(
    database_url: str, tmp_path: Path
) -> None:
    sink = Sink(free_port())  # its port, not listening yet: the relay is down
    env = relay_env(sink.port, CALEDEE_MAIL_RETRY_BASE_SECONDS="1")
    with running(database_url, tmp_path, env) as server:
        api, event_type = host_with_hours(server)
        invitee = an_invitee()
        booking = book(api, event_type, dates.at(DAY, 9), invitee=invitee)
        # The booking stands although its mail could not go; the first attempt failed and says why.
        tried = wait_for(
            lambda: [m for m in queued_for(database_url, booking["id"]) if m.attempts >= 1 and m.last_error],
            "failed first attempt",
        )
        assert tried[0].status == "pending" and "relay 127.0.0.1" in (tried[0].last_error or "")
        sink.start()
        try:
            (received,) = sink.wait_for(invitee["email"])
            assert str(read_invitation(received.message).event["UID"]) == booking["uid"]
        finally:
            sink.stop()
        sent = wait_for(
            lambda: [m for m in queued_for(database_url, booking["id"]) if m.status == "sent"], "sent row"
        )
        assert sent[0].attempts >= 2 and sent[0].sent_at is not None


def test_without_a_relay_messages_are_written_to_the_outbox(database_url: str, tmp_path: Path) -> None:
    with running(database_url, tmp_path, {}) as server:
        api, event_type = host_with_hours(server)
        invitee = an_invitee()
        booking = book(api, event_type, dates.at(DAY, 16), invitee=invitee)
        outbox = outbox_of(server, tmp_path)

        def written() -> list[Path]:
            found = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
            return [path for path in found if invitee["email"] in path.read_text()]

        (path,) = wait_for(written, f".eml file in {outbox}")
        # Marked sent just after the file is in place.
        (row,) = wait_for(
            lambda: [m for m in queued_for(database_url, booking["id"]) if m.status == "sent"], "sent"
        )
    assert path.name == f"{row.created_at:%Y%m%dT%H%M%SZ}-{row.id}.eml"
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["X-Caledee-Mail"] == row.id
    invitation = read_invitation(message)  # type: ignore[arg-type]
    assert invitation.method == "REQUEST" and str(invitation.event["UID"]) == booking["uid"]
    assert list(outbox.glob(".*.tmp")) == []  # written under a temporary name, then renamed


def test_caledee_mail_send_delivers_what_is_due(database_url: str, tmp_path: Path) -> None:
    """An operator's run: the mail a server queued but could not send goes out with `caledee mail send`."""
    unreachable = relay_env(free_port(), CALEDEE_MAIL_RETRY_BASE_SECONDS="3600")
    with running(database_url, tmp_path, unreachable) as server:
        api, event_type = host_with_hours(server)
        invitee = an_invitee()
        booking = book(api, event_type, dates.at(DAY, 15), invitee=invitee)
        wait_for(
            lambda: [m for m in queued_for(database_url, booking["id"]) if m.last_error], "failed attempt"
        )
    # The server is gone and the retry is an hour away: make the message due now, as the hour passing
    # would, and send it with the command against a relay that is up.
    with db.write_unit(db.engine_for(database_url)) as session:
        for row in session.scalars(select(OutboundMail).where(OutboundMail.booking_id == booking["id"])):
            row.next_attempt_at = dates.now()
    sink = Sink(free_port())
    sink.start()
    try:
        env = {**relay_env(sink.port), **clock_env(), "CALEDEE_DATABASE_URL": database_url}
        env["CALEDEE_CONFIG"] = str(tmp_path / "absent.toml")
        done = subprocess.run(
            [sys.executable, "-m", "caldee_dav.cli", "mail", "send"],
            cwd=ROOT,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("CALEDEE_")}, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert f"Sent 1 message(s) to relay 127.0.0.1:{sink.port}" in done.stdout
        (received,) = sink.to(invitee["email"])  # delivered before the command returned
        assert str(read_invitation(received.message).event["UID"]) == booking["uid"]
    finally:
        sink.stop()
