"""iMIP invitations as real senders shape them, for tests of the inbound pipeline (issue 13).

The messages live in ``tests/fixtures/imip/*.eml`` (CRLF line endings, as mail has them) as
``string.Template`` texts; ``render`` fills them in and returns the bytes a test sends over SMTP.
``FIXTURES`` says, for each one, what a correct pipeline must conclude from it, so a test can check
the outcome against data written down once (and ``tests/test_imip_fixtures.py`` checks that data
against the messages themselves, without the pipeline).

Placeholders: ``${TO}`` the recipient (the calendar's inbound address), ``${MSGID}`` the Message-ID
without brackets (unique per render unless given), ``${UID}`` the event UID (the fixture's own unless
given), ``${STAMP}`` DTSTAMP (the clock's now, UTC), ``${DATE}`` the Date header (the clock's now),
``${D0}`` ... ``${D27}`` dates ``YYYYMMDD`` (D0 = the base day, a Monday; Dn = D0 + n days),
``${W1}`` ... ``${W3}`` (D0 + 7n days), and ``${ORGANIZER}`` / ``${ATTENDEE}`` in the messages a
test aims at one of its bookings (the REPLY and the COUNTER). Any of them may be overridden by
keyword.

Transfer encodings: a template stores every part un-encoded, so placeholders work in all of them.
A part whose headers hold ``X-Fixture-Encode: base64`` (or ``quoted-printable``) is encoded at render
time, in the charset its Content-Type names, and the marker becomes its Content-Transfer-Encoding
header. A part whose headers hold ``X-Fixture-Copy: calendar`` gets, as its body, the body of the
text/calendar part before it (the .ics attachment beside an inline calendar is the same text, as the
senders make it).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import quoprimime
from email.utils import format_datetime
from pathlib import Path
from string import Template

from tests.dates import MON, at, ical_day, ical_utc, next_weekday, now

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "imip"
# D0 ... D27: four weeks of days from the base day, enough for a weekly series' first occurrences.
DAY_PLACEHOLDERS = 28
WEEK_PLACEHOLDERS = 3

ENCODE_MARKER = "x-fixture-encode"
COPY_MARKER = "x-fixture-copy"
BASE64_LINE = 76
BOUNDARY_PARAMETER = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.IGNORECASE)
CHARSET_PARAMETER = re.compile(r'charset\s*=\s*"?([^\s;"]+)"?', re.IGNORECASE)

# Outcomes as the inbound message log names them (issue 13).
CREATED, UPDATED, CANCELLED, REPLIED, IGNORED = "created", "updated", "cancelled", "replied", "ignored"

# Who an invitation comes from, and who the REPLY / COUNTER answer, unless a test says otherwise.
BOOKING_ORGANIZER = "owner@example.com"
BOOKING_ATTENDEE = "carol.guest@example.net"

Starts = Callable[[date], list[datetime]]


def base_day() -> date:
    """D0: a Monday two weeks or more ahead of the clock, so every fixture's event is in the future."""
    return next_weekday(MON, after_days=14)


def day(base: date, offset: int) -> date:
    return base + timedelta(days=offset)


def utc(base: date, offset: int, hour: int, minute: int = 0, zone: str = "UTC") -> datetime:
    """``hour:minute`` wall-clock time in ``zone`` on D<offset>, as an aware UTC datetime."""
    return at(day(base, offset), hour, minute, zone).astimezone(UTC)


def weekly(offset: int, hour: int, minute: int, zone: str, count: int) -> Starts:
    """The first ``count`` occurrences of a weekly event that starts on D<offset>: the same wall-clock
    time in ``zone`` each week, so its UTC time moves when the zone changes its clocks."""
    return lambda base: [utc(base, offset + 7 * week, hour, minute, zone) for week in range(count)]


def once(offset: int, hour: int, minute: int = 0, zone: str = "UTC") -> Starts:
    return lambda base: [utc(base, offset, hour, minute, zone)]


