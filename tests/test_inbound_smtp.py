"""Invitations mailed to a calendar with smtplib, through `caledee inbound`, checked over REST and
CalDAV: creation, series updates (in and out of order), one-occurrence updates and cancellations, whole
cancellations, replies to bookings, re-deliveries, spoofed senders and hostile messages."""

from __future__ import annotations

import gzip
import os
import shutil
import smtplib
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from tests import dates, imip_fixtures
from tests.conftest import InboundServer, LiveServer, start_inbound, stop_inbound
from tests.scheduling_fixtures import Api, make_event_type, make_schedule, new_api

ORGANIZER = "alex@example.net"
PACIFIC = ZoneInfo("America/Los_Angeles")
SMALL_LIMIT = 600_000


@pytest.fixture(scope="module")
def inbound(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InboundServer]:
    server = start_inbound(
        live_server.database_url,
        tmp_path_factory.mktemp("inbound"),
        extra_env={"CALEDEE_INBOUND_MAX_MESSAGE_BYTES": str(SMALL_LIMIT)},
    )
    yield server
    stop_inbound(server)


@pytest.fixture
def api(live_server: LiveServer) -> Api:
    return new_api(live_server)


# --- building messages ------------------------------------------------------------------------


def stamp(minutes: int = 0) -> str:
    return (dates.now() + timedelta(minutes=minutes)).strftime("%Y%m%dT%H%M%SZ")


def vevent(
    uid: str,
    start: datetime,
    *,
    tzid: str = "Pacific Standard Time",
    minutes: int = 60,
    rrule: str | None = "FREQ=WEEKLY;COUNT=4",
    sequence: int = 0,
    dtstamp: str | None = None,
    summary: str = "Weekly sync",
    organizer: str = ORGANIZER,
    attendees: tuple[str, ...] = (),
    recurrence_id: datetime | None = None,
    status: str | None = None,
) -> str:
    def local(moment: datetime) -> str:
        return moment.strftime("%Y%m%dT%H%M%S")

    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{dtstamp or stamp()}",
        f"DTSTART;TZID={tzid}:{local(start)}",
        f"DTEND;TZID={tzid}:{local(start + timedelta(minutes=minutes))}",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{summary}",
        f"ORGANIZER;CN=Alex:mailto:{organizer}",
    ]
    if rrule and recurrence_id is None:
        lines.append(f"RRULE:{rrule}")
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID;TZID={tzid}:{local(recurrence_id)}")
    if status:
        lines.append(f"STATUS:{status}")
    lines += [f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}" for a in attendees]
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def calendar_text(method: str, *events: str) -> str:
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Mail//EN", f"METHOD:{method}"]
    return "\r\n".join([*head, *events, "END:VCALENDAR", ""])


