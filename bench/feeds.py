"""Feeds benchmark: a calendar of N events published as .ics feeds (full and busy-only).

    .venv/bin/python bench/feeds.py [--events 10000] [--repeat 15] [--postgres URL] [--keep]

A calendar of N events (clock-relative: one year centred on today; ~5% weekly series with EXDATEs and
moved or cancelled instances, all-day and transparent events, Europe/Berlin and America/New_York with
the VTIMEZONEs clients send, UTC), stored through the write service. Server time, in-process: the REST
app (Flask test client, no socket) answering GET /feeds/{id}.ics, median of ``--repeat``:

* cold full render (the per-process cache emptied before each request), cached full render, 304
  (If-None-Match), cold and cached busy-only feed, and the gzip of a cached feed;
* the naive baseline in the same run, on the same texts from the same query: every object parsed with
  icalendar, its VEVENTs and the first VTIMEZONE per TZID added to one calendar, ``to_ical()`` (busy:
  the same, each VEVENT reduced to its timing properties); for 304 the naive way to an ETag without a
  revision: render and hash. Its feed must hold the same VEVENTs (UID, RECURRENCE-ID) as ours.

Targets: full feed (cached) under 250 ms, 304 under 5 ms. Exits 1 when a check fails. Results:
docs/performance.md ("Feeds").

The REST events list (GET /api/v2/calendars/{id}/events) is timed on the same calendar: the first page
of 200 occurrences of the next 30 days (baseline: every object parsed and expanded over the window,
sorted, the page taken), and every page of that window by cursor, in events/s.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _backends  # noqa: E402
import icalendar  # noqa: E402
import recurring_ical_events  # noqa: E402

from api import create_app  # noqa: E402
from api.context import EXTENSION  # noqa: E402
from api.feeds import FEEDS  # noqa: E402
from caldee_dav import clock, db, store  # noqa: E402
from caldee_dav.calendars import accounts, feed_tokens, feeds  # noqa: E402
from caldee_dav.calendars import objects as calendar_objects  # noqa: E402
from caldee_dav.config import Settings  # noqa: E402
from caldee_dav.ical import events as ical_events  # noqa: E402
from caldee_dav.ical import parse as ical_parse  # noqa: E402
from caldee_dav.schema import migrate  # noqa: E402

PG_DATABASE = "caledee_bench_feeds"
BATCH = 2000
RECURRING_SHARE, ALL_DAY_SHARE, TRANSPARENT_SHARE = 0.05, 0.05, 0.05
ZONES = {"Europe/Berlin": 0.45, "America/New_York": 0.25, "UTC": 0.30}
TARGET_CACHED_MS, TARGET_304_MS = 250.0, 5.0
SUMMARIES = ["Weekly sync", "1:1 with Sam", "Design review", "Customer call", "Planning", "Lunch"]
BUSY_KEEP = (
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "DTSTAMP",
    "SEQUENCE",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data -----------------------------------------------------------------------------------------------


def _zone_block(tzid: str) -> list[str]:
    """A VTIMEZONE as clients send it (RRULE-based, one standard and one daylight observance)."""
    if tzid == "Europe/Berlin":
        rules = [
            ("DAYLIGHT", "+0100", "+0200", "19700329T020000", "3;BYDAY=-1SU"),
            ("STANDARD", "+0200", "+0100", "19701025T030000", "10;BYDAY=-1SU"),
        ]
    else:
        rules = [
            ("DAYLIGHT", "-0500", "-0400", "19700308T020000", "3;BYDAY=2SU"),
            ("STANDARD", "-0400", "-0500", "19701101T020000", "11;BYDAY=1SU"),
        ]
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    for kind, offset_from, offset_to, start, rule in rules:
        lines += [
            f"BEGIN:{kind}",
            f"TZOFFSETFROM:{offset_from}",
            f"TZOFFSETTO:{offset_to}",
            f"DTSTART:{start}",
            f"RRULE:FREQ=YEARLY;BYMONTH={rule}",
            f"END:{kind}",
        ]
    return [*lines, "END:VTIMEZONE"]


def _when(prop: str, moment: datetime, tzid: str) -> str:
    if tzid == "UTC":
        return f"{prop}:{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return f"{prop};TZID={tzid}:{moment.strftime('%Y%m%dT%H%M%S')}"


def _vevent(rng: random.Random, uid: str, extra: list[str]) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"SUMMARY:{rng.choice(SUMMARIES)}"]
    if rng.random() < 0.4:
        lines.append("DESCRIPTION:Agenda:\\n- last week's actions\\n- decisions\\n- open questions")
    if rng.random() < 0.3:
        lines += [
            "ORGANIZER;CN=Alex:mailto:alex@example.com",
            "ATTENDEE;CN=Kim;PARTSTAT=ACCEPTED:mailto:kim@example.com",
        ]
    return [*lines, *extra, "END:VEVENT"]


def event_text(rng: random.Random, n: int, today: date) -> str:
    """The n-th event: a VCALENDAR as a client PUTs it."""
    uid = f"{n:06d}-{rng.getrandbits(64):016x}@bench.example"
    day = today + timedelta(days=rng.randrange(-182, 183))
    tzid = rng.choices(list(ZONES), weights=list(ZONES.values()))[0]
    zone = ZoneInfo(tzid)
    start = datetime(
        day.year, day.month, day.day, rng.choice([8, 9, 10, 11, 14, 15, 16]), rng.choice([0, 30]), tzinfo=zone
    )
    end = start + timedelta(minutes=rng.choice([30, 45, 60, 90]))
    roll = rng.random()
    components: list[list[str]] = []
    if roll < ALL_DAY_SHARE:
        tzid = "UTC"
        components.append(
            _vevent(
                rng,
                uid,
                [f"DTSTART;VALUE=DATE:{day:%Y%m%d}", f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}"],
            )
        )
    elif roll < ALL_DAY_SHARE + RECURRING_SHARE:
        master = [
            _when("DTSTART", start, tzid),
            _when("DTEND", end, tzid),
            f"RRULE:FREQ=WEEKLY;COUNT={rng.randint(6, 30)}",
        ]
        if rng.random() < 0.5:
            master.append(_when("EXDATE", start + timedelta(weeks=1), tzid))
        components.append(_vevent(rng, uid, master))
        if rng.random() < 0.5:  # a moved instance
            moved = start + timedelta(weeks=2, hours=1)
            components.append(
                _vevent(
                    rng,
                    uid,
                    [
                        _when("RECURRENCE-ID", start + timedelta(weeks=2), tzid),
                        _when("DTSTART", moved, tzid),
                        _when("DTEND", moved + (end - start), tzid),
                    ],
                )
            )
        if rng.random() < 0.3:  # a cancelled instance
            gone = start + timedelta(weeks=3)
            components.append(
                _vevent(
                    rng,
                    uid,
                    [
                        _when("RECURRENCE-ID", gone, tzid),
                        _when("DTSTART", gone, tzid),
                        _when("DTEND", gone + (end - start), tzid),
                        "STATUS:CANCELLED",
                    ],
                )
            )
    else:
        extra = [_when("DTSTART", start, tzid), _when("DTEND", end, tzid)]
        if roll > 1 - TRANSPARENT_SHARE:
            extra.append("TRANSP:TRANSPARENT")
        if rng.random() < 0.3:
            extra += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                "TRIGGER:-PT10M",
                "DESCRIPTION:Reminder",
                "END:VALARM",
            ]
        components.append(_vevent(rng, uid, extra))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Bench//Feeds//EN"]
    if tzid != "UTC":
        lines += _zone_block(tzid)
    for component in components:
        lines += component
    return "\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n"


@dataclass
class Loaded:
    calendar_id: str
    full_token: str
    busy_token: str


def load(database_url: str, count: int, settings: Settings) -> Loaded:
    """A user and a calendar with ``count`` events, written through the write service in batches."""
    engine = db.engine_for(database_url)
    migrate(engine)
    with db.write_unit(engine) as session:
        user = accounts.create_user(
            session, email="bench@example.com", slug="bench", timezone="Europe/Berlin"
        )
        calendar = accounts.create_calendar(
            session, user, name="Bench", slug="bench", description="10k events"
        )
        tokens = feed_tokens.issue_calendar_feed_tokens(calendar)
        session.flush()
        loaded = Loaded(calendar.public_id, tokens.full, tokens.busy)
    rng = random.Random(2027)
    today = clock.now().date()
    limits = calendar_objects.WriteLimits.from_settings(settings)
    now = clock.now()
    for first in range(0, count, BATCH):
        prepared = [
            calendar_objects.prepare_object(event_text(rng, n, today), limits, now)
            for n in range(first, min(first + BATCH, count))
        ]
        with db.write_unit(engine) as session:
            calendar = session.get(type(calendar), calendar.id)
            for obj in prepared:
                calendar_objects.put_object(session, calendar, f"{obj.uid}.ics", obj)
    _backends.vacuum_analyze(engine)
    return loaded


# --- the naive baseline ---------------------------------------------------------------------------


def naive_feed(texts: list[bytes], *, busy: bool) -> bytes:
    """Parse every object with icalendar, merge, serialize: what a feed costs without the text path."""
    merged = icalendar.Calendar()
    for name, value in (("VERSION", "2.0"), ("PRODID", "-//naive//EN"), ("METHOD", "PUBLISH")):
        merged.add(name, value)
    zones: set[str] = set()
    for text in texts:
        for component in icalendar.Calendar.from_ical(text).subcomponents:
            if component.name == "VTIMEZONE" and str(component["TZID"]) not in zones:
                zones.add(str(component["TZID"]))
                merged.add_component(component)
            elif component.name == "VEVENT":
                merged.add_component(_busy(component) if busy else component)
    return merged.to_ical()


def _busy(event: icalendar.Event) -> icalendar.Event:
    reduced = icalendar.Event()
    reduced.add("UID", hashlib.sha256(str(event["UID"]).encode()).hexdigest()[:32])
    reduced.add("SUMMARY", "Busy")
    for name in BUSY_KEEP:
        if name in event:
            reduced[name] = event[name]
    return reduced


def vevent_keys(body: bytes) -> list[tuple[str, str]]:
    calendar = icalendar.Calendar.from_ical(body)
    return sorted(
        (str(e["UID"]), str(e.get("RECURRENCE-ID").to_ical() if "RECURRENCE-ID" in e else ""))
        for e in calendar.walk("VEVENT")
    )


# --- measurements ---------------------------------------------------------------------------------------


@dataclass
class Context:
    """What a measurement may use: the in-process app, the loaded calendar, the texts, the settings."""

    backend: str
    client: Any
    app: Any
    loaded: Loaded
    texts: list[bytes]
    repeat: int


@dataclass
class Row:
    operation: str
    ours_ms: float
    baseline_ms: float | None = None
    note: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.baseline_ms / self.ours_ms:,.0f}x" if self.baseline_ms and self.ours_ms else "-"


@dataclass
class Result:
    backend: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def _url(ctx: Context, *, busy: bool = False) -> str:
    if busy:
        return feed_tokens.busy_feed_path(ctx.loaded.calendar_id, ctx.loaded.busy_token)
    return feed_tokens.calendar_feed_path(ctx.loaded.calendar_id, ctx.loaded.full_token)


def _get(ctx: Context, url: str, **headers: str) -> Any:
    response = ctx.client.get(url, headers={"Accept-Encoding": "identity", **headers})
    assert response.status_code in (200, 304), response.status_code
    return response


def _emptied(ctx: Context) -> None:
    ctx.app.extensions[FEEDS].cache = feeds.FeedCache(ctx.app.extensions[FEEDS].settings.cache_bytes)


def _cold(ctx: Context, url: str) -> Any:
    _emptied(ctx)
    return _get(ctx, url)


def measure_full(ctx: Context, result: Result) -> None:
    url = _url(ctx)
    cold_ms, response = timed(lambda: _cold(ctx, url), ctx.repeat)
    cached_ms, _ = timed(lambda: _get(ctx, url), ctx.repeat)
    naive_ms, naive = timed(lambda: naive_feed(ctx.texts, busy=False), max(3, ctx.repeat // 5))
    result.sizes["full"] = len(response.data)
    if vevent_keys(response.data) != vevent_keys(naive):
        result.problems.append("the full feed and the naive one hold different VEVENTs")
    result.rows.append(Row("full feed, cold render", cold_ms, naive_ms))
    result.rows.append(Row("full feed, cached", cached_ms, naive_ms))
    if cached_ms > TARGET_CACHED_MS:
        result.problems.append(f"cached full feed {cached_ms:.1f} ms > {TARGET_CACHED_MS} ms")
    etag = response.headers["ETag"]
    not_modified_ms, answer = timed(lambda: _get(ctx, url, **{"If-None-Match": etag}), ctx.repeat * 4)
    if answer.status_code != 304:
        result.problems.append("If-None-Match did not give 304")
    # Without a revision, an ETag needs the text: render, hash, compare.
    naive_304_ms, _ = timed(lambda: hashlib.sha256(naive_feed(ctx.texts, busy=False)).hexdigest(), 3)
    result.rows.append(Row("304 (If-None-Match)", not_modified_ms, naive_304_ms))
    if not_modified_ms > TARGET_304_MS:
        result.problems.append(f"304 {not_modified_ms:.1f} ms > {TARGET_304_MS} ms")
    gzip_ms, gzipped = timed(lambda: ctx.client.get(url, headers={"Accept-Encoding": "gzip"}), ctx.repeat)
    result.sizes["full, gzip"] = len(gzipped.data)
    result.rows.append(Row("full feed, cached, gzip", gzip_ms, None, "gzip made once, then cached"))


def measure_busy(ctx: Context, result: Result) -> None:
    url = _url(ctx, busy=True)
    cold_ms, response = timed(lambda: _cold(ctx, url), ctx.repeat)
    cached_ms, _ = timed(lambda: _get(ctx, url), ctx.repeat)
    naive_ms, _ = timed(lambda: naive_feed(ctx.texts, busy=True), max(3, ctx.repeat // 5))
    result.sizes["busy"] = len(response.data)
    if b"DESCRIPTION" in response.data or b"ATTENDEE" in response.data:
        result.problems.append("the busy feed shows details")
    result.rows.append(Row("busy feed, cold render", cold_ms, naive_ms))
    result.rows.append(Row("busy feed, cached", cached_ms, naive_ms))


LIST_PAGE = 200
LIST_WINDOW = timedelta(days=30)


def _token(ctx: Context) -> str:
    """A token of the calendar's owner with read:calendars (made once per run)."""
    engine = ctx.app.extensions[EXTENSION].engine
    with db.write_unit(engine) as session:
        user = accounts.find_user(session, "bench")
        assert user is not None
        return accounts.create_token(session, user, name="bench", scopes=["read:calendars"]).secret


