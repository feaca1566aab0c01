"""caldee_dav.ical.itip_out: stored objects as the iTIP REQUEST, CANCEL and REPLY objects that outgoing
mail carries (RFC 5546 3.2). Pure functions given an explicit ``now``: literal dates are fine here."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from caldee_dav.ical import events as ev
from caldee_dav.ical import itip_out
from caldee_dav.ical.events import Person
from caldee_dav.scheduling.booking_ical import BookingEvent, booking_text

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def a_booking(sequence: int = 2, status: str = "CONFIRMED") -> str:
    return booking_text(
        BookingEvent(
            uid="bkg_1@caledee",
            booking_id="bkg_1",
            sequence=sequence,
            status=status,
            start=datetime(2030, 3, 4, 9, tzinfo=UTC),
            end=datetime(2030, 3, 4, 10, tzinfo=UTC),
            summary="Intro with Ada",
            organizer=Person("host@example.com", "Host"),
            invitees=[Person("ada@example.com", "Ada"), Person("guest@example.com")],
            stamp=NOW,
        )
    )


def vevent_of(text: str) -> icalendar.cal.Component:
    events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def emails(component: icalendar.cal.Component, name: str) -> list[str]:
    values = component.get(name, [])
    return [ev.email_of(v).lower() for v in (values if isinstance(values, list) else [values])]


def test_request_is_the_stored_event_with_its_method_and_no_private_properties() -> None:
    text = itip_out.request(a_booking())
    calendar = icalendar.Calendar.from_ical(text)
    assert calendar["METHOD"] == "REQUEST"
    event = vevent_of(text)
    assert (event["UID"], event["SEQUENCE"], event["STATUS"]) == ("bkg_1@caledee", 2, "CONFIRMED")
    assert event.decoded("DTSTART") == datetime(2030, 3, 4, 9, tzinfo=UTC)
    assert emails(event, "ORGANIZER") == ["host@example.com"]
    assert emails(event, "ATTENDEE") == ["ada@example.com", "guest@example.com"]
    assert "X-CALEDEE-BOOKING-ID" not in event and "X-CALEDEE-BOOKING-ID" in a_booking()


def test_cancel_marks_every_event_cancelled_and_keeps_the_sequence() -> None:
    text = itip_out.cancel(a_booking(sequence=3, status="CONFIRMED"))
    assert icalendar.Calendar.from_ical(text)["METHOD"] == "CANCEL"
    event = vevent_of(text)
    assert (event["STATUS"], event["SEQUENCE"], event["UID"]) == ("CANCELLED", 3, "bkg_1@caledee")
    assert text.count("METHOD:") == 1 and text.count("STATUS:") == 1


INVITATION = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20300101T000000Z\r\nSEQUENCE:4\r\n"
    "DTSTART;TZID=Europe/Paris:20300304T090000\r\nDTEND;TZID=Europe/Paris:20300304T100000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:Weekly sync\r\nDESCRIPTION:Agenda in the doc\r\n"
    "LOCATION:Room 4\r\nORGANIZER;CN=Boss:mailto:boss@example.com\r\n"
    "ATTENDEE;CN=Colleague;PARTSTAT=ACCEPTED:mailto:colleague@example.com\r\n"
    "ATTENDEE;CN=Owner;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Owner@Example.com\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def answered(key: ev.RecurrenceKey | None, response: str) -> str:
    """The invitation with the owner's answer, as REST ``respond`` stores it."""
    calendar = icalendar.Calendar.from_ical(INVITATION)
    ev.set_partstat(calendar, key, ["owner@example.com"], response, PARIS, NOW)
    return ev.to_text(calendar)


def test_reply_to_the_series_carries_only_the_replying_attendee_and_the_identifying_properties() -> None:
    found = itip_out.reply(answered(None, "accepted"), ["owner@example.com"], None, PARIS, NOW)
    assert found is not None
    calendar = icalendar.Calendar.from_ical(found.text)
    assert calendar["METHOD"] == "REPLY"
    event = vevent_of(found.text)
    assert set(event) == {"UID", "SEQUENCE", "DTSTART", "ORGANIZER", "DTSTAMP", "ATTENDEE"}
    assert (event["UID"], event["SEQUENCE"]) == ("weekly-1", 4)
    assert event.decoded("DTSTAMP") == NOW
    assert event.decoded("DTSTART") == datetime(2030, 3, 4, 9, tzinfo=PARIS)
    assert emails(event, "ATTENDEE") == ["owner@example.com"]
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert emails(event, "ORGANIZER") == ["boss@example.com"]
    # DTSTART names Europe/Paris: its VTIMEZONE travels with it.
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]
    assert (found.organizer, found.partstat, found.summary) == (
        Person("boss@example.com", "Boss"),
        "ACCEPTED",
        "Weekly sync",
    )


def test_reply_to_one_occurrence_names_it_by_recurrence_id() -> None:
    key = datetime(2030, 3, 11, 8, tzinfo=UTC)  # the second Monday, 09:00 in Paris
    found = itip_out.reply(answered(key, "declined"), ["owner@example.com"], key, PARIS, NOW)
    assert found is not None
    event = vevent_of(found.text)
    assert event.decoded("RECURRENCE-ID") == datetime(2030, 3, 11, 9, tzinfo=PARIS)
    assert event["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert "RRULE" not in event and found.partstat == "DECLINED"


def test_no_reply_without_an_organizer_or_to_oneself() -> None:
    no_organizer = INVITATION.replace("ORGANIZER;CN=Boss:mailto:boss@example.com\r\n", "")
    assert itip_out.reply(no_organizer, ["owner@example.com"], None, PARIS, NOW) is None
    mine = INVITATION.replace("mailto:boss@example.com", "mailto:OWNER@example.com")
    assert itip_out.reply(mine, ["owner@example.com"], None, PARIS, NOW) is None


def test_what_cannot_become_an_itip_object_says_so() -> None:
    with pytest.raises(itip_out.NotAnEvent):
        itip_out.reply(INVITATION, ["stranger@example.com"], None, PARIS, NOW)
    with pytest.raises(itip_out.NotAnEvent):  # an occurrence nobody answered has no override
        itip_out.reply(INVITATION, ["owner@example.com"], datetime(2030, 3, 18, 8, tzinfo=UTC), PARIS, NOW)
    todo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n"
    todo += "END:VCALENDAR\r\n"
    with pytest.raises(itip_out.NotAnEvent):
        itip_out.request(todo)