def message(
    ics: str | bytes,
    *,
    to: str,
    sender: str = ORGANIZER,
    method: str | None = None,
    message_id: str | None = None,
    subject: str = "Invitation: Weekly sync",
    headers: dict[str, str] | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Alex <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{message_id or uuid.uuid4()}@example.net>"
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content("You have been invited.")
    body = ics.encode() if isinstance(ics, str) else ics
    params = {"method": method} if method else {}
    mail.add_attachment(body, maintype="text", subtype="calendar", params=params, filename="invite.ics")
    return wire(mail)


def wire(mail: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends (smtplib sends bytes as they are)."""
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n"))


def send(server: InboundServer, raw: bytes, to: str, sender: str = ORGANIZER) -> tuple[int, str]:
    """The server's answer to DATA: (code, text), text naming each recipient's outcome."""
    with smtplib.SMTP(server.host, server.port, timeout=30) as client:
        client.ehlo()
        client.mail(sender)
        code, reply = client.rcpt(to)
        assert code == 250, reply
        code, reply = client.data(raw)
        return code, reply.decode()


# --- reading the calendar ---------------------------------------------------------------------


def my_calendar(api: Api) -> dict[str, Any]:
    response = api.get("/calendars")
    assert response.status_code == 200, response.text
    return next(c for c in response.json()["data"] if c["slug"] == "calendar")


def occurrences(api: Api, calendar_id: str, around: datetime, days: int = 60) -> list[dict[str, Any]]:
    params = {
        "start": (around - timedelta(days=2)).astimezone(UTC).isoformat(),
        "end": (around + timedelta(days=days)).astimezone(UTC).isoformat(),
        "limit": 200,
    }
    response = api.get(f"/calendars/{calendar_id}/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def starts(events: list[dict[str, Any]], *, status: str | None = None) -> list[datetime]:
    return [utc(e["start"]) for e in events if status is None or e["status"] == status]


def monday_at(hour: int) -> datetime:
    """9:00 etc. Pacific time on a Monday two weeks or more ahead (naive: the invitation's local time)."""
    return datetime.combine(dates.next_weekday(dates.MON, after_days=14), datetime.min.time()).replace(
        hour=hour
    )


def pacific_utc(local: datetime) -> datetime:
    return local.replace(tzinfo=PACIFIC).astimezone(UTC)


def weekly(local: datetime, count: int = 4) -> list[datetime]:
    return [pacific_utc(local + timedelta(weeks=n)) for n in range(count)]


# --- invitations ------------------------------------------------------------------------------


def test_an_outlook_invitation_appears_over_rest_and_caldav(inbound: InboundServer, api: Api) -> None:
    calendar = my_calendar(api)
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"
    ics = calendar_text("REQUEST", vevent(uid, first, attendees=(calendar["inboundEmail"],)))
    code, reply = send(
        inbound, message(ics, to=calendar["inboundEmail"], method="REQUEST"), calendar["inboundEmail"]
    )
    assert code == 250 and "created" in reply
    # Windows' "Pacific Standard Time" is America/Los_Angeles: 9:00 local every week, across DST.
    assert starts(occurrences(api, calendar["id"], pacific_utc(first))) == weekly(first)
    found = api.calendar().search(
        event=True,
        expand=False,
        start=pacific_utc(first) - timedelta(days=1),
        end=pacific_utc(first) + timedelta(days=30),
    )
    texts = [item.data for item in found]
    assert any(uid in text for text in texts)
    stored = icalendar.Calendar.from_ical(next(t for t in texts if uid in t))
    assert "METHOD" not in stored  # a stored object is no iTIP message
    event = next(c for c in stored.walk("VEVENT"))
    assert str(event["DTSTART"].params["TZID"]) == "America/Los_Angeles"


def test_updates_apply_in_sequence_order_and_a_stale_one_is_ignored(inbound: InboundServer, api: Api) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"

    def request(hour: int, sequence: int, minutes_later: int) -> tuple[int, str]:
        ics = calendar_text(
            "REQUEST", vevent(uid, first.replace(hour=hour), sequence=sequence, dtstamp=stamp(minutes_later))
        )
        return send(inbound, message(ics, to=address), address)

    assert "created" in request(9, 0, 0)[1]
    assert "updated" in request(11, 2, 2)[1]
    # Sequence 1 arrives last (mail is not ordered): it is older than what the calendar holds.
    code, reply = request(10, 1, 1)
    assert code == 250 and "ignored" in reply
    assert starts(occurrences(api, calendar["id"], pacific_utc(first))) == weekly(first.replace(hour=11))
    # Same SEQUENCE, later DTSTAMP: newer (RFC 5546 2.1.5).
    assert "updated" in request(12, 2, 3)[1]
    assert starts(occurrences(api, calendar["id"], pacific_utc(first))) == weekly(first.replace(hour=12))
    # The owner's log tells each message's fate, newest first, the stale one with why.
    log = api.get(f"/calendars/{calendar['id']}/inbound-messages")
    assert log.status_code == 200, log.text
    entries = log.json()["data"]
    assert [e["outcome"] for e in entries] == ["updated", "ignored", "updated", "created"]
    assert {e["via"] for e in entries} == {"smtp"} and {e["method"] for e in entries} == {"REQUEST"}
    assert all(e["uids"] == [uid] and e["from"] == ORGANIZER for e in entries)
    assert "SEQUENCE 1" in entries[1]["reason"] and "not newer" in entries[1]["reason"]


def test_one_occurrence_updated_then_cancelled_then_the_whole_series(
    inbound: InboundServer, api: Api
) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"
    send(inbound, message(calendar_text("REQUEST", vevent(uid, first)), to=address), address)

    second, third = first + timedelta(weeks=1), first + timedelta(weeks=2)
    # Outlook sends a moved occurrence as a REQUEST holding that occurrence alone.
    moved = vevent(uid, second.replace(hour=14), recurrence_id=second, sequence=1, summary="Moved sync")
    assert "updated" in send(inbound, message(calendar_text("REQUEST", moved), to=address), address)[1]
    cancel_third = vevent(uid, third, recurrence_id=third, sequence=1, status="CANCELLED")
    code, reply = send(inbound, message(calendar_text("CANCEL", cancel_third), to=address), address)
    assert code == 250 and "cancelled" in reply

    events = occurrences(api, calendar["id"], pacific_utc(first))
    by_start = {utc(e["start"]): e for e in events}
    assert pacific_utc(second.replace(hour=14)) in by_start
    assert by_start[pacific_utc(second.replace(hour=14))]["title"] == "Moved sync"
    assert by_start[pacific_utc(third)]["status"] == "cancelled"  # kept, marked: clients show it
    assert [
        by_start[pacific_utc(first)]["status"],
        by_start[pacific_utc(first + timedelta(weeks=3))]["status"],
    ] == [
        "confirmed",
        "confirmed",
    ]

    whole = vevent(uid, first, sequence=2, status="CANCELLED")
    assert "cancelled" in send(inbound, message(calendar_text("CANCEL", whole), to=address), address)[1]
    events = occurrences(api, calendar["id"], pacific_utc(first))
    assert len(events) == 4 and {e["status"] for e in events} == {"cancelled"}


def test_a_stranger_cannot_cancel_or_move_someone_elses_meeting(inbound: InboundServer, api: Api) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"
    send(inbound, message(calendar_text("REQUEST", vevent(uid, first)), to=address), address)

    spoof = "mallory@evil.example"
    cancel = calendar_text("CANCEL", vevent(uid, first, sequence=5, status="CANCELLED"))
    code, reply = send(inbound, message(cancel, to=address, sender=spoof), address, sender=spoof)
    assert code == 250 and "rejected" in reply
    move = calendar_text("REQUEST", vevent(uid, first.replace(hour=7), sequence=5))
    assert "rejected" in send(inbound, message(move, to=address, sender=spoof), address, sender=spoof)[1]
    events = occurrences(api, calendar["id"], pacific_utc(first))
    assert starts(events) == weekly(first) and {e["status"] for e in events} == {"confirmed"}


def test_a_redelivered_message_changes_nothing(inbound: InboundServer, api: Api) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"
    message_id = str(uuid.uuid4())
    raw = message(calendar_text("REQUEST", vevent(uid, first)), to=address, message_id=message_id)
    assert "created" in send(inbound, raw, address)[1]
    assert "created" in send(inbound, raw, address)[1]  # the first delivery's outcome, re-told
    # Same Message-ID, other content: a re-delivery is recognised by its id, so nothing is applied.
    other = message(
        calendar_text("REQUEST", vevent(uid, first.replace(hour=15), sequence=3)),
        to=address,
        message_id=message_id,
    )
    send(inbound, other, address)
    assert starts(occurrences(api, calendar["id"], pacific_utc(first))) == weekly(first)


def test_a_forwarded_invitation_is_added(inbound: InboundServer, api: Api) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(13)
    uid = f"{uuid.uuid4()}@example.net"
    original = message(calendar_text("REQUEST", vevent(uid, first, rrule=None)), to="bea@example.org")
    forward = EmailMessage()
    forward["From"] = "Bea <bea@example.org>"
    forward["To"] = address
    forward["Subject"] = "Fwd: Invitation: Weekly sync"
    forward["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    forward.set_content("FYI, please add this.")
    forward.add_attachment(message_from_bytes(original, policy=policy.default))
    code, reply = send(inbound, wire(forward), address, sender="bea@example.org")
    assert code == 250 and "created" in reply
    assert starts(occurrences(api, calendar["id"], pacific_utc(first))) == [pacific_utc(first)]


def test_counter_proposals_auto_replies_and_plain_mail_change_nothing(
    inbound: InboundServer, api: Api
) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    first = monday_at(9)
    uid = f"{uuid.uuid4()}@example.net"
    counter = calendar_text("COUNTER", vevent(uid, first, rrule=None))
    assert "ignored" in send(inbound, message(counter, to=address), address)[1]
    auto = message(
        calendar_text("REQUEST", vevent(uid, first, rrule=None)),
        to=address,
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert "ignored" in send(inbound, auto, address)[1]
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = ORGANIZER, address, "Lunch?"
    plain.set_content("No calendar here.")
    assert "ignored" in send(inbound, wire(plain), address)[1]
    assert occurrences(api, calendar["id"], pacific_utc(first)) == []
    # The log keeps the proposal (its time in UTC) and why each message changed nothing.
    entries = api.get(f"/calendars/{calendar['id']}/inbound-messages").json()["data"]
    reasons = [e["reason"] for e in reversed(entries)]
    assert "proposal" in reasons[0] and pacific_utc(first).strftime("%Y-%m-%dT%H:%M:%SZ") in reasons[0]
    assert "Auto-Submitted: auto-replied" in reasons[1] and "no calendar data" in reasons[2]


# --- replies to bookings ----------------------------------------------------------------------


def test_an_invitees_reply_to_a_booking_sets_their_answer(
    inbound: InboundServer, live_server: LiveServer
) -> None:
    host = new_api(live_server)
    make_schedule(host, "UTC")
    event_type = make_event_type(host)
    day = dates.next_weekday(dates.TUE, after_days=7)
    start = dates.at(day, 10)
    booked = host.book(event_type["id"], start.isoformat())
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    calendar = my_calendar(host)
    address = calendar["inboundEmail"]
    event = next(e for e in occurrences(host, calendar["id"], start, days=2) if utc(e["start"]) == start)
    uid = event["uid"] if "uid" in event else booking["uid"]

    def reply(sender: str, partstat: str) -> tuple[int, str]:
        ics = calendar_text(
            "REPLY",
            "\r\n".join(
                [
                    "BEGIN:VEVENT",
                    f"UID:{uid}",
                    f"DTSTAMP:{stamp()}",
                    f"DTSTART:{start.strftime('%Y%m%dT%H%M%SZ')}",
                    f"ORGANIZER:mailto:{host.account.email}",
                    f"ATTENDEE;PARTSTAT={partstat}:mailto:{sender}",
                    "SEQUENCE:0",
                    "END:VEVENT",
                ]
            ),
        )
        return send(inbound, message(ics, to=address, sender=sender, method="REPLY"), address, sender=sender)

    # Someone else cannot answer for the invitee.
    assert "rejected" in reply("mallory@evil.example", "DECLINED")[1]
    code, text = reply("ada@example.com", "ACCEPTED")
    assert code == 250 and "replied" in text

    def invitee_partstat() -> str:
        found = host.calendar().event_by_uid(uid)
        vevent_ = next(c for c in icalendar.Calendar.from_ical(found.data).walk("VEVENT"))
        attendees = vevent_.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        return next(str(a.params["PARTSTAT"]) for a in attendees if "ada@example.com" in str(a).lower())

    assert invitee_partstat() == "ACCEPTED"
    # The answer is the booking's: a reschedule rebuilds the event and keeps it.
    moved = host.post(
        f"/bookings/{booking['id']}/reschedule", json={"start": (start + timedelta(hours=2)).isoformat()}
    )
    assert moved.status_code == 200, moved.text
    assert invitee_partstat() == "ACCEPTED"


# --- bad input --------------------------------------------------------------------------------


def test_unknown_recipients_and_oversized_messages_are_refused_in_the_envelope(
    inbound: InboundServer, api: Api
) -> None:
    address = my_calendar(api)["inboundEmail"]
    with smtplib.SMTP(inbound.host, inbound.port, timeout=30) as client:
        client.ehlo()
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == SMALL_LIMIT
        client.mail(ORGANIZER)
        assert client.rcpt("cal-0000000000000000@localhost")[0] == 550
        assert client.rcpt("someone@elsewhere.example")[0] == 550
        assert client.rcpt(address)[0] == 250
        code, _ = client.data(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * (SMALL_LIMIT // 70 + 10))
        assert code == 552


def test_a_new_calendar_takes_mail_at_once_and_a_deleted_one_keeps_none(
    inbound: InboundServer, api: Api
) -> None:
    """The server remembers the calendar addresses it found at RCPT: a calendar made after others got
    mail is still found at once (an address not found is never remembered: a 550 is not retried), and
    mail reaching a deleted calendar's remembered address is answered without storing anything."""
    address = my_calendar(api)["inboundEmail"]
    made = api.post("/calendars", json={"name": "Later"})
    assert made.status_code == 201, made.text
    later = made.json()
    ics = calendar_text("REQUEST", vevent(f"{uuid.uuid4()}@example.net", monday_at(9)))
    for to in (address, later["inboundEmail"]):
        code, reply = send(inbound, message(ics, to=to, method="REQUEST"), to)
        assert code == 250 and "created" in reply, reply
    assert api.delete(f"/calendars/{later['id']}").status_code == 204
    with smtplib.SMTP(inbound.host, inbound.port, timeout=30) as client:
        client.ehlo()
        client.mail(ORGANIZER)
        code, _ = client.rcpt(later["inboundEmail"])
        if code == 250:  # remembered from the first message: the DATA reply says where it went
            code, reply = client.data(message(ics, to=later["inboundEmail"], method="REQUEST"))
            assert code == 250 and "no such calendar" in reply.decode()
        else:
            assert code == 550
    assert api.get(f"/calendars/{later['id']}").status_code == 404


def _many_components(address: str) -> bytes:
    """More components than an object may hold (1,000 by default), each one small."""
    start = dates.at(dates.days_ahead(20), 9).strftime("%Y%m%dT%H%M%SZ")
    events = [
        f"BEGIN:VEVENT\r\nUID:{n}@bulk.example\r\nDTSTAMP:{stamp()}\r\nDTSTART:{start}\r\nEND:VEVENT"
        for n in range(1200)
    ]
    return message(calendar_text("REQUEST", *events), to=address)


def _deep_mime(address: str) -> bytes:
    level = b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    return b"To: " + address.encode() + b"\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + level * 500


def _zip_bomb(address: str) -> bytes:
    bomb = EmailMessage()
    bomb["From"], bomb["To"], bomb["Subject"] = ORGANIZER, address, "invite"
    bomb.set_content("zipped")
    zeros = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    bomb.add_attachment(zeros, maintype="application", subtype="gzip", filename="invite.ics.gz")
    return wire(bomb)


def _endless_rule(address: str) -> bytes:
    uid = f"{uuid.uuid4()}@x.example"
    return message(calendar_text("REQUEST", vevent(uid, monday_at(9), rrule="FREQ=SECONDLY")), to=address)


def _bad_header_bytes(address: str) -> bytes:
    head = b"From: \xff\xfe <alex@example.net>\r\nSubject: \xc3\x28\xff\r\nTo: " + address.encode()
    return head + b"\r\n\r\nhello\r\n"


MALFORMED = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nDTSTART:nonsense\r\n"
HOSTILE: dict[str, Any] = {
    "malformed iCalendar": lambda address: message(MALFORMED, to=address),
    "thousands of components": _many_components,
    "a rule without end, every second": _endless_rule,
    # Random bytes in lines (a line without end is a protocol error: 500 before anything is read).
    "binary garbage": lambda address: b"\r\n".join(os.urandom(70) for _ in range(300)),
    "garbage as the calendar": lambda address: message(os.urandom(5000), to=address),
    "non-UTF-8 header bytes": _bad_header_bytes,
    "MIME nested 500 deep": _deep_mime,
    "a zip bomb": _zip_bomb,
    # PostgreSQL text cannot hold a NUL: refused as calendar data, never a failed transaction.
    "a NUL in the calendar": lambda address: message(
        calendar_text("REQUEST", vevent(f"{uuid.uuid4()}@x.example", monday_at(9), summary="Sync\x00")),
        to=address,
    ),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_messages_are_answered_and_write_nothing(inbound: InboundServer, api: Api, kind: str) -> None:
    calendar = my_calendar(api)
    address = calendar["inboundEmail"]
    raw = HOSTILE[kind](address)
    assert len(raw) < SMALL_LIMIT  # refused in the envelope otherwise: the 552 test covers that
    code, reply = send(inbound, raw, address)
    assert code == 250, reply
    assert "rejected" in reply or "ignored" in reply
    assert occurrences(api, calendar["id"], pacific_utc(monday_at(9)), days=300) == []
    # The server still takes good mail.
    uid = f"{uuid.uuid4()}@example.net"
    good = message(calendar_text("REQUEST", vevent(uid, monday_at(9), rrule=None)), to=address)
    assert "created" in send(inbound, good, address)[1]


# --- each sender's shape ----------------------------------------------------------------------


def test_every_senders_invitations_apply_as_catalogued(
    inbound: InboundServer, live_server: LiveServer
) -> None:
    """The fixtures of tests/imip_fixtures.py (Google, Outlook/Teams, iCloud, Zoom, Thunderbird, Fastmail
    and the odd ones), sent in catalogue order to one calendar: each message's outcome, and the events
    the calendar then shows, are the ones catalogued."""
    host = new_api(live_server)
    make_schedule(host, "UTC")
    event_type = make_event_type(host)
    base = imip_fixtures.base_day()
    booked_at = dates.at(base + timedelta(days=2), 15)
    booked = host.book(
        event_type["id"],
        booked_at.isoformat(),
        invitee={"name": "Carol", "email": imip_fixtures.BOOKING_ATTENDEE, "timezone": "UTC"},
    )
    assert booked.status_code == 201, booked.text
    booking_uid = booked.json()["uid"]
    calendar = my_calendar(host)
    address = calendar["inboundEmail"]
    for name, fixture in imip_fixtures.FIXTURES.items():
        values = {}
        if fixture.uid == imip_fixtures.BOOKING_UID:
            values = {"uid": booking_uid, "ORGANIZER": host.account.email}
        raw = imip_fixtures.render(name, to=address, base_day=base, **values)
        code, reply = send(inbound, raw, address, sender=fixture.sender)
        assert code == 250, (name, reply)
        assert f"{address}: {fixture.status}" in reply, (name, reply)
        expected = fixture.expected_starts(base)
        if not expected or fixture.status == imip_fixtures.IGNORED or fixture.method == "REPLY":
            continue
        shown = occurrences(host, calendar["id"], expected[0], days=45)
        if fixture.all_day:
            assert expected[0].date().isoformat() in [e["start"][:10] for e in shown if e["allDay"]], name
            continue
        by_start = {utc(e["start"]): e for e in shown if e["title"] == fixture.summary}
        for start in expected:
            assert start in by_start, (name, start, sorted(by_start))
            wanted = "cancelled" if fixture.status == imip_fixtures.CANCELLED else "confirmed"
            assert by_start[start]["status"] == wanted, (name, start, by_start[start])


# --- STARTTLS ---------------------------------------------------------------------------------


def test_starttls_with_a_configured_certificate(live_server: LiveServer, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to offer STARTTLS with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    server = start_inbound(
        live_server.database_url,
        tmp_path,
        extra_env={"CALEDEE_INBOUND_TLS_CERT": str(cert), "CALEDEE_INBOUND_TLS_KEY": str(key)},
    )
    try:
        api = new_api(live_server)
        calendar = my_calendar(api)
        address = calendar["inboundEmail"]
        uid = f"{uuid.uuid4()}@example.net"
        raw = message(calendar_text("REQUEST", vevent(uid, monday_at(9), rrule=None)), to=address)
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False  # the certificate names localhost; we dial 127.0.0.1
        with smtplib.SMTP(server.host, server.port, timeout=30) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            client.mail(ORGANIZER)
            assert client.rcpt(address)[0] == 250
            code, reply = client.data(raw)
        assert code == 250 and b"created" in reply
        assert starts(occurrences(api, calendar["id"], pacific_utc(monday_at(9)))) == [
            pacific_utc(monday_at(9))
        ]
    finally:
        stop_inbound(server)
