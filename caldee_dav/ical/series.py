"""The instances of a recurring series of a common shape, computed with dateutil directly and exactly as
recurring_ical_events computes them, without its per-instance objects.

Why: indexing Google's weekly series through recurring_ical_events cost ~70 us an instance, most of it
not dateutil's: for every instance of every window the library builds recurrence ids, an Occurrence,
comparable copies of four datetimes, and asks the icalendar component for its UID again. Here the series
is read once (its rule, EXDATEs, RDATEs, overrides), each rule's starts are generated once and kept
(the library asks dateutil for them again in every window), and a window takes its slice of them.

Exactly as the library: ``SimpleSeries.occurrences_between`` is recurring_ical_events 3.8's
``Series.between`` (series/rrule.py), step by step, for the shapes ``simple_series`` accepts, so the
windows of ``caldee_dav.ical.expand`` find the same instances in the same order: each rule's starts
as dateutil's ``between(after, before, inc=True)`` gives them (bisected while they rise, read literally
from the first where they do not: a start in a DST gap can sort before the one ahead of it), then the
same EXDATE tests, the same override lookup by recurrence id, the same span test. The shapes are those
where the library's own result does not depend on the order it iterates its sets, and where nothing
of recurring_ical_events beyond ``Series.between`` takes part. Anything else, or anything unsure,
is None here and goes through the library (``caldee_dav.ical.expand``). tests/test_index_fast.py
compares both paths on random series of these shapes: written against recurring_ical_events 3.8.2, a
release that expands differently fails it.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import icalendar
from dateutil.rrule import rrule, rrulestr

from caldee_dav.ical.parse import as_utc

Time = date | datetime
# One instance as a window finds it: (UTC start, UTC end, component, start, end, key). The key tells a
# window's instances from those a window before it found (``caldee_dav.ical.expand._in_windows``). The
# library's is the instance's start, or an override's RECURRENCE-ID. Here it is the override itself (its
# RECURRENCE-ID is unique, see ``_read_overrides``), and for an instance of the rule its start as a wall
# time (all starts share one zone, which compares them so) or, with no RDATE, the start's place in what
# its rule generates: then the only start two rules share is DTSTART, also the first the RRULE makes,
# which every window finds in both or in neither (and drops the RRULE's). Neither kind of key needs a
# zone to hash, which for Exchange's VTIMEZONEs costs a quarter of a millisecond.
Found = tuple[datetime, datetime, icalendar.cal.Component, Time, Time, object]

# Rules whose instances fall on whole days at DTSTART's time of day. BYHOUR, BYMINUTE and BYSECOND (several
# instances a day), BYYEARDAY and BYWEEKNO (rare), X- parts and the dense frequencies go to the library.
SIMPLE_FREQUENCIES = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
SIMPLE_RULE_PARTS = frozenset("FREQ INTERVAL COUNT UNTIL WKST BYDAY BYMONTHDAY BYMONTH BYSETPOS".split())
# recurring_ical_events drops a negative COUNT before dateutil reads the rule (its issue 128).
NEGATIVE_COUNT = re.compile(r"COUNT=-\d+;?")
OVERRIDE_RULES = ("RRULE", "RDATE", "EXDATE")
ONE_DAY = timedelta(days=1)
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FIRST = operator.itemgetter(0)
# A bound on the starts generated at once (an unending daily rule over decades, read a window at a time).
MOST_STARTS_AT_ONCE = 512


class NotSimple(Exception):  # noqa: N818 - a verdict, not a failure: the library takes the series
    """The series is not of a shape this module computes."""


def simple_series(calendar: icalendar.Calendar) -> SimpleSeries | None:
    """The VEVENT series of ``calendar`` (one UID, as ``validate_object`` requires) ready to expand, or
    None when recurring_ical_events must expand it."""
    try:
        return SimpleSeries(calendar)
    except NotSimple:
        return None
    except Exception:  # noqa: BLE001 - whatever the library would make of it, it makes it itself
        return None


# --- recurring_ical_events' conversions (its util.py), for the value types a simple series has --------


def _is_date(value: Time) -> bool:
    return not isinstance(value, datetime)


def _aware(value: Time) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _to_datetime(value: Time, zone: tzinfo | None) -> datetime:
    """util.convert_to_datetime: a date is midnight in ``zone``; a floating time takes ``zone``; an aware
    time keeps its own zone, or loses it when ``zone`` is None."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - floating until given a zone
    if value.tzinfo is None:
        return value if zone is None else value.replace(tzinfo=zone)
    return value if zone is not None else value.replace(tzinfo=None)


