"""The pure VEVENT editing behind the REST events API (caldee_dav.ical.events), checked against an
independent expansion with recurring_ical_events. Fixed dates: nothing here reads the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from caldee_dav import ical
from caldee_dav.errors import InvalidInput
from caldee_dav.ical import events as ev

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, tzinfo=UTC)
JAN, APR = datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC)


def weekly_series(count: int = 10) -> icalendar.Calendar:
    timing = ev.resolve_timing(
        None,
        start="2027-01-04T09:00:00",
        end="2027-01-04T10:00:00",
        zone="America/New_York",
        default_zone="UTC",
    )
    assert isinstance(timing, ev.Timing)
    edit = ev.EventEdit(
        title="Standup",
        description=None,
        location=None,
        status="confirmed",
        attendees=[ev.Person("ada@example.com", "Ada")],
        metadata={"k": "v,;\\ ünï"},
        timing=timing,
        recurrence=ev.check_rule(f"RRULE:freq=weekly;byday=MO;count={count}"),
    )
    text = ev.to_text(ev.new_event("uid-1", edit, ev.Person("me@example.com", "Me"), NOW))
    return ical.parse_calendar(text)


def reparsed(calendar: icalendar.Calendar) -> icalendar.Calendar:
    return ical.parse_calendar(ev.to_text(calendar))


def independent_starts(calendar: icalendar.Calendar) -> list[datetime]:
    return sorted(
        e.decoded("DTSTART").astimezone(UTC) for e in recurring_ical_events.of(calendar).between(JAN, APR)
    )


def test_a_new_series_reads_back_with_its_fields() -> None:
    calendar = weekly_series()
    event = calendar.walk("VEVENT")[0]
    assert event["DTSTART"].params["TZID"] == "America/New_York" and calendar.walk("VTIMEZONE")
    assert int(event["SEQUENCE"]) == 0 and "DTSTAMP" in event and "CREATED" in event
    series = ev.read_series(calendar, NY)
    assert series is not None
    assert (series.title, series.zone, series.recurrence) == (
        "Standup",
        "America/New_York",
        "FREQ=WEEKLY;COUNT=10;BYDAY=MO",
    )
    assert series.metadata == {"k": "v,;\\ ünï"} and series.organizer == ev.Person("me@example.com", "Me")
    assert [a.status for a in series.attendees] == ["needs-action"]


def test_occurrence_edits_match_an_independent_expansion() -> None:
    calendar = weekly_series()
    first = list(ev.occurrences(calendar, NY, JAN, APR))
    assert [o.start for o in first] == independent_starts(calendar)
    moved, cancelled, cut = first[1].recurrence_id, first[2].recurrence_id, first[5].recurrence_id
    assert moved is not None and cancelled is not None and cut is not None
    current = ev.Timing(first[1].start.astimezone(NY), first[1].end.astimezone(NY), "America/New_York")  # type: ignore[union-attr]
    timing = ev.resolve_timing(current, start="2027-01-12T11:00:00", default_zone="UTC")
    ev.edit_occurrence(calendar, moved, ev.EventEdit(title="Moved", timing=timing), NY, None, NOW)
    ev.cancel_occurrence(calendar, cancelled, NY, NOW)
    assert ev.end_series_before(calendar, cut, NY, NOW)
    calendar = reparsed(calendar)
    found = list(ev.occurrences(calendar, NY, JAN, APR))
    assert [o.start for o in found] == independent_starts(calendar)
    assert [ev.format_key(o.recurrence_id) for o in found] == [  # type: ignore[arg-type]
        "20270104T140000Z",
        "20270111T140000Z",
        "20270125T140000Z",
        "20270201T140000Z",
    ]
    assert [(o.title, o.is_exception) for o in found][:2] == [("Standup", False), ("Moved", True)]
    assert found[1].start == datetime(2027, 1, 12, 16, tzinfo=UTC)
    master = ev.master_of(calendar)
    assert master is not None and master["RRULE"].to_ical() == b"FREQ=WEEKLY;UNTIL=20270208T135959Z;BYDAY=MO"
    assert int(master["SEQUENCE"]) == 2  # EXDATE, then UNTIL: significant changes
    # Ending the series at its first occurrence leaves nothing: the caller deletes the object.
    assert not ev.end_series_before(calendar, first[0].recurrence_id, NY, NOW)  # type: ignore[arg-type]


def test_moving_the_series_keeps_exceptions_and_exdates_attached() -> None:
    calendar = weekly_series()
    first = list(ev.occurrences(calendar, NY, JAN, APR))
    ev.edit_occurrence(calendar, first[1].recurrence_id, ev.EventEdit(title="Special"), NY, None, NOW)  # type: ignore[arg-type]
    ev.cancel_occurrence(calendar, first[2].recurrence_id, NY, NOW)  # type: ignore[arg-type]
    series = ev.read_series(calendar, NY)
    assert series is not None
    current = ev.Timing(series.start.astimezone(NY), series.end.astimezone(NY), series.zone)  # type: ignore[union-attr]
    timing = ev.resolve_timing(current, start="2027-01-04T10:30:00", default_zone="UTC")
    ev.edit_series(calendar, ev.EventEdit(timing=timing), NY, None, NOW)
    found = list(ev.occurrences(reparsed(calendar), NY, JAN, APR))
    assert len(found) == 9 and all(o.start.astimezone(NY).hour == 10 for o in found)  # type: ignore[union-attr]
    assert [(o.title, o.is_exception) for o in found[:2]] == [("Standup", False), ("Special", True)]
    assert date(2027, 1, 18) not in {o.start.astimezone(NY).date() for o in found}  # type: ignore[union-attr]


def test_a_series_stays_at_nine_local_across_daylight_saving_time() -> None:
    calendar = weekly_series(count=52)
    local = {
        o.start.astimezone(NY).hour
        for o in ev.occurrences(calendar, NY, JAN, datetime(2028, 1, 1, tzinfo=UTC))
    }  # type: ignore[union-attr]
    assert local == {9}


def test_respond_sets_partstat_without_a_new_sequence() -> None:
    calendar = weekly_series()
    ev.set_partstat(calendar, None, ["ADA@example.com"], "accepted", NY, NOW)
    master = ev.master_of(calendar)
    assert master is not None and master["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert int(master["SEQUENCE"]) == 0
    with pytest.raises(ev.NotInvited):
        ev.set_partstat(calendar, None, ["bob@example.com"], "accepted", NY, NOW)


def test_all_day_ends_are_inclusive_in_and_exclusive_in_icalendar() -> None:
    timing = ev.resolve_timing(None, start="2027-01-04", end="2027-01-06", default_zone="Europe/Paris")
    assert timing == ev.Timing(date(2027, 1, 4), date(2027, 1, 7), "Europe/Paris")


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"start": "2027-01-04T09:00:00Z", "end": "2027-01-04T08:00:00Z"}, "end"),
        ({"start": "2027-01-04", "end": "2027-01-05T10:00:00Z"}, "end"),
        ({"start": "2027-01-04T09:00:00Z", "end": "2027-01-04", "all_day": False}, "end"),
        ({"start": "2027-01-04T09:00:00", "end": "2027-01-04", "all_day": True}, "start"),
        ({"start": "2027-01-04T09:00:00", "end": "2027-01-04T10:00", "zone": "Mars/Olympus"}, "timezone"),
        ({"start": "tomorrow", "end": "2027-01-04T10:00"}, "start"),
    ],
)
def test_bad_timing_names_its_field(fields: dict, path: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        ev.resolve_timing(None, default_zone="UTC", **fields)
    assert path in [p.path[0] for p in raised.value.problems]


@pytest.mark.parametrize(
    "rule", ["BYDAY=MO", "FREQ=WEEKLY;FOO=1", "FREQ=SOMETIMES", "FREQ=DAILY;COUNT=x", ""]
)
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(ValueError):
        ev.check_rule(rule)