def all_day(offset: int) -> Starts:
    """An all-day event's date, written as midnight UTC of that date (the convention for all-day
    starts in this catalogue)."""
    return lambda base: [datetime.combine(day(base, offset), datetime.min.time(), UTC)]


def nothing(_base: date) -> list[datetime]:
    return []


@dataclass(frozen=True)
class Fixture:
    """What a correct pipeline concludes from one message."""

    name: str
    # google | outlook | icloud | zoom | thunderbird | fastmail | other
    family: str
    # The iTIP method to apply (the body's METHOD wins over the MIME parameter); None: no calendar.
    method: str | None
    uid: str | None
    summary: str | None
    # ORGANIZER's address (lower case, no mailto:), None when the calendar names none.
    organizer: str | None
    # The From address.
    sender: str
    # The IANA zone of the event's wall-clock times (Windows names and X-WR-TIMEZONE resolved).
    zone: str | None
    starts: Starts
    # The outcome in the inbound message log when the fixtures are sent in catalogue order to one
    # calendar (``after`` first), with the REPLY / COUNTER aimed at a booking of that calendar.
    status: str
    all_day: bool = False
    # For a message about one occurrence: the occurrence it names (RECURRENCE-ID), aware UTC.
    recurrence: Callable[[date], datetime] | None = None
    # The fixture that must have been applied first for ``status`` to hold.
    after: str | None = None
    # Distinct calendars in the message once the inline part and its .ics copy count as one.
    calendars: int = 1
    # The MIME ``method`` parameter of the (first) calendar, None when the sender writes none.
    mime_method: str | None = None
    # The Auto-Submitted header: auto-replied must be ignored; auto-generated is how Cyrus (Fastmail)
    # marks every iMIP message it sends, so it must not be.
    auto_submitted: str | None = None
    # Message-ID the sender would write; {token} is unique per render.
    message_id: str = "{token}@mail.example.net"
    defaults: Mapping[str, str] = field(default_factory=dict)
    # What this message shows (the README says it at more length).
    shows: str = ""

    def expected_starts(self, base: date) -> list[datetime]:
        """The first occurrences as a calendar client shows them (aware UTC, DST taken into account);
        for a series, the first few; empty when the message carries no event."""
        return self.starts(base)

    def expected_recurrence_id(self, base: date) -> datetime | None:
        return self.recurrence(base) if self.recurrence is not None else None


def render(
    name: str,
    *,
    to: str,
    base_day: date,
    uid: str | None = None,
    message_id: str | None = None,
    **values: str,
) -> bytes:
    """The message ``name`` addressed to ``to``, its dates counted from ``base_day`` (a Monday),
    ready to send as it is."""
    fixture = FIXTURES[name]
    moment = now()
    filled: dict[str, str] = {
        "TO": to,
        "MSGID": message_id or fixture.message_id.format(token=uuid.uuid4().hex),
        "UID": uid or fixture.uid or "",
        "STAMP": ical_utc(moment),
        "DATE": format_datetime(moment),
        **{f"D{offset}": ical_day(day(base_day, offset)) for offset in range(DAY_PLACEHOLDERS)},
        **{f"W{week}": ical_day(day(base_day, 7 * week)) for week in range(1, WEEK_PLACEHOLDERS + 1)},
        **fixture.defaults,
        **values,
    }
    text = Template(template_text(name)).substitute(filled)
    return _encode_marked_parts(text).encode("utf-8")


def template_text(name: str) -> str:
    """The template as stored, line endings made CRLF whatever a checkout did to them."""
    raw = (FIXTURE_DIR / f"{name}.eml").read_text(encoding="utf-8")
    return raw.replace("\r\n", "\n").replace("\n", "\r\n")