def _comparable(*values: Time) -> list[Time]:
    """util.make_comparable: all dates stay dates; otherwise all become datetimes in the zone of the first
    aware one (floating when none is)."""
    zone = None
    all_dates = True
    for value in values:
        if isinstance(value, datetime):
            all_dates = False
            if value.tzinfo is not None:
                zone = value.tzinfo
                break
    if all_dates:
        return list(values)
    return [_to_datetime(value, zone) for value in values]


def _greater(first: Time, second: Time) -> bool:
    """util.compare_greater."""
    first, second = _comparable(first, second)
    return first > second  # type: ignore[operator]


def _recurrence_ids(value: Time) -> tuple[datetime, ...]:
    """util.to_recurrence_ids: the keys an instance or a RECURRENCE-ID is known by (UTC and wall time)."""
    if not isinstance(value, datetime):
        return (datetime(value.year, value.month, value.day),)  # noqa: DTZ001 - a key, never a moment
    if value.tzinfo is None:
        return (value,)
    return (value.astimezone(UTC).replace(tzinfo=None), value.replace(tzinfo=None))


def _naive(value: datetime) -> datetime:
    """``value.replace(tzinfo=None)`` in a quarter of the time (replace parses its keywords)."""
    return datetime.combine(value.date(), value.time())


def _day(value: datetime) -> date:
    return date(value.year, value.month, value.day)


