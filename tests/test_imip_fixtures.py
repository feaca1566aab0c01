"""The iMIP fixtures (tests/imip_fixtures.py) checked against themselves: every message renders, its
calendars are found where the sender put them, and icalendar + recurring_ical_events read from it
what the catalogue says a pipeline must conclude. Pure and fast: no server, no database. The
expansion here is independent of the inbound pipeline, so the catalogue is a fixed point to test the
pipeline against."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import Message
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from caldee_dav.ical.tzids import iana_zone_for
from inbound.method import itip_method
from inbound.mime import calendar_parts
from tests.dates import now
from tests.imip_fixtures import (
    FIXTURE_DIR,
    FIXTURES,
    IGNORED,
    base_day,
    render,
    template_text,
)

TO = "cal-0f3e2d1c@localhost"
# Wide enough for every series' first occurrences (the longest: six weekly Outlook meetings).
EXPANSION_DAYS = 60
TIME_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID")
NAMES = sorted(FIXTURES)

# Where each sender puts its calendars, in message order: (content type, transfer encoding, filename).
# The shape is the point of these fixtures, so a template edit that loses it fails here.
CALENDAR_PARTS: dict[str, list[tuple[str, str, str | None]]] = {
    "google_series": [("text/calendar", "7bit", None), ("application/ics", "base64", "invite.ics")],
    "google_forwarded": [("text/calendar", "7bit", None), ("application/ics", "base64", "invite.ics")],
    "outlook_teams_series": [("text/calendar", "base64", None)],
    "outlook_counter": [("text/calendar", "base64", None)],
    "icloud_invitation": [("text/calendar", "quoted-printable", "iCal-20250310-091522.ics")],
    "zoom_webinar_request": [
        ("text/calendar", "quoted-printable", None),
        ("text/calendar", "base64", "invite.ics"),
    ],
    "zoom_meeting_publish": [("text/calendar", "base64", "zoom.ics")],
    "thunderbird_invitation": [("text/calendar", "8bit", None), ("application/ics", "8bit", "invite.ics")],
    "fastmail_allday": [
        ("text/calendar", "quoted-printable", None),
        ("application/ics", "base64", "Invitation.ics"),
    ],
    "floating_x_wr_timezone": [("text/calendar", "base64", "event.ics")],
    "method_mismatch": [
        ("text/calendar", "quoted-printable", None),
        ("application/ics", "base64", "invite.ics"),
    ],
}


def rendered(name: str, **values: str) -> bytes:
    return render(name, to=TO, base_day=base_day(), **values)


def parsed(message: bytes) -> Message:
    return message_from_bytes(message, policy=policy.default)


def the_event(text: str) -> icalendar.Event:
    events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert len(events) == 1, "every fixture's calendar holds one VEVENT"
    return events[0]


def address(value: object) -> str | None:
    """An ORGANIZER / ATTENDEE value as an address: no mailto:, lower case."""
    if value is None:
        return None
    text = str(value).strip()
    return (text[7:] if text.lower().startswith("mailto:") else text).lower()


def zoned(value: object, tzid: str | None, x_wr_timezone: str | None) -> object:
    """A DTSTART-like value with its zone resolved the way a client resolves it: TZID through
    iana_zone_for (Windows names included), a floating time in X-WR-TIMEZONE's zone."""
    if not isinstance(value, datetime):
        return value  # a DATE: all-day
    zone_name = tzid or (x_wr_timezone if value.tzinfo is None else None)
    if zone_name is None:
        return value
    iana = iana_zone_for(zone_name)
    assert iana is not None, f"no IANA zone for {zone_name!r}"
    return value.replace(tzinfo=None).replace(tzinfo=ZoneInfo(iana))


def resolved_calendar(text: str) -> icalendar.Calendar:
    """The calendar with every time in an IANA zone, ready to expand."""
    calendar = icalendar.Calendar.from_ical(text)
    x_wr_timezone = calendar.get("X-WR-TIMEZONE")
    for event in calendar.walk("VEVENT"):
        for name in TIME_PROPERTIES:
            prop = event.get(name)
            if prop is None:
                continue
            value = zoned(prop.dt, prop.params.get("TZID"), str(x_wr_timezone) if x_wr_timezone else None)
            del event[name]
            event.add(name, value)
    calendar.subcomponents = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    return calendar


def as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, datetime.min.time(), UTC)  # the catalogue's all-day convention


def expanded_starts(text: str, base: date) -> list[datetime]:
    calendar = resolved_calendar(text)
    window_start = datetime.combine(base - timedelta(days=1), datetime.min.time(), UTC)
    occurrences = recurring_ical_events.of(calendar).between(
        window_start, window_start + timedelta(days=EXPANSION_DAYS)
    )
    return sorted(as_utc(occurrence["DTSTART"].dt) for occurrence in occurrences)


def event_zone(event: icalendar.Event, calendar_text: str) -> str | None:
    start = event["DTSTART"]
    if not isinstance(start.dt, datetime):
        return None
    tzid = start.params.get("TZID")
    if tzid:
        return iana_zone_for(tzid)
    if start.dt.tzinfo is not None:
        return "UTC"
    x_wr_timezone = icalendar.Calendar.from_ical(calendar_text).get("X-WR-TIMEZONE")
    return iana_zone_for(str(x_wr_timezone)) if x_wr_timezone else None