def _encode_marked_parts(message: str) -> str:
    """Apply the X-Fixture-Encode and X-Fixture-Copy markers (see the module docstring)."""
    boundaries = {first or second for first, second in BOUNDARY_PARAMETER.findall(message)}
    delimiters = {f"--{b}" for b in boundaries} | {f"--{b}--" for b in boundaries}
    lines = message.split("\r\n")
    out: list[str] = []
    last_calendar: str | None = None
    index = 0
    while index < len(lines):
        headers, separator, body, index = _segment(lines, index, delimiters)
        plain = _copied(headers, "\r\n".join(body), last_calendar)
        if _header_value(headers, "content-type").lower().startswith("text/calendar"):
            last_calendar = plain
        headers, body_text = _encoded(headers, plain)
        out.extend(headers)
        if separator:
            out.append("")
        if body or body_text:
            out.append(body_text)
        if index < len(lines):
            out.append(lines[index])  # the delimiter
            index += 1
    return "\r\n".join(out)


def _segment(lines: list[str], index: int, delimiters: set[str]) -> tuple[list[str], bool, list[str], int]:
    """The segment from ``index``: its header block (up to a blank line), whether a blank line ended
    it, its body (up to the next boundary delimiter) and the index of that delimiter."""
    headers: list[str] = []
    while index < len(lines) and lines[index] != "" and lines[index] not in delimiters:
        headers.append(lines[index])
        index += 1
    separator = index < len(lines) and lines[index] == ""
    index += 1 if separator else 0
    body: list[str] = []
    while index < len(lines) and lines[index] not in delimiters:
        body.append(lines[index])
        index += 1
    return headers, separator, body, index


def _copied(headers: list[str], body: str, last_calendar: str | None) -> str:
    """The part's body: the text/calendar before it when the part is marked a copy."""
    if not _header_value(headers, COPY_MARKER):
        return body
    if last_calendar is None:
        raise ValueError("X-Fixture-Copy: calendar with no text/calendar part before it")
    return last_calendar


def _encoded(headers: list[str], body: str) -> tuple[list[str], str]:
    """The part's headers and body once X-Fixture-Encode is applied (and the copy marker dropped)."""
    headers = [line for line in headers if not _is_header(line, COPY_MARKER)]
    encoding = _header_value(headers, ENCODE_MARKER).lower()
    if not encoding:
        return headers, body
    charset = _charset(_header_value(headers, "content-type"))
    payload = body.encode(charset)
    if encoding == "base64":
        encoded = base64.b64encode(payload).decode("ascii")
        chunks = [encoded[start : start + BASE64_LINE] for start in range(0, len(encoded), BASE64_LINE)]
        body = "\r\n".join([*chunks, ""])
    elif encoding == "quoted-printable":
        body = quoprimime.body_encode(payload.decode("latin-1"), maxlinelen=76, eol="\r\n")
        body = body if body.endswith("\r\n") else body + "\r\n"
    else:
        raise ValueError(f"X-Fixture-Encode: {encoding} is neither base64 nor quoted-printable")
    marked = [
        f"Content-Transfer-Encoding: {encoding}" if _is_header(line, ENCODE_MARKER) else line
        for line in headers
    ]
    return marked, body


def _is_header(line: str, name: str) -> bool:
    return line.lower().startswith(f"{name}:")


def _header_value(headers: list[str], name: str) -> str:
    """The value of header ``name`` with its folded continuation lines, or ''."""
    for position, line in enumerate(headers):
        if _is_header(line, name):
            value = line.split(":", 1)[1]
            for continuation in headers[position + 1 :]:
                if continuation[:1] not in (" ", "\t"):
                    break
                value += continuation
            return value.strip()
    return ""


def _charset(content_type: str) -> str:
    match = CHARSET_PARAMETER.search(content_type)
    return match.group(1) if match else "utf-8"


