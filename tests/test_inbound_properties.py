"""Random mutations of real invitations (MIME structure, headers, transfer encodings, iCalendar lines)
through the inbound pipeline (``inbound.reader`` + ``inbound.pipeline``, in this process, against a
real SQLite file): never an unhandled exception, never a write on a rejected or ignored message, and
every stored object still a valid calendar object."""

from __future__ import annotations

import secrets
from pathlib import Path

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from caldee_dav import db
from caldee_dav.calendars import accounts
from caldee_dav.config import load_settings
from caldee_dav.models import CalendarObject, Collection
from caldee_dav.scheduling.inbound_mail import OUTCOMES
from caldee_dav.schema import migrate
from inbound import pipeline
from inbound.reader import read_mail
from tests import imip_fixtures

# iCalendar lines a careless or hostile sender may put anywhere.
HOSTILE_LINES = [
    "RRULE:FREQ=SECONDLY",
    "RRULE:FREQ=MINUTELY;INTERVAL=0",
    "RRULE:FREQ=DAILY;COUNT=99999999999",
    "RRULE:FREQ=YEARLY;BYSETPOS=0;BYDAY=MO",
    "RDATE:19000101T000000Z,99991231T000000Z",
    "EXDATE;TZID=Nowhere/Special:20270101T090000",
    "DTSTART;TZID=Pacific Standard Time:20271301T250000",
    "DTSTART:00000000T000000",
    "DTSTART;VALUE=DATE:20270230",
    "DTEND:19700101T000000Z",
    "DURATION:-P10000W",
    "SEQUENCE:-5",
    "SEQUENCE:99999999999999999999",
    "DTSTAMP:garbage",
    "RECURRENCE-ID:20270104T090000Z",
    "RECURRENCE-ID;RANGE=THISANDFUTURE:20270104",
    "UID:",
    "UID:" + "x" * 3000,
    "ORGANIZER:mailto:",
    "ORGANIZER:mailto:mallory@evil.example",
    "ATTENDEE;PARTSTAT=\x00:mailto:a@b",
    "METHOD:CANCEL",
    "METHOD:REPLY",
    "METHOD:COUNTER",
    "STATUS:CANCELLED",
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VTIMEZONE",
    "END:VCALENDAR",
    "BEGIN:VALARM",
    "X-WR-TIMEZONE:Mars/Olympus",
    "X-WR-TIMEZONE:Europe/Berlin",
    "SUMMARY:\udcff",
    " folded continuation",
    "",
]
HEADER_MUTATIONS = [
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Type: text/calendar; charset=unknown-8bit; method=REQUEST",
    b"Content-Type: text/calendar; charset=utf-16",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Transfer-Encoding: x-uuencode",
    b"Auto-Submitted: auto-replied",
    b"X-Caledee-Mail: mail_0",
    b"Message-ID:",
    b"From: \xff\xfe",
    b"From: <>",
    b"Subject: =?utf-8?b?////?=",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    path: Path = tmp_path_factory.mktemp("properties") / "caledee.db"
    url = f"sqlite:///{path}"
    engine = db.engine_for(url)
    migrate(engine)
    with db.write_unit(engine) as session:
        user = accounts.create_user(
            session,
            email="owner@example.com",
            slug="owner",
            password=secrets.token_urlsafe(12),
            timezone="UTC",
        )
        calendar = accounts.create_calendar(session, user, name="Calendar", slug="calendar")
        address = accounts.inbound_address(calendar, "localhost")
        calendar_id = calendar.id
    settings = load_settings(
        environ={"CALEDEE_DATABASE_URL": url, "CALEDEE_CONFIG": str(path.with_suffix(".toml"))}
    )
    return engine, settings, address, calendar_id


SEEDS = [name for name, fixture in imip_fixtures.FIXTURES.items() if fixture.method]


def mutated_calendar_lines(raw: bytes, inserts: list[tuple[int, str]], drops: list[int]) -> bytes:
    """Lines dropped from and inserted into the first calendar the message shows in plain text (the
    whole message when its calendars are all base64)."""
    lines = raw.split(b"\r\n")
    first, last = 0, len(lines)
    if b"BEGIN:VCALENDAR" in lines and b"END:VCALENDAR" in lines:
        first = lines.index(b"BEGIN:VCALENDAR") + 1
        last = lines.index(b"END:VCALENDAR", first)
    for index in sorted({first + i % max(last - first, 1) for i in drops}, reverse=True):
        if first <= index < last:
            del lines[index]
            last -= 1
    for index, line in inserts:
        lines.insert(first + index % (last - first + 1), line.encode("utf-8", "surrogateescape"))
        last += 1
    return b"\r\n".join(lines)


@st.composite
def messages(draw: st.DrawFn, address: str) -> bytes:
    name = draw(st.sampled_from(SEEDS))
    raw = imip_fixtures.render(name, to=address, base_day=imip_fixtures.base_day())
    inserts = draw(
        st.lists(
            st.tuples(
                st.integers(0, 500),
                st.one_of(st.sampled_from(HOSTILE_LINES), st.text(max_size=80)),
            ),
            max_size=6,
        )
    )
    drops = draw(st.lists(st.integers(0, 500), max_size=4))
    raw = mutated_calendar_lines(raw, inserts, drops)
    # Most examples change the calendar only, so that they reach the iTIP rules; the rest break the
    # message around it too.
    mode = draw(st.sampled_from(["calendar"] * 6 + ["headers", "truncated", "bytes"]))
    if mode == "headers":
        for header in draw(st.lists(st.sampled_from(HEADER_MUTATIONS), min_size=1, max_size=2)):
            raw = header + b"\r\n" + raw
    elif mode == "truncated":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif mode == "bytes":
        data = bytearray(raw)
        for position, value in draw(
            st.lists(st.tuples(st.integers(0, len(raw)), st.integers(0, 255)), max_size=5)
        ):
            data[position % len(data)] = value
        raw = bytes(data)
    return raw


def snapshot(engine, calendar_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with db.read_unit(engine) as session:
        revision = session.scalar(select(Collection.revision).where(Collection.id == calendar_id))
        count = session.scalar(select(func.count()).where(CalendarObject.collection_id == calendar_id))
        return int(revision or 0), int(count or 0)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(data=st.data())
def test_mutated_invitations_never_crash_nor_half_write(store: tuple, data: st.DataObject) -> None:
    engine, settings, address, calendar_id = store
    raw = data.draw(messages(address))
    before = snapshot(engine, calendar_id)
    mail = read_mail(raw, "smtp")
    deliveries = pipeline.deliver_to_addresses(engine, settings, mail, [address])
    assert len(deliveries) == 1 and deliveries[0].logged is not None
    row = deliveries[0].logged.row
    assert row.outcome in OUTCOMES
    after = snapshot(engine, calendar_id)
    if row.outcome in ("ignored", "rejected") or deliveries[0].logged.duplicate:
        assert after == before, (row.outcome, row.reason)
    with db.read_unit(engine) as session:
        texts = session.scalars(
            select(CalendarObject.text).where(CalendarObject.collection_id == calendar_id)
        )
        for text in texts:
            parsed = icalendar.Calendar.from_ical(text)
            assert "METHOD" not in parsed
            assert parsed.walk("VEVENT")