def _in_zone(value: Time, zone: tzinfo | None) -> Time:
    """A value as ``_comparable`` makes it beside an aware span bound in ``zone``."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=zone)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _in_span(span_start: datetime, span_stop: datetime, start: Time, end: Time) -> bool:
    """Occurrence.is_in_span (util.time_span_contains_event) for an aware span. The library raises when
    an instance ends before it starts; a simple series has none (its spans are ordered, and an instance
    of the rule ends ``duration`` after its start in the same zone)."""
    zone = span_start.tzinfo
    start, end = _in_zone(start, zone), _in_zone(end, zone)
    if start == end:
        return span_start <= start < span_stop  # type: ignore[operator]
    return start < span_stop and span_start < end  # type: ignore[operator]


def _event_span(component: icalendar.cal.Component) -> tuple[Time, Time]:
    """EventAdapter.span: DTSTART, and DTEND, or DTSTART + DURATION, or the end of DTSTART's day (a date)
    or DTSTART itself; the two swapped when the end comes first. A mix of dates, floating and aware
    times is not simple."""
    start = component["DTSTART"].dt
    if "DTEND" in component:
        end = component["DTEND"].dt
    elif "DURATION" in component:
        duration = component["DURATION"].dt
        if not isinstance(duration, timedelta) or (_is_date(start) and duration % ONE_DAY):
            raise NotSimple("a DURATION that makes a date a date-time")
        end = start + duration
    elif _is_date(start):
        end = start + ONE_DAY
    else:
        end = start
    if _is_date(start) != _is_date(end) or _aware(start) != _aware(end):
        raise NotSimple("DTSTART and the end are of different kinds")
    _check_time(start)
    _check_time(end)
    return (end, start) if start > end else (start, end)


def _check_time(value: Time) -> None:
    """A value the conversions above treat as the library does: no pytz zone (it needs localize and
    normalize), no second of a repeated hour (fold=1; the parser gives none)."""
    if isinstance(value, datetime) and (value.fold or hasattr(value.tzinfo, "localize")):
        raise NotSimple("a pytz zone or fold=1")


def _sequence(component: icalendar.cal.Component) -> int:
    sequence = component.get("SEQUENCE", -1)
    if not isinstance(sequence, int):
        raise NotSimple("SEQUENCE is not a number")
    return sequence


def _values(component: icalendar.cal.Component, name: str) -> list[Time]:
    """The dates and times of every EXDATE or RDATE line of ``component``."""
    lines = component.get(name, [])
    found: list[Time] = []
    for line in lines if isinstance(lines, list) else [lines]:
        for value in line.dts:
            if not isinstance(value.dt, date):  # a PERIOD (tuple) or something unreadable
                raise NotSimple(f"{name} holds a period")
            _check_time(value.dt)
            found.append(value.dt)
    return found


def _rule_text(component: icalendar.cal.Component) -> str | None:
    """The one RRULE of ``component`` as the library hands it to dateutil, if it is simple."""
    rules = component.get("RRULE")
    if rules is None:
        return None
    if isinstance(rules, list):
        if len(rules) != 1:
            raise NotSimple("several RRULEs")
        rules = rules[0]
    names = {str(name).upper() for name in rules}
    frequencies = [str(f).upper() for f in rules.get("FREQ", [])]
    if not names <= SIMPLE_RULE_PARTS or len(frequencies) != 1 or frequencies[0] not in SIMPLE_FREQUENCIES:
        raise NotSimple("a rule part or frequency this module leaves to the library")
    return rules.to_ical().decode()


def _daily_equivalent(text: str, start: datetime) -> str:
    """For dateutil, a weekly rule on DTSTART's weekday alone written as the daily rule every 7 x INTERVAL
    days it is: the same starts (from DTSTART, at its time of day, COUNT and UNTIL alike), in two thirds
    of dateutil's time (its weekly step builds a list of the year's days for every week). Any other
    rule, or one dateutil might refuse for a part dropped here, as it is."""
    pairs = [part.partition("=")[::2] for part in text.split(";")]
    parts = dict(pairs)
    weekday = WEEKDAY_CODES[start.weekday()]
    interval = parts.get("INTERVAL", "1")
    if (
        len(parts) != len(pairs)
        or parts.get("FREQ") != "WEEKLY"
        or not parts.keys() <= {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY"}
        or parts.get("BYDAY", weekday) != weekday
        or parts.get("WKST", "MO") not in WEEKDAY_CODES
        or not interval.isdigit()
        or int(interval) < 1
    ):
        return text
    ends = [f"{name}={parts[name]}" for name in ("COUNT", "UNTIL") if name in parts]
    return ";".join(["FREQ=DAILY", f"INTERVAL={7 * int(interval)}", *ends])


# --- the series -------------------------------------------------------------------------------------


class _Starts:
    """What one rule (or the set of RDATEs and DTSTART) generates, in its order, generated once and
    kept. ``between`` is dateutil's ``rrulebase.between(after, before, inc=True)`` over it: up to the
    first start after ``before``, everything from the first start at or after ``after``."""

    def __init__(self, source: Iterator[datetime]) -> None:
        self._source: Iterator[datetime] | None = source
        self.starts: list[datetime] = []
        # Each start's instant (``as_utc``), as dateutil compares it with the library's bounds: UTC, or
        # for a floating series, UTC's wall time.
        self.instants: list[datetime] = []
        # Whether the instants never fall (a start in a DST gap can come after one later in UTC).
        self.rising = True
        self._highest: datetime | None = None

    @property
    def complete(self) -> bool:
        """Whether every start of the rule is generated (it has a COUNT or an UNTIL, and got there)."""
        return self._source is None

    def between(self, after: datetime, before: datetime) -> Sequence[int]:
        """The places in ``starts`` of those between ``after`` and ``before`` (both aware)."""
        self._generate_past(before)
        instants = self.instants
        if self.rising:
            return range(bisect.bisect_left(instants, after), bisect.bisect_right(instants, before))
        found: list[int] = []
        for place, instant in enumerate(instants):
            if instant > before:
                break
            if found or instant >= after:
                found.append(place)
        return found

    def _generate_past(self, before: datetime) -> None:
        """Generate until a start after ``before`` is kept (or the rule ends). While the starts rise, as
        many as their spacing so far says reach past ``before`` are asked of dateutil at once, its
        iterator read in C rather than by a Python loop; a start or two too many is the next window's."""
        source, starts, instants, highest = self._source, self.starts, self.instants, self._highest
        while source is not None and (highest is None or highest <= before):
            count = 1
            if self.rising and len(instants) > 1 and instants[-1] > instants[0]:
                spacing = (instants[-1] - instants[0]) / (len(instants) - 1)
                count = max(1, min(int((before - instants[-1]) / spacing) + 1, MOST_STARTS_AT_ONCE))
            generated = list(itertools.islice(source, count))
            if len(generated) < count:
                self._source = source = None
            if not generated:
                break
            if generated[0].tzinfo is not None:
                new = [start.astimezone(UTC) for start in generated]
            else:
                new = [start.replace(tzinfo=UTC) for start in generated]
            last = instants[-1] if instants else new[0]
            if self.rising and not (last <= new[0] and all(map(operator.le, new, new[1:]))):
                self.rising = False
            newest = new[-1] if self.rising else max(new)
            highest = newest if highest is None else max(highest, newest)
            starts += generated
            instants += new
        self._highest = highest


