"""iTIP rules on their own (caldee_dav.ical.itip, pure): which version wins, what a cancellation
leaves, whose answer a reply may set, and how mail's time zones are normalised. The dates are fixed:
nothing here depends on today."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar

from caldee_dav.ical import itip

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2027, 1, 1, 12, tzinfo=UTC)


def calendar(*events: str, extra: str = "") -> icalendar.Calendar:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "METHOD:REQUEST"]
    if extra:
        lines.append(extra)
    return icalendar.Calendar.from_ical("\r\n".join([*lines, *events, "END:VCALENDAR", ""]))


def vevent(*lines: str, uid: str = "u1", sequence: int = 0, stamp: str = "20261201T000000Z") -> str:
    return "\r\n".join(
        ["BEGIN:VEVENT", f"UID:{uid}", f"SEQUENCE:{sequence}", f"DTSTAMP:{stamp}", *lines, "END:VEVENT"]
    )


SERIES = ("DTSTART:20270104T090000Z", "DTEND:20270104T100000Z", "RRULE:FREQ=WEEKLY;COUNT=4")
ORGANIZER = "ORGANIZER:mailto:alex@example.net"


def incoming(cal: icalendar.Calendar) -> itip.Incoming:
    return itip.incoming_events(cal)[0]


def stored(*events: str) -> icalendar.Calendar:
    result = itip.apply_request(None, incoming(calendar(*events)), UTC_ZONE, NOW)
    assert result.outcome == itip.CREATED and result.calendar is not None
    return result.calendar


def starts(cal: icalendar.Calendar) -> dict[str, str]:
    return {
        str(c.get("RECURRENCE-ID").to_ical().decode() if "RECURRENCE-ID" in c else "master"): c["DTSTART"]
        .to_ical()
        .decode()
        for c in cal.walk("VEVENT")
    }


def test_a_created_object_carries_no_method_and_the_zones_it_uses() -> None:
    created = stored(
        vevent("DTSTART;TZID=Europe/Berlin:20270104T090000", "DTEND;TZID=Europe/Berlin:20270104T100000")
    )
    assert "METHOD" not in created
    assert [str(tz["TZID"]) for tz in created.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_an_older_sequence_is_ignored_and_a_later_stamp_of_the_same_sequence_wins() -> None:
    current = stored(vevent(*SERIES, ORGANIZER, sequence=2))
    older = vevent("DTSTART:20270104T150000Z", "DTEND:20270104T160000Z", "RRULE:FREQ=WEEKLY", sequence=1)
    ignored = itip.apply_request(current, incoming(calendar(older)), UTC_ZONE, NOW)
    assert ignored.outcome == itip.IGNORED and ignored.calendar is None
    assert "SEQUENCE 1" in (ignored.reason or "") and "stored SEQUENCE 2" in (ignored.reason or "")
    later = vevent("DTSTART:20270104T150000Z", "DTEND:20270104T160000Z", sequence=2, stamp="20261202T000000Z")
    updated = itip.apply_request(current, incoming(calendar(later)), UTC_ZONE, NOW)
    assert updated.outcome == itip.UPDATED and updated.calendar is not None
    assert starts(updated.calendar) == {"master": "20270104T150000Z"}
    # The same version again (a copy sent twice under another Message-ID) changes nothing.
    again = itip.apply_request(updated.calendar, incoming(calendar(later)), UTC_ZONE, NOW)
    assert again.outcome == itip.IGNORED


def test_an_occurrence_update_older_than_the_series_is_ignored_a_newer_one_kept() -> None:
    current = stored(vevent(*SERIES, sequence=3))
    moved = ("RECURRENCE-ID:20270111T090000Z", "DTSTART:20270111T140000Z", "DTEND:20270111T150000Z")
    assert itip.apply_request(
        current, incoming(calendar(vevent(*moved, sequence=2))), UTC_ZONE, NOW
    ).outcome == (itip.IGNORED)
    result = itip.apply_request(current, incoming(calendar(vevent(*moved, sequence=3))), UTC_ZONE, NOW)
    assert result.outcome == itip.UPDATED and result.calendar is not None
    assert starts(result.calendar) == {"master": "20270104T090000Z", "20270111T090000Z": "20270111T140000Z"}


def test_a_new_series_drops_the_older_exceptions_it_does_not_carry() -> None:
    moved = vevent("RECURRENCE-ID:20270111T090000Z", "DTSTART:20270111T140000Z", "DTEND:20270111T150000Z")
    current = stored(vevent(*SERIES), moved)
    newer = vevent(
        "DTSTART:20270105T090000Z", "DTEND:20270105T100000Z", "RRULE:FREQ=WEEKLY;COUNT=4", sequence=1
    )
    result = itip.apply_request(current, incoming(calendar(newer)), UTC_ZONE, NOW)
    assert result.calendar is not None and starts(result.calendar) == {"master": "20270105T090000Z"}


def test_cancelling_one_occurrence_keeps_it_marked_and_an_unknown_one_is_ignored() -> None:
    current = stored(vevent(*SERIES, ORGANIZER))
    cancel = vevent(
        "RECURRENCE-ID:20270118T090000Z", "DTSTART:20270118T090000Z", "STATUS:CANCELLED", sequence=1
    )
    result = itip.apply_cancel(current, incoming(calendar(cancel)), UTC_ZONE, NOW)
    assert result.outcome == itip.CANCELLED and result.calendar is not None
    statuses = {
        c.get("RECURRENCE-ID").to_ical().decode() if "RECURRENCE-ID" in c else "master": str(
            c.get("STATUS", "")
        )
        for c in result.calendar.walk("VEVENT")
    }
    assert statuses == {"master": "", "20270118T090000Z": "CANCELLED"}
    nowhere = vevent("RECURRENCE-ID:20270119T090000Z", "DTSTART:20270119T090000Z", sequence=1)
    missed = itip.apply_cancel(current, incoming(calendar(nowhere)), UTC_ZONE, NOW)
    assert missed.outcome == itip.IGNORED and "no occurrence" in (missed.reason or "")


def test_cancelling_the_series_marks_every_part_and_keeps_the_highest_sequence() -> None:
    moved = vevent("RECURRENCE-ID:20270111T090000Z", "DTSTART:20270111T140000Z", sequence=4)
    current = stored(vevent(*SERIES, sequence=2), moved)
    result = itip.apply_cancel(current, incoming(calendar(vevent(*SERIES, sequence=3))), UTC_ZONE, NOW)
    assert result.outcome == itip.CANCELLED and result.calendar is not None
    parts = result.calendar.walk("VEVENT")
    assert {str(c["STATUS"]) for c in parts} == {"CANCELLED"} and {int(c["SEQUENCE"]) for c in parts} == {4}
    stale = itip.apply_cancel(current, incoming(calendar(vevent(*SERIES, sequence=1))), UTC_ZONE, NOW)
    assert stale.outcome == itip.IGNORED


def test_a_reply_sets_only_the_senders_answer() -> None:
    current = stored(
        vevent(
            *SERIES,
            ORGANIZER,
            "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bea@example.org",
            "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:cy@example.org",
        )
    )
    reply = calendar(vevent("DTSTART:20270104T090000Z", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:Bea@Example.org"))
    result = itip.apply_reply(current, incoming(reply), "bea@example.org", UTC_ZONE, NOW)
    assert result.outcome == itip.REPLIED and result.answers == (("bea@example.org", "ACCEPTED"),)
    assert result.calendar is not None
    answers = {str(a): a.params["PARTSTAT"] for a in result.calendar.walk("VEVENT")[0]["ATTENDEE"]}
    assert answers == {"mailto:bea@example.org": "ACCEPTED", "mailto:cy@example.org": "NEEDS-ACTION"}
    # Cy cannot be answered for by Bea, and a stranger is no attendee at all.
    for sender, attendee in (("bea@example.org", "cy@example.org"), ("eve@example.net", "eve@example.net")):
        forged = calendar(vevent("DTSTART:20270104T090000Z", f"ATTENDEE;PARTSTAT=DECLINED:mailto:{attendee}"))
        assert itip.apply_reply(current, incoming(forged), sender, UTC_ZONE, NOW).outcome == itip.REJECTED


def test_windows_zone_names_become_iana_and_floating_times_take_x_wr_timezone() -> None:
    outlook = calendar(
        "BEGIN:VTIMEZONE\r\nTZID:Pacific Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n"
        "TZOFFSETFROM:-0700\r\nTZOFFSETTO:-0800\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\nEND:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:-0800\r\nTZOFFSETTO:-0700\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE",
        vevent("DTSTART;TZID=Pacific Standard Time:20270705T090000"),
    )
    normalised = itip.normalise_time_zones(outlook)
    event = normalised.walk("VEVENT")[0]
    assert event["DTSTART"].params["TZID"] == "America/Los_Angeles"
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2027, 7, 5, 16, tzinfo=UTC)  # PDT
    assert normalised.walk("VTIMEZONE") == []
    floating = itip.normalise_time_zones(
        calendar(
            vevent("DTSTART:20270105T190000", "DTEND:20270105T200000"), extra="X-WR-TIMEZONE:Europe/Berlin"
        )
    )
    assert floating.walk("VEVENT")[0].decoded("DTSTART").astimezone(UTC) == datetime(
        2027, 1, 5, 18, tzinfo=UTC
    )
    # A zone we cannot name keeps its own VTIMEZONE, which the parser honours.
    custom = calendar(
        "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
        "TZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE",
        vevent("DTSTART;TZID=Customized Time Zone:20270105T090000"),
    )
    kept = itip.normalise_time_zones(custom)
    assert [str(tz["TZID"]) for tz in kept.walk("VTIMEZONE")] == ["Customized Time Zone"]
    assert kept.walk("VEVENT")[0].decoded("DTSTART").astimezone(UTC) == datetime(
        2027, 1, 5, 3, 30, tzinfo=UTC
    )


def test_a_new_series_with_its_exception_applies_both_and_says_so() -> None:
    # Google sends the whole event: the series and each exception, in one REQUEST.
    current = stored(vevent(*SERIES))
    moved = vevent(
        "RECURRENCE-ID:20270111T090000Z", "DTSTART:20270111T140000Z", "DTEND:20270111T150000Z", sequence=1
    )
    result = itip.apply_request(
        current, incoming(calendar(vevent(*SERIES, sequence=1), moved)), UTC_ZONE, NOW
    )
    assert result.outcome == itip.UPDATED and result.calendar is not None
    assert result.reason == "updated the series, the occurrence 20270111T090000Z"
    assert starts(result.calendar) == {"master": "20270104T090000Z", "20270111T090000Z": "20270111T140000Z"}