@pytest.mark.parametrize("name", NAMES)
def test_templates_are_stored_with_crlf_line_endings(name: str) -> None:
    raw = (FIXTURE_DIR / f"{name}.eml").read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 0


@pytest.mark.parametrize("name", NAMES)
def test_every_fixture_renders_to_a_complete_message(name: str) -> None:
    message = rendered(name)
    assert b"${" not in message and b"X-Fixture-" not in message
    assert message.count(b"\n") == message.count(b"\r\n")
    headers = parsed(message)
    assert headers["To"] and TO in str(headers["To"])
    assert parseaddr(str(headers["From"]))[1].lower() == FIXTURES[name].sender
    if FIXTURES[name].auto_submitted:
        assert str(headers["Auto-Submitted"]) == FIXTURES[name].auto_submitted
    else:
        assert headers["Auto-Submitted"] is None


def test_each_render_has_its_own_message_id_unless_one_is_given() -> None:
    first, second = (parsed(rendered("google_series"))["Message-ID"] for _ in range(2))
    assert first != second and first.endswith("@google.com>")
    assert parsed(rendered("google_series", message_id="fixed@example.net"))["Message-ID"] == (
        "<fixed@example.net>"
    )


def test_a_test_may_choose_the_uid_and_the_people_of_a_reply() -> None:
    message = rendered(
        "google_reply_accepted", uid="b-123@caledee", ORGANIZER="me@example.com", ATTENDEE="x@example.net"
    )
    event = the_event(calendar_parts(message)[0].text)
    assert str(event["UID"]) == "b-123@caledee"
    assert address(event["ORGANIZER"]) == "me@example.com"
    assert address(event["ATTENDEE"]) == "x@example.net"
    assert parseaddr(str(parsed(message)["From"]))[1] == "x@example.net"


@pytest.mark.parametrize("name", NAMES)
def test_the_calendars_are_found_once_each_with_the_catalogued_method(name: str) -> None:
    fixture = FIXTURES[name]
    parts = calendar_parts(rendered(name))
    assert len(parts) == fixture.calendars
    if not parts:
        assert fixture.method is None and fixture.status == IGNORED
        return
    assert itip_method(parts[0]) == fixture.method
    assert parts[0].mime_method == fixture.mime_method


@pytest.mark.parametrize("name", sorted(CALENDAR_PARTS))
def test_each_sender_puts_its_calendars_where_it_really_does(name: str) -> None:
    found = [
        (part.get_content_type(), part.get("Content-Transfer-Encoding", "7bit").lower(), part.get_filename())
        for part in parsed(rendered(name)).walk()
        if part.get_content_type() in ("text/calendar", "application/ics")
    ]
    assert found == CALENDAR_PARTS[name]


@pytest.mark.parametrize("name", [name for name in NAMES if FIXTURES[name].calendars])
def test_the_event_is_what_the_catalogue_says(name: str) -> None:
    fixture = FIXTURES[name]
    text = calendar_parts(rendered(name))[0].text
    event = the_event(text)
    assert str(event["UID"]) == fixture.uid
    assert str(event["SUMMARY"]) == fixture.summary
    assert address(event.get("ORGANIZER")) == fixture.organizer
    assert event_zone(event, text) == fixture.zone
    assert (not isinstance(event["DTSTART"].dt, datetime)) == fixture.all_day


@pytest.mark.parametrize("name", [name for name in NAMES if FIXTURES[name].calendars])
def test_expanding_the_event_gives_the_catalogued_starts(name: str) -> None:
    fixture, base = FIXTURES[name], base_day()
    expected = fixture.expected_starts(base)
    found = expanded_starts(calendar_parts(rendered(name))[0].text, base)
    if len(expected) == 1:
        assert found == expected
    else:
        assert found[: len(expected)] == expected
    assert all(start > now() for start in expected), "every fixture's event lies ahead of the clock"


@pytest.mark.parametrize("name", NAMES)
def test_one_occurrence_messages_name_the_catalogued_occurrence(name: str) -> None:
    fixture = FIXTURES[name]
    if not fixture.calendars:
        return
    event = the_event(calendar_parts(rendered(name))[0].text)
    recurrence_id = event.get("RECURRENCE-ID")
    expected = fixture.expected_recurrence_id(base_day())
    if expected is None:
        assert recurrence_id is None
        return
    assert recurrence_id is not None and "RRULE" not in event
    assert as_utc(zoned(recurrence_id.dt, recurrence_id.params.get("TZID"), None)) == expected  # type: ignore[arg-type]


def test_updates_and_cancels_follow_a_fixture_about_the_same_event() -> None:
    for fixture in FIXTURES.values():
        if fixture.after is not None:
            assert FIXTURES[fixture.after].uid == fixture.uid
            assert list(FIXTURES).index(fixture.after) < list(FIXTURES).index(fixture.name)


def test_every_sender_has_a_first_invitation() -> None:
    firsts = {
        fixture.family
        for fixture in FIXTURES.values()
        if fixture.method in ("REQUEST", "PUBLISH") and fixture.after is None
    }
    assert {"google", "outlook", "icloud", "zoom", "thunderbird", "fastmail"} <= firsts


def test_the_readme_describes_every_fixture() -> None:
    readme = (FIXTURE_DIR / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", NAMES)
def test_templates_name_only_known_placeholders(name: str) -> None:
    message = rendered(name)
    assert "${" in template_text(name) and b"$" not in message