@dataclass(eq=False)
class _Override:
    """A component with a RECURRENCE-ID (the library's modification adapter)."""

    component: icalendar.cal.Component
    start: Time
    end: Time
    recurrence_ids: tuple[datetime, ...]
    # What a window finds of it.
    found: Found = field(init=False)

    def __post_init__(self) -> None:
        self.found = (as_utc(self.start), as_utc(self.end), self.component, self.start, self.end, self)


@dataclass(frozen=True)
class _Rule:
    """The starts of one rule, and the UNTIL the library checks them against again (RecurrenceRules.
    rrule_between): ``until`` as ``_comparable`` makes it beside a start, compared with the start's
    instant (``by_instant``) when the series is floating and the UNTIL in UTC."""

    starts: _Starts
    until: datetime | None = None
    by_instant: bool = False

    def places_between(self, after: datetime, before: datetime) -> Sequence[int]:
        """``_Starts.between`` without the starts past ``until``. While the starts rise, those are the
        last ones: the rule generates its wall times in order, and UTC (or floating) instants rise
        with them."""
        places = self.starts.between(after, before)
        if self.until is None or not places:
            return places
        if isinstance(places, range):
            return places[: bisect.bisect_left(places, True, key=self._past_until)]
        return [place for place in places if not self._past_until(place)]

    def _past_until(self, place: int) -> bool:
        if self.by_instant:
            return self.starts.instants[place] > self.until  # type: ignore[operator]
        return self.starts.starts[place] > self.until  # type: ignore[operator]


