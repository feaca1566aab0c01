"""Content lines split the short way (caldee_dav.ical.content_lines) give what icalendar's own give.

What a user would notice if they did not: an invitation or a CalDAV upload read differently from what
it says (a parameter lost, a value cut at a colon inside a quoted parameter, a broken line accepted).
"""

from __future__ import annotations

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser.content_line import Contentline

from caldee_dav import ical
from caldee_dav.ical.content_lines import QuickContentline, content_lines
from inbound.reader import read_mail
from tests import imip_fixtures


def _parts(line: Contentline) -> tuple[object, ...]:
    try:
        name, params, value = line.parts()
    except ValueError as exc:
        return ("error", str(exc))
    return (name, dict(params), type(params).__name__, value)


def _fixture_calendars() -> list[str]:
    texts = []
    for name in imip_fixtures.FIXTURES:
        raw = imip_fixtures.render(name, to="cal-1@localhost", base_day=imip_fixtures.base_day())
        texts.extend(part.text for part in read_mail(raw, via="smtp").calendars)
    return texts


EDGE_LINES = [
    "DTSTAMP:20261207T101500Z",
    "DTSTART;TZID=Europe/Berlin:20261207T101500",
    'DTSTART;TZID="Pacific Standard Time":20261207T101500',
    'ATTENDEE;CN="Doe, Jane";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:jane@example.com',
    'DESCRIPTION;ALTREP="cid:part1.0001@example.org":The Fall\'98 Wild: see http://x/y',
    "ORGANIZER;CN=Org:mailto:org@example.com",
    "URL:https://example.com/a:b;c",
    "X-A :v",
    " X-B:v",
    "X\tC:v",
    "SUMMARY;:empty parameters",
    ";X=1:no name",
    ":no name at all",
    "NO-COLON-AT-ALL",
    "BAD_NAME:v",
    "A\\:B:escaped colon in the name",
    "SUMMARY:a\\, b\\; c\\n d",
    'ATTENDEE;X-A="a:b";CN=x:mailto:x@example.com',
    'ATTENDEE;X-A="unterminated:mailto:x@example.com',
    "ATTENDEE;=novalue:mailto:x@example.com",
    "ATTENDEE;CN:mailto:x@example.com",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
    "CATEGORIES:a,b,c",
    "X-EMPTY:",
    "ÄÖÜ:non-ascii name",
    # Parameters split the quick way, and the ones icalendar transforms (left to it).
    "ATTENDEE;CN=Jane Doe;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:jane@example.com",
    "ATTENDEE;cn=lower;x-key=Mixed Case:mailto:x@example.com",
    "ATTENDEE;CN=Doe, Jane:mailto:x@example.com",
    "ATTENDEE;DELEGATED-TO=mailto:a@example.com:mailto:x@example.com",
    "ATTENDEE;CN=a^nb^^c^'d:mailto:x@example.com",
    "ATTENDEE;CN=50%2C off:mailto:x@example.com",
    "ATTENDEE;CN = spaced ; ROLE= CHAIR:mailto:x@example.com",
    "ATTENDEE;CN=trailing :mailto:x@example.com",
    "ATTENDEE; CN=leading:mailto:x@example.com",
    "ATTENDEE;CN=a\tb:mailto:x@example.com",
    "ATTENDEE;CN=:mailto:x@example.com",
    "ATTENDEE;CN=x;:mailto:x@example.com",
    "ATTENDEE;;CN=x:mailto:x@example.com",
    "ATTENDEE;CN=x;CN=y:mailto:x@example.com",
    "ATTENDEE;X-EQ=a=b:mailto:x@example.com",
    "ATTENDEE;BAD_KEY=x:mailto:x@example.com",
    "ATTENDEE;CN=ctl\x01char:mailto:x@example.com",
    "BAD NAME;CN=x:v",
    "DTSTART;VALUE=DATE:20261207",
    "DTSTART;TZID=America/Argentina/Buenos_Aires;VALUE=DATE-TIME:20261207T101500",
]


@pytest.mark.parametrize("line", EDGE_LINES)
def test_an_edge_line_splits_as_icalendar_splits_it(line: str) -> None:
    assert _parts(QuickContentline(line)) == _parts(Contentline(line))


def test_every_line_of_every_sender_s_invitation_splits_as_icalendar_splits_it() -> None:
    texts = _fixture_calendars()
    assert len(texts) >= 10
    lines = 0
    for text in texts:
        for line in icalendar.parser.Contentlines.from_ical(text):
            if line:
                lines += 1
                assert _parts(QuickContentline(line)) == _parts(Contentline(line)), line
    assert lines > 300


def test_an_invitation_parses_to_what_icalendar_parses_from_its_text() -> None:
    for text in _fixture_calendars():
        quick = icalendar.Calendar.from_ical(content_lines(text))
        assert quick.to_ical() == icalendar.Calendar.from_ical(text).to_ical()
        assert ical.parse_calendar(text).to_ical() == quick.to_ical()


def test_text_icalendar_refuses_is_refused_in_icalendar_s_words() -> None:
    broken = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    with pytest.raises(ValueError) as expected:
        icalendar.Calendar.from_ical(broken)
    with pytest.raises(ical.InvalidCalendarData) as refused:
        ical.parse_calendar(broken)
    assert str(expected.value) in str(refused.value)
    assert "BEGIN:VCALENDAR" in str(refused.value)  # the text quoted, not a list of lines


LINE_CHARACTERS = st.sampled_from(
    list("ABZaz09-_:;=,\"\\ \t/.@'é^%") + ["TZID", "CN", "mailto:", "VALUE=DATE", ";CN=", "ATTENDEE;"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(LINE_CHARACTERS, min_size=1, max_size=30).map("".join))
def test_any_line_splits_as_icalendar_splits_it(line: str) -> None:
    assert _parts(QuickContentline(line)) == _parts(Contentline(line))