def naive_events_page(texts: list[bytes], start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Every object parsed and expanded over the window, sorted, the first page taken: a list without
    the occurrence index."""
    found = []
    for text in texts:
        for event in recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(start, end):
            moment = event.decoded("DTSTART")
            if not isinstance(moment, datetime):
                moment = datetime.combine(moment, datetime.min.time(), tzinfo=UTC)
            found.append((moment.astimezone(UTC), str(event["UID"])))
    return sorted(found)[:LIST_PAGE]


def measure_events_list(ctx: Context, result: Result) -> None:
    """GET /api/v2/calendars/{id}/events: the first page of 200 occurrences of the next 30 days, and
    every page of that window by cursor, in events/s; baseline: the naive page."""
    headers = {"Authorization": f"Bearer {_token(ctx)}"}
    start = clock.now().replace(microsecond=0)
    end = start + LIST_WINDOW
    base = f"/api/v2/calendars/{ctx.loaded.calendar_id}/events"
    query = {"start": start.isoformat(), "end": end.isoformat(), "limit": LIST_PAGE}

    def first_page() -> Any:
        response = ctx.client.get(base, query_string=query, headers=headers)
        assert response.status_code == 200, response.data[:300]
        return response.get_json()

    def every_page() -> int:
        listed, cursor = 0, None
        while True:
            page_query = {**query, "cursor": cursor} if cursor else query
            body = ctx.client.get(base, query_string=page_query, headers=headers).get_json()
            listed += len(body["data"])
            cursor = body["nextCursor"]
            if not cursor:
                return listed

    def cold_first_page() -> Any:
        ical_parse._remembered_parse.cache_clear()
        ical_events._remembered_one_off.cache_clear()
        return first_page()

    cold_ms, _ = timed(cold_first_page, ctx.repeat)
    page_ms, page = timed(first_page, ctx.repeat)
    naive_ms, naive = timed(lambda: naive_events_page(ctx.texts, start, end), max(3, ctx.repeat // 5))
    # Ties in start are ordered by event id here, by UID there: compare the starts.
    if [e["start"] for e in page["data"] if "T" in e["start"]][:50] != [
        moment.isoformat().replace("+00:00", "Z") for moment, _ in naive if moment.hour or moment.minute
    ][:50]:
        result.problems.append("the events list's first page differs from the naive one")
    per_second = len(page["data"]) / (page_ms / 1000)
    result.rows.append(
        Row(
            f"events list, page of {LIST_PAGE}, cold",
            cold_ms,
            naive_ms,
            f"{len(page['data']) / (cold_ms / 1000):,.0f} events/s; nothing parsed before",
        )
    )
    result.rows.append(
        Row(f"events list, page of {LIST_PAGE}, again", page_ms, naive_ms, f"{per_second:,.0f} events/s")
    )
    all_ms, listed = timed(every_page, max(3, ctx.repeat // 3))
    result.rows.append(
        Row(
            f"events list, {LIST_WINDOW.days} days by cursor",
            all_ms,
            None,
            f"{listed:,} occurrences, {listed / (all_ms / 1000):,.0f} events/s",
        )
    )


MEASUREMENTS: list[Callable[[Context, Result], None]] = [measure_full, measure_busy, measure_events_list]


# --- run ------------------------------------------------------------------------------------------------


def run_backend(backend: str, database_url: str, args: argparse.Namespace) -> Result:
    settings = Settings(database_url=database_url, log_level="warning", feed_requests_per_minute=0)
    began = time.perf_counter()
    loaded = load(database_url, args.events, settings)
    log(f"{backend}: {args.events:,} events stored ({time.perf_counter() - began:.0f} s)")
    app = create_app(settings)
    engine = db.engine_for(database_url)
    with db.read_unit(engine) as session:
        calendar = store.calendar_by_public_id(session, loaded.calendar_id)
        assert calendar is not None
        texts = feeds.feed_texts(session, calendar.id)
    gc.collect()
    gc.freeze()
    ctx = Context(backend, app.test_client(), app, loaded, texts, args.repeat)
    result = Result(backend)
    for measure in MEASUREMENTS:
        measure(ctx, result)
    engine.dispose()
    db.engine_for.cache_clear()
    return result


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(f"\nFeeds of a calendar of {args.events:,} events; server time in-process, median of {args.repeat}")
    print(f"targets: cached full feed < {TARGET_CACHED_MS:.0f} ms, 304 < {TARGET_304_MS:.0f} ms\n")
    for result in results:
        print(f"{result.backend}")
        print(f"  {'operation':<28} {'Caledee':>11} {'naive':>11} {'ratio':>7}")
        for row in result.rows:
            baseline = f"{row.baseline_ms:,.1f} ms" if row.baseline_ms else "-"
            print(f"  {row.operation:<28} {row.ours_ms:>8,.2f} ms {baseline:>11} {row.ratio:>7}  {row.note}")
        print("  sizes: " + ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in result.sizes.items()))
        for problem in result.problems:
            print(f"  PROBLEM: {problem}")
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", metavar="URL", help=f"also run on PostgreSQL (database {PG_DATABASE})")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="caledee-feeds-"))
    results = []
    try:
        results.append(run_backend("SQLite", f"sqlite:///{workdir / 'feeds.db'}", args))
        if args.postgres:
            url = _backends.create_postgres_database(args.postgres, PG_DATABASE)
            try:
                results.append(run_backend("PostgreSQL", url, args))
            finally:
                if not args.keep:
                    _backends.drop_postgres_database(args.postgres, PG_DATABASE)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, args)
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