NEW_YORK, LOS_ANGELES, BERLIN = "America/New_York", "America/Los_Angeles", "Europe/Berlin"
GOOGLE_UID = "7kukuqrfedlm2f9t0vr42kdqg3@google.com"
OUTLOOK_UID = (
    "040000008200E00074C5B7101A82E00800000000A1B2C3D4E5F6DA010000000000000000"
    "10000000F0E1D2C3B4A5968778695A4B3C2D1E0F"
)
BOOKING_UID = "booking-fixture@caledee.invalid"
GOOGLE_MESSAGE_ID = "calendar-{token}@google.com"
OUTLOOK_MESSAGE_ID = "{token}@BN0PR11MB5728.namprd11.prod.outlook.com"
BOOKING_PEOPLE = {"ORGANIZER": BOOKING_ORGANIZER, "ATTENDEE": BOOKING_ATTENDEE}


def _catalogue(*fixtures: Fixture) -> dict[str, Fixture]:
    return {fixture.name: fixture for fixture in fixtures}


FIXTURES: dict[str, Fixture] = _catalogue(
    Fixture(
        name="google_series",
        family="google",
        method="REQUEST",
        mime_method="REQUEST",
        uid=GOOGLE_UID,
        summary="Weekly planning",
        organizer="alice@example.com",
        sender="alice@example.com",
        zone=NEW_YORK,
        starts=weekly(0, 9, 30, NEW_YORK, count=4),
        status=CREATED,
        message_id=GOOGLE_MESSAGE_ID,
        shows="a weekly series, inline text/calendar and the same calendar as invite.ics",
    ),
    Fixture(
        name="google_series_update",
        family="google",
        method="REQUEST",
        mime_method="REQUEST",
        uid=GOOGLE_UID,
        summary="Weekly planning",
        organizer="alice@example.com",
        sender="alice@example.com",
        zone=NEW_YORK,
        starts=weekly(0, 11, 0, NEW_YORK, count=4),
        status=UPDATED,
        after="google_series",
        message_id=GOOGLE_MESSAGE_ID,
        shows="the whole series moved to 11:00, SEQUENCE 1",
    ),
    Fixture(
        name="google_occurrence_cancel",
        family="google",
        method="CANCEL",
        mime_method="CANCEL",
        uid=GOOGLE_UID,
        summary="Weekly planning",
        organizer="alice@example.com",
        sender="alice@example.com",
        zone=NEW_YORK,
        starts=once(7, 11, 0, NEW_YORK),
        recurrence=lambda base: utc(base, 7, 11, 0, NEW_YORK),
        status=CANCELLED,
        after="google_series_update",
        message_id=GOOGLE_MESSAGE_ID,
        shows="the second occurrence cancelled (RECURRENCE-ID), the others stay",
    ),
    Fixture(
        name="google_series_cancel",
        family="google",
        method="CANCEL",
        mime_method="CANCEL",
        uid=GOOGLE_UID,
        summary="Weekly planning",
        organizer="alice@example.com",
        sender="alice@example.com",
        zone=NEW_YORK,
        starts=weekly(0, 11, 0, NEW_YORK, count=4),
        status=CANCELLED,
        after="google_occurrence_cancel",
        message_id=GOOGLE_MESSAGE_ID,
        shows="the whole series cancelled: the RRULE VEVENT with STATUS:CANCELLED",
    ),
    Fixture(
        name="google_reply_accepted",
        family="google",
        method="REPLY",
        mime_method="REPLY",
        uid=BOOKING_UID,
        summary="Intro call",
        organizer=BOOKING_ORGANIZER,
        sender=BOOKING_ATTENDEE,
        zone="UTC",
        starts=once(2, 15),
        status=REPLIED,
        defaults=BOOKING_PEOPLE,
        message_id=GOOGLE_MESSAGE_ID,
        shows="an attendee of a booking accepts (pass uid=, ORGANIZER=, ATTENDEE=)",
    ),
    Fixture(
        name="google_forwarded",
        family="google",
        method="REQUEST",
        mime_method="REQUEST",
        uid="2b9vd4k0f1qje8m3hs7c5atn6p@google.com",
        summary="Design review",
        organizer="alice@example.com",
        sender="bob@example.net",
        zone="UTC",
        starts=once(3, 14),
        status=CREATED,
        shows="a guest forwards a Google invitation as a message/rfc822 attachment",
    ),
    Fixture(
        name="outlook_teams_series",
        family="outlook",
        method="REQUEST",
        mime_method="REQUEST",
        uid=OUTLOOK_UID,
        summary="Project sync",
        organizer="dana.lead@example.com",
        sender="dana.lead@example.com",
        zone=LOS_ANGELES,
        starts=weekly(1, 10, 0, LOS_ANGELES, count=6),
        status=CREATED,
        message_id=OUTLOOK_MESSAGE_ID,
        shows="a Teams series in Pacific Standard Time, base64 text/calendar in multipart/alternative",
    ),
    Fixture(
        name="outlook_occurrence_update",
        family="outlook",
        method="REQUEST",
        mime_method="REQUEST",
        uid=OUTLOOK_UID,
        summary="Project sync",
        organizer="dana.lead@example.com",
        sender="dana.lead@example.com",
        zone=LOS_ANGELES,
        starts=once(8, 14, 0, LOS_ANGELES),
        recurrence=lambda base: utc(base, 8, 10, 0, LOS_ANGELES),
        status=UPDATED,
        after="outlook_teams_series",
        message_id=OUTLOOK_MESSAGE_ID,
        shows="one occurrence moved: a REQUEST holding only the RECURRENCE-ID VEVENT",
    ),
    Fixture(
        name="outlook_occurrence_cancel",
        family="outlook",
        method="CANCEL",
        mime_method="CANCEL",
        uid=OUTLOOK_UID,
        summary="Project sync",
        organizer="dana.lead@example.com",
        sender="dana.lead@example.com",
        zone=LOS_ANGELES,
        starts=once(15, 10, 0, LOS_ANGELES),
        recurrence=lambda base: utc(base, 15, 10, 0, LOS_ANGELES),
        status=CANCELLED,
        after="outlook_teams_series",
        message_id=OUTLOOK_MESSAGE_ID,
        shows='one occurrence cancelled ("Canceled:"), the others stay',
    ),
    Fixture(
        name="outlook_counter",
        family="outlook",
        method="COUNTER",
        mime_method="COUNTER",
        uid=BOOKING_UID,
        summary="Intro call",
        organizer=BOOKING_ORGANIZER,
        sender=BOOKING_ATTENDEE,
        zone=BERLIN,
        starts=once(3, 10, 0, BERLIN),
        status=IGNORED,
        defaults=BOOKING_PEOPLE,
        message_id="{token}@AM0PR07MB4417.eurprd07.prod.outlook.com",
        shows='"New Time Proposed" for a booking: logged as a proposal, never applied',
    ),
    Fixture(
        name="icloud_invitation",
        family="icloud",
        method="REQUEST",
        mime_method=None,
        uid="9F3C2A1B-7E6D-4C5B-8A9F-0E1D2C3B4A59",
        summary="Réunion d’équipe — café",
        organizer="elodie.martin@example.com",
        sender="elodie.martin@example.com",
        zone="Europe/Paris",
        starts=once(2, 14, 30, "Europe/Paris"),
        status=CREATED,
        message_id="{token}@example.com",
        shows="only an iCal-*.ics attachment, no method parameter, UTF-8 without a charset parameter",
    ),
    Fixture(
        name="zoom_webinar_request",
        family="zoom",
        method="REQUEST",
        mime_method="REQUEST",
        uid="b97kuj9p70qj8c1k6sr36e9ledq62ojccl07cpr5e8n6mpbi",
        summary="Release walkthrough",
        organizer="no-reply@zoom.example.net",
        sender="no-reply@zoom.example.net",
        zone=NEW_YORK,
        starts=once(3, 15, 0, NEW_YORK),
        status=CREATED,
        message_id="{token}@geopod-ismtpd-55",
        shows='Zoom\'s registration mail: HTML only, "method=REQUEST;;", ORGANIZER without mailto:',
    ),
    Fixture(
        name="zoom_meeting_publish",
        family="zoom",
        method="PUBLISH",
        mime_method=None,
        uid="20250310T091500Z-81234567890@fe80:0:0:0:1c2d:3eff:fe4f:5a6ben0",
        summary="Customer onboarding",
        organizer=None,
        sender="frank.host@example.com",
        zone="Europe/London",
        starts=once(4, 11, 0, "Europe/London"),
        status=CREATED,
        message_id="CA{token}@mail.gmail.com",
        shows="the PUBLISH .ics Zoom exports, mailed by its host: no ORGANIZER, join link in DESCRIPTION",
    ),
    Fixture(
        name="thunderbird_invitation",
        family="thunderbird",
        method="REQUEST",
        mime_method="REQUEST",
        uid="4a6b8c0d-2e4f-4a1b-9c3d-5e7f9a1b3c5d",
        summary="Quartalsrückblick",
        organizer="gregor@example.org",
        sender="gregor@example.org",
        zone=BERLIN,
        starts=once(1, 16, 0, BERLIN),
        status=CREATED,
        message_id="{token}@example.org",
        shows="text/plain + text/calendar (8BIT) in alternative, then application/ics invite.ics",
    ),
    Fixture(
        name="fastmail_allday",
        family="fastmail",
        method="REQUEST",
        mime_method="REQUEST",
        uid="6d0f2b4e-8a1c-4e3f-b5d7-9f1a3c5e7b9d",
        summary="Tag der offenen Tür · Café",
        organizer="hanna@example.org",
        sender="hanna@example.org",
        zone=None,
        starts=all_day(4),
        all_day=True,
        status=CREATED,
        auto_submitted="auto-generated",
        message_id="cyrus-caldav-48213-{token}@caldav.example.org",
        shows="an all-day event, calendar part in ISO-8859-1 beside a UTF-8 copy, Auto-Submitted",
    ),
    Fixture(
        name="autoreply_out_of_office",
        family="other",
        method=None,
        uid=None,
        summary=None,
        organizer=None,
        sender="ivan@example.net",
        zone=None,
        starts=nothing,
        status=IGNORED,
        calendars=0,
        auto_submitted="auto-replied",
        shows="an out-of-office reply without calendar data (ISO-8859-1, quoted-printable)",
    ),
    Fixture(
        name="autoreply_with_calendar",
        family="other",
        method="REQUEST",
        mime_method="REQUEST",
        uid="scheduler-42-weekly-planning@example.com",
        summary="Weekly planning",
        organizer=BOOKING_ORGANIZER,
        sender="helpdesk@example.net",
        zone="UTC",
        starts=once(2, 10),
        status=IGNORED,
        auto_submitted="auto-replied",
        shows="an auto-reply that returns the invitation it answers: a calendar, still ignored",
    ),
    Fixture(
        name="plain_mail",
        family="other",
        method=None,
        uid=None,
        summary=None,
        organizer=None,
        sender="bob@example.net",
        zone=None,
        starts=nothing,
        status=IGNORED,
        calendars=0,
        shows="ordinary mail with a PDF attachment and the words BEGIN:VCALENDAR in its text",
    ),
    Fixture(
        name="floating_x_wr_timezone",
        family="other",
        method="PUBLISH",
        mime_method=None,
        uid="event-4711@events.example.org",
        summary="Choir concert",
        organizer=None,
        sender="jana@example.org",
        zone=BERLIN,
        starts=once(3, 19, 0, BERLIN),
        status=CREATED,
        shows="floating DTSTART whose zone only X-WR-TIMEZONE names",
    ),
    Fixture(
        name="method_mismatch",
        family="other",
        method="PUBLISH",
        mime_method="REQUEST",
        uid="meetup-2025-community@example.com",
        summary="Community meetup",
        organizer="events@example.com",
        sender="events@example.com",
        zone="UTC",
        starts=once(2, 18),
        status=CREATED,
        message_id="{token}@example.com",
        shows="MIME method=REQUEST over a body saying METHOD:PUBLISH (the body wins)",
    ),
)
