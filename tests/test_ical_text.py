"""Writing and reading iCalendar text cheaply, with the same results as icalendar's own way:
``vtimezones.fold``/``calendar_text`` against ``to_ical``, and ``itip.known_zones_by_name`` (the zones
of an invitation left to zoneinfo before parsing) against parsing the whole message and normalising
its zones afterwards. Pure; dates come from the fixtures' own base day."""

from __future__ import annotations

import copy
from datetime import date

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.content_line import Contentline

from caldee_dav.ical import events as ev
from caldee_dav.ical import itip, vtimezones
from caldee_dav.ical.parse import main_components
from inbound.reader import read_mail
from tests import imip_fixtures

# Characters that matter to folding: ASCII, the escapes folding must not split, multi-byte ones.
FOLD_ALPHABET = st.sampled_from(list('abc ;:,"\\^') + ["é", "€", "😀"])


@settings(max_examples=400, derandomize=True)
@given(st.text(FOLD_ALPHABET, max_size=400))
def test_fold_is_icalendars(line: str) -> None:
    assert vtimezones.fold(line) == Contentline(line).to_ical().decode()


def fixture_calendars() -> list[tuple[str, str]]:
    """Every calendar the sender fixtures carry, as (fixture name, text)."""
    found = []
    for name in imip_fixtures.FIXTURES:
        raw = imip_fixtures.render(name, to="cal-x@localhost", base_day=imip_fixtures.base_day())
        found += [(name, part.text) for part in read_mail(raw, "smtp").calendars]
    return found


FIXTURE_CALENDARS = fixture_calendars()


@pytest.mark.parametrize(("name", "text"), FIXTURE_CALENDARS, ids=[n for n, _ in FIXTURE_CALENDARS])
def test_calendar_text_is_to_ical(name: str, text: str) -> None:
    calendar = icalendar.Calendar.from_ical(text)
    assert vtimezones.calendar_text(calendar) == calendar.to_ical().decode()
    # With zoneinfo's zones added (shared, written from their kept text): still the same text, and a
    # deep copy (no longer the shared component) is written the same way.
    ev.add_time_zones(calendar)
    assert vtimezones.calendar_text(calendar) == calendar.to_ical().decode()
    assert vtimezones.calendar_text(copy.deepcopy(calendar)) == calendar.to_ical().decode()


def test_a_zone_is_built_once_and_shared() -> None:
    def new_york_event() -> icalendar.Calendar:
        return icalendar.Calendar.from_ical(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:u\r\n"
            "DTSTAMP:20270101T000000Z\r\nDTSTART;TZID=America/New_York:20270104T090000\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )

    first, second = new_york_event(), new_york_event()
    ev.add_time_zones(first)
    ev.add_time_zones(second)
    assert [c.name for c in first.subcomponents] == ["VTIMEZONE", "VEVENT"]
    assert first.subcomponents[0] is second.subcomponents[0]
    assert str(first.subcomponents[0]["TZID"]) == "America/New_York"
    # Adding again adds nothing: the zone is there.
    ev.add_time_zones(first)
    assert len(first.subcomponents) == 2


def test_unknown_zones_get_no_vtimezone() -> None:
    calendar = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Nowhere/Special:20270104T090000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    vtimezones.add_missing_time_zones(calendar, date(2026, 1, 1), date(2046, 1, 1))
    assert [c.name for c in calendar.subcomponents] == ["VEVENT"]


def event_values(calendar: icalendar.Calendar) -> list[dict[str, object]]:
    """What the store and the iTIP rules read of each event: every property, times as instants with
    their zone's IANA name."""
    values = []
    for component in main_components(calendar):
        found: dict[str, object] = {}
        for name, value in component.property_items(recursive=False):
            if name in ("BEGIN", "END"):
                continue
            moments = [v.dt for v in getattr(value, "dts", [])] or [getattr(value, "dt", None)]
            if any(m is not None for m in moments):
                found[name] = [(m, str(getattr(m, "tzinfo", None))) for m in moments]
            else:
                found[name] = value.to_ical()
        values.append(found)
    return values


@pytest.mark.parametrize(("name", "text"), FIXTURE_CALENDARS, ids=[n for n, _ in FIXTURE_CALENDARS])
def test_zones_known_by_name_read_as_before(name: str, text: str) -> None:
    """Parsing without the known VTIMEZONEs gives what parsing with them and normalising gave."""
    whole = itip.normalise_time_zones(icalendar.Calendar.from_ical(text))
    light = itip.normalise_time_zones(icalendar.Calendar.from_ical(itip.known_zones_by_name(text)))
    assert event_values(light) == event_values(whole)
    assert {str(c["TZID"]) for c in light.walk("VTIMEZONE")} <= {
        str(c["TZID"]) for c in whole.walk("VTIMEZONE")
    }


OUTLOOK_EVENT = """BEGIN:VCALENDAR
METHOD:REQUEST
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:u
DTSTAMP:20270101T000000Z
DTSTART;TZID="W. Europe Standard Time":20270104T090000
DTEND;LANGUAGE=en;TZID=W. Europe Standard Time:20270104T10
 0000
EXDATE;TZID=Customized Time Zone:20270111T090000
RRULE:FREQ=WEEKLY;COUNT=3
DESCRIPTION:a line that says DTSTART;TZID=W. Europe Standard Time:2027 is text
END:VEVENT
END:VCALENDAR
"""


def test_known_zones_by_name_on_outlook_shapes() -> None:
    text = itip.known_zones_by_name(OUTLOOK_EVENT)
    # The Windows zone's VTIMEZONE is gone, its TZIDs are IANA, quoted or not, folded or not; the
    # custom zone keeps its VTIMEZONE and its name; text that only looks like a property is untouched.
    assert "TZID:W. Europe Standard Time" not in text
    assert "DTSTART;TZID=Europe/Berlin:20270104T090000" in text
    assert "DTEND;LANGUAGE=en;TZID=Europe/Berlin:20270104T100000" in text
    assert "TZID:Customized Time Zone" in text
    assert "EXDATE;TZID=Customized Time Zone:20270111T090000" in text
    assert "DESCRIPTION:a line that says DTSTART;TZID=W. Europe Standard Time:2027 is text" in text
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(event.decoded("DTSTART").tzinfo) == "Europe/Berlin"


def test_a_vtimezone_left_open_is_left_to_the_parser() -> None:
    broken = "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:VEVENT\nUID:u\nEND:VEVENT\n"
    assert itip.known_zones_by_name(broken) == broken