class SimpleSeries:
    """One UID's VEVENTs, read for ``occurrences_between``. Raises NotSimple (or whatever reading it
    raises) for a series it does not compute."""

    def __init__(self, calendar: icalendar.Calendar) -> None:
        if calendar.get("CALSCALE", "GREGORIAN") != "GREGORIAN" or "X-WR-TIMEZONE" in calendar:
            raise NotSimple("a calendar scale, or times the library moves to X-WR-TIMEZONE")
        components = calendar.walk("VEVENT")
        if len(components) != sum(1 for c in calendar.subcomponents if c.name == "VEVENT"):
            raise NotSimple("a VEVENT inside another component")
        if not components or any("DTSTART" not in c for c in components):
            raise NotSimple("a VEVENT without DTSTART")
        for component in components:
            _sequence(component)
        self._read_overrides([c for c in components if "RECURRENCE-ID" in c])
        # The library's core: the master of the highest SEQUENCE, the first of them on a tie.
        core = None
        for master in (c for c in components if "RECURRENCE-ID" not in c):
            if core is None or _sequence(master) > _sequence(core):
                core = master
        self._core = core
        if core is not None:
            self._read_core(core)

    def _read_overrides(self, overrides: list[icalendar.cal.Component]) -> None:
        self._overrides: list[_Override] = []
        self._override_of: dict[datetime, _Override] = {}
        for component in overrides:
            recurrence_id = component["RECURRENCE-ID"]
            if "RANGE" in recurrence_id.params or any(name in component for name in OVERRIDE_RULES):
                raise NotSimple("RANGE=THISANDFUTURE, or an override with rules of its own")
            _check_time(recurrence_id.dt)
            start, end = _event_span(component)
            override = _Override(component, start, end, _recurrence_ids(recurrence_id.dt))
            for key in override.recurrence_ids:
                # Two overrides known by one key: the library keeps the one of the highest SEQUENCE.
                if self._override_of.get(key, override) is not override:
                    raise NotSimple("two overrides of one instance")
                self._override_of[key] = override
            self._overrides.append(override)
        # The library yields overrides it did not meet through the rule in the order of a set of
        # objects: on a tie in start that order would show.
        if len({override.found[0] for override in self._overrides}) != len(self._overrides):
            raise NotSimple("two overrides start at one moment")

    def _read_core(self, core: icalendar.cal.Component) -> None:
        """The library's RecurrenceRules of ``core``."""
        original_start, original_end = _event_span(core)
        self._component = core
        self._duration = original_end - original_start  # type: ignore[operator]
        # An instance of a series of dates is a date again (convert_to_original_type).
        self._all_day = _is_date(original_start)
        exdates, rdates = _values(core, "EXDATE"), _values(core, "RDATE")
        if "EXRULE" in core:
            raise NotSimple("EXRULE")
        self._zone = original_start.tzinfo if isinstance(original_start, datetime) else None
        self._floating = self._zone is None
        self._check_kinds(original_start, exdates, rdates)
        start = _to_datetime(original_start, self._zone)
        # With RDATEs, the rule set's starts may be found in other windows than the RRULE's same ones.
        self._wall_keys = bool(rdates)
        self._exdate_days = {value for value in exdates if _is_date(value)}
        self._exdate_ids: set[datetime] = set()
        for value in exdates:
            self._exdate_ids.update(_recurrence_ids(value))
            self._exdate_ids.add(_to_datetime(value, self._zone))
        rule_text = _rule_text(core)
        rule, until = self._rule(rule_text, start) if rule_text is not None else (None, None)
        # RDATEs and DTSTART (unless past the rule's UNTIL) form a rule set of their own, asked first.
        dates = {_to_datetime(value, self._zone) for value in rdates}
        if until is None or not _greater(start, until):
            dates.add(start)
        self._rules = [_Rule(_Starts(iter(sorted(dates))))]
        if rule is not None:
            self._rules.append(self._checked_rule(rule, until))

    def _checked_rule(self, rule: rrule, until: Time | None) -> _Rule:
        """``_greater(start, until)`` for every start of ``rule`` (all in the series' zone, or all
        floating), its conversions done once."""
        if until is None:
            return _Rule(_Starts(iter(rule)))
        if self._floating and _aware(until):  # an UNTIL in UTC (the only zone it can name)
            return _Rule(_Starts(iter(rule)), until, by_instant=True)  # type: ignore[arg-type]
        return _Rule(_Starts(iter(rule)), until if _aware(until) else _to_datetime(until, self._zone))

    def _check_kinds(self, start: Time, exdates: list[Time], rdates: list[Time]) -> None:
        """Values the library treats alike whatever order it reads its sets in, and that leave the
        series' kind as DTSTART's: RDATEs of DTSTART's kind (in its very zone); EXDATEs of any kind
        beside an aware DTSTART, not aware beside a floating one (it would lend the series its zone),
        dates beside a date (a time would make the series one of times)."""
        for value in rdates:
            zone = value.tzinfo if isinstance(value, datetime) else None
            if _is_date(value) != _is_date(start) or zone is not self._zone:
                raise NotSimple("an RDATE of another kind or zone than DTSTART")
        for value in exdates:
            if (self._zone is None and _aware(value)) or (self._all_day and not _is_date(value)):
                raise NotSimple("an EXDATE that changes the kind of the series")

    def _rule(self, text: str, start: datetime) -> tuple[rrule, Time | None]:
        """RecurrenceRules.create_rule_with_start: dateutil refuses an UNTIL of another kind than DTSTART;
        the library then rewrites it (a date for dates, floating beside a floating DTSTART, else UTC)."""
        try:
            return self._rule_of(text, start)
        except ValueError:
            parts = text.split(";UNTIL=")
            if len(parts) != 2:
                raise NotSimple("an UNTIL the library cannot rewrite") from None
            head, tail = parts
            until_end = tail.find(";")
            until_end = len(tail) if until_end == -1 else until_end
            until = tail[:until_end]
            if self._all_day:
                until = until[:8]
            elif self._floating:
                until = until[:-1]
            else:
                until = until + "T000000" if len(until) == 8 else until
                if len(until) != 15:
                    raise NotSimple("an UNTIL the library cannot rewrite") from None
                until += "Z"
            return self._rule_of(head + tail[until_end:] + ";UNTIL=" + until, start)

    @staticmethod
    def _rule_of(text: str, start: datetime) -> tuple[rrule, Time | None]:
        text = NEGATIVE_COUNT.sub("", text)
        rule = rrulestr(_daily_equivalent(text, start), dtstart=start)
        if not isinstance(rule, rrule):
            raise NotSimple("not one rule")
        parts = text.split(";UNTIL=")
        if len(parts) > 2:
            raise NotSimple("two UNTILs")
        until = icalendar.vDDDTypes.from_ical(parts[1].partition(";")[0]) if len(parts) == 2 else None
        return rule, until

    @property
    def settled(self) -> bool:
        """Whether what a window finds no longer depends on where windows begin and end: no override
        (met through the rule or not, in one window or another), and every rule's starts generated to
        their end and rising (dateutil's ``between`` then finds every start in the window holding it)."""
        return (
            self._core is not None
            and not self._overrides
            and all(rule.starts.complete and rule.starts.rising for rule in self._rules)
        )

    def occurrences_between(self, span_start: datetime, span_stop: datetime) -> list[Found]:
        """Every instance overlapping [span_start, span_stop) (aware), in the library's order, then by UTC
        start (stable, as ``caldee_dav.ical.expand`` sorts the library's)."""
        found: list[Found] = []
        met: set[int] = set()  # overrides met through the rule (returned_modifications)
        ordered = self._rule_instances(span_start, span_stop, found, met) if self._core is not None else True
        exdate_ids = self._exdate_ids if self._core is not None else set()
        for override in self._overrides:
            if id(override) in met or not exdate_ids.isdisjoint(override.recurrence_ids):
                continue
            if _in_span(span_start, span_stop, override.start, override.end):
                ordered = ordered and not found
                found.append(override.found)
        if not ordered:
            found.sort(key=FIRST)
        return found

    def _rule_instances(
        self, span_start: datetime, span_stop: datetime, found: list[Found], met: set[int]
    ) -> bool:
        """The first loop of Series.between: each start the rules give for the window widened by the
        series' duration, unless excluded, as an instance of the series or as the override of it.
        Whether ``found`` is in UTC order already: the instances of one rule whose starts rise."""
        after, before = span_start - self._duration, span_stop
        from_rule_set: set[datetime] = set()  # returned_starts, as wall times (see _instances)
        plain = not (
            self._exdate_days or self._exdate_ids or self._override_of or self._all_day or self._wall_keys
        )
        sources = 0
        ordered = True
        for rule in self._rules:
            places = rule.places_between(after, before)
            in_rule_set = rule is self._rules[0]
            if not places:
                continue
            count = len(found)
            if plain and not in_rule_set and not from_rule_set and self._zone is not None:
                found += self._plain_instances(places, rule.starts, span_start, span_stop)
            else:
                self._instances(
                    places, rule.starts, span_start, span_stop, found, met, from_rule_set, in_rule_set
                )
            if len(found) > count:
                sources += 1
                ordered = ordered and rule.starts.rising
        return ordered and sources <= 1 and not met

    def _instances(
        self,
        places: Sequence[int],
        rule: _Starts,
        span_start: datetime,
        span_stop: datetime,
        found: list[Found],
        met: set[int],
        from_rule_set: set[datetime],
        in_rule_set: bool,
    ) -> None:
        """The loop of Series.between over the starts at ``places`` of ``rule``. Faster than the
        library, same result: instants compared in UTC (as the library's aware comparisons do),
        recurrence ids made only when an EXDATE or an override may match them, and only the rule set's
        starts remembered (``returned_starts``: a rule never repeats a start), as wall times (all
        starts share one zone, which compares them as wall times)."""
        exdate_days, exdate_ids, override_of = self._exdate_days, self._exdate_ids, self._override_of
        by_ids = bool(exdate_ids or override_of)
        duration, component, all_day, zone = self._duration, self._component, self._all_day, self._zone
        # time_span_contains_event: an instance of no length is in the span when it starts in it.
        no_length = not duration
        starts, instants = rule.starts, rule.instants
        for place in places:
            start, utc_start = starts[place], instants[place]
            wall = start if zone is None else _naive(start)
            if from_rule_set and wall in from_rule_set:
                continue
            if exdate_days and _day(start) in exdate_days:
                continue
            if by_ids:
                # _recurrence_ids(start), from the instant at hand
                ids = (wall,) if zone is None else (_naive(utc_start), wall)
                if not exdate_ids.isdisjoint(ids):
                    continue
                override = None
                for key in ids:
                    override = override_of.get(key, override)
                if override is not None:
                    if id(override) not in met:
                        met.add(id(override))
                        if _in_span(span_start, span_stop, override.start, override.end):
                            found.append(override.found)
                    continue
            key: object = wall if self._wall_keys else ~place if in_rule_set else place
            if in_rule_set:
                from_rule_set.add(wall)
            end = start + duration
            if all_day:
                start, end = _day(start), _day(end)
                utc_end = datetime(end.year, end.month, end.day, tzinfo=UTC)
            else:
                utc_end = end.astimezone(UTC) if zone is not None else end.replace(tzinfo=UTC)
            if (
                span_start <= utc_start < span_stop
                if no_length
                else utc_start < span_stop and span_start < utc_end
            ):
                found.append((utc_start, utc_end, component, start, end, key))

    def _plain_instances(
        self, places: Sequence[int], rule: _Starts, span_start: datetime, span_stop: datetime
    ) -> list[Found]:
        """``_instances`` for the common case, in bulk: a rule's starts in a zone, none of them
        excluded, overridden or met before in this window."""
        if isinstance(places, range):
            starts, instants = (
                rule.starts[places.start : places.stop],
                rule.instants[places.start : places.stop],
            )
        else:
            starts, instants = [rule.starts[p] for p in places], [rule.instants[p] for p in places]
        duration, component = self._duration, self._component
        ends = [start + duration for start in starts]
        utc_ends = [end.astimezone(UTC) for end in ends]
        found = zip(instants, utc_ends, starts, ends, places, strict=True)
        if not duration:
            return [(i, u, component, s, e, p) for i, u, s, e, p in found if span_start <= i < span_stop]
        return [(i, u, component, s, e, p) for i, u, s, e, p in found if i < span_stop and span_start < u]
