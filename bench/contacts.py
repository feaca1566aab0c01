"""Contacts benchmark: GET /api/v2/contacts for a host with 100,000 bookings and 20,000 leads.

    .venv/bin/python bench/contacts.py [--bookings 100000] [--leads 20000] [--repeat 15]
                                       [--postgres URL] [--keep]

One host; ``--bookings`` bookings by about 0.6 x that many distinct invitees (each invitee's later
bookings often spelled with other letter cases: ``Ada.Byron@...``, ``ada.byron@...``), ``--leads``
leads on four event types (half of them people who also booked, in yet another case), every time
relative to the clock (the last two years). Loaded with bulk inserts (the rows a booking or lead
leaves, without calendar events: contacts read only the rows).

Server time in-process (the REST app through Flask's test client: token check, query, JSON), median
of ``--repeat``, of:

* the first page (50), a page deep (offset 10,000), a search (``q``), ``kind=lead``;
* GET /api/v2/leads (first page) when that route exists (a 404 is reported as skipped);
* the naive baseline in the same run: every booking and lead of the host read, merged in Python by
  lower-cased email, sorted, the page taken. Its first page must equal ours.

Target: median under 50 ms per page. Exits 1 when a check fails. Results: docs/performance.md
("Contacts").
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _backends  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from api import create_app  # noqa: E402
from caldee_dav import clock, db  # noqa: E402
from caldee_dav.calendars import accounts  # noqa: E402
from caldee_dav.config import Settings  # noqa: E402
from caldee_dav.models import Booking, EventType, Lead, new_id  # noqa: E402
from caldee_dav.schema import migrate  # noqa: E402

PG_DATABASE = "caledee_bench_contacts"
BATCH = 2000
TARGET_MS = 50.0
PAGE = 50
DEEP_OFFSET = 10_000
SEARCH = "smith"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "John"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Smith"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example"]
LEAD_STATUSES = ["new", "contacted", "qualified", "lost"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    name: str
    email: str  # as first given: First.Last<n>@domain, mixed case


def people(rng: random.Random, count: int, first: int = 0) -> list[Person]:
    found = []
    for n in range(first, first + count):
        given, family = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        found.append(Person(f"{given} {family}", f"{given}.{family}{n}@{rng.choice(DOMAINS)}"))
    return found


def spelling(rng: random.Random, email: str) -> str:
    """The same address as someone might type it another time: as given, lower or upper case."""
    return rng.choices([email, email.lower(), email.upper()], weights=[6, 3, 1])[0]


@dataclass
class Loaded:
    user_id: str
    token: str
    invitees: int


def _host(engine: Any) -> tuple[str, str, list[str]]:
    with db.write_unit(engine) as session:
        user = accounts.create_user(session, email="bench@example.com", slug="bench", timezone="UTC")
        scopes = ["read:contacts", "read:leads"]
        token = accounts.create_token(session, user, name="bench", scopes=scopes).secret
        types = [
            EventType(user_id=user.id, name=f"Call {n}", slug=f"call-{n}", durations_min=[30])
            for n in range(4)
        ]
        session.add_all(types)
        session.flush()
        return user.id, token, [t.id for t in types]


def _booking_row(
    rng: random.Random, user_id: str, type_id: str, person: Person, now: datetime
) -> dict[str, Any]:
    created = now - timedelta(minutes=rng.randrange(0, 730 * 24 * 60))
    start = created + timedelta(days=rng.randrange(1, 30), hours=rng.randrange(0, 8))
    roll = rng.random()
    status = "active" if roll < 0.85 else "pending" if roll < 0.9 else "canceled"
    past = start < now
    return {
        "id": new_id("bkg"),
        "owner_id": user_id,
        "event_type_id": type_id,
        "host_user_id": user_id,
        "host_ids": [user_id],
        "start_at": start,
        "end_at": start + timedelta(minutes=30),
        "duration_min": 30,
        "status": status,
        "invitee_name": person.name,
        "invitee_email": spelling(rng, person.email),
        "invitee_timezone": "UTC",
        "guests": [],
        "answers": [],
        "ical_uid": new_id("uid") + "@bench",
        "sequence": 0,
        "no_show": status == "active" and past and rng.random() < 0.05,
        "canceled_at": created + timedelta(hours=1) if status == "canceled" else None,
        "created_at": created,
        # Changed later for some (canceled, confirmed, marked no-show): never after now.
        "updated_at": min(now, created + timedelta(hours=rng.choice([0, 0, 0, 1, 30]))),
    }


def _lead_row(
    rng: random.Random, user_id: str, type_id: str, person: Person, now: datetime
) -> dict[str, Any]:
    created = now - timedelta(minutes=rng.randrange(0, 730 * 24 * 60))
    email = spelling(rng, person.email)
    return {
        "id": new_id("lead"),
        "owner_id": user_id,
        "event_type_id": type_id,
        "name": person.name if rng.random() < 0.8 else None,
        "email": email,
        "email_key": email.lower(),
        "timezone": "UTC",
        "answers": [],
        "status": rng.choice(LEAD_STATUSES),
        "created_at": created,
        "updated_at": min(now, created + timedelta(days=rng.choice([0, 0, 1, 7]))),
    }


def _insert(engine: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for first in range(0, len(rows), BATCH):
        with db.write_unit(engine) as session:
            session.execute(insert(model), rows[first : first + BATCH])
        # PostgreSQL: fresh statistics after each batch, as autovacuum would. They also make the
        # contact triggers' function replan its statements, planned while the tables were empty.
        _backends._analyze(engine)


def load(database_url: str, bookings: int, leads: int) -> Loaded:
    engine = db.engine_for(database_url)
    migrate(engine)
    user_id, token, type_ids = _host(engine)
    rng = random.Random(2027)
    now = clock.now()
    invitees = people(rng, int(bookings * 0.6))
    # Every invitee books once, then the rest of the bookings go to invitees at random (repeat clients).
    chosen = invitees + [rng.choice(invitees) for _ in range(bookings - len(invitees))]
    _insert(engine, Booking, [_booking_row(rng, user_id, rng.choice(type_ids), p, now) for p in chosen])
    # Half the leads are people who booked (on one event type each: one lead per type and email).
    matching = rng.sample(invitees, min(len(invitees), leads // 2))
    newcomers = people(rng, leads - len(matching), first=len(invitees))
    lead_rows = [
        _lead_row(rng, user_id, type_ids[n % len(type_ids)], person, now)
        for n, person in enumerate(matching + newcomers)
    ]
    _insert(engine, Lead, lead_rows)
    _backends.vacuum_analyze(engine)
    return Loaded(user_id, token, len(invitees))


# --- the naive baseline ---------------------------------------------------------------------------


def naive_page(engine: Any, user_id: str, offset: int, limit: int) -> list[tuple[str, str, int]]:
    """Every booking and lead of the host read, merged in Python by lower-cased email, sorted by last
    activity (then key, both descending), the page taken: (email key, kind, meetings) per contact."""
    merged: dict[str, dict[str, Any]] = {}
    with db.read_unit(engine) as session:
        booking_rows = session.execute(
            select(Booking.invitee_email, Booking.status, Booking.updated_at).where(
                Booking.owner_id == user_id
            )
        )
        for email, status, updated in booking_rows:
            entry = merged.setdefault(email.lower(), {"booked": False, "meetings": 0, "last": updated})
            entry["booked"] = True
            entry["meetings"] += status in ("active", "pending")
            entry["last"] = max(entry["last"], updated)
        for key, updated in session.execute(
            select(Lead.email_key, Lead.updated_at).where(Lead.owner_id == user_id)
        ):
            entry = merged.setdefault(key, {"booked": False, "meetings": 0, "last": updated})
            entry["last"] = max(entry["last"], updated)
    ordered = sorted(merged.items(), key=lambda item: (item[1]["last"], item[0]), reverse=True)
    return [
        (key, "client" if entry["booked"] else "lead", entry["meetings"])
        for key, entry in ordered[offset : offset + limit]
    ]


# --- measurements ---------------------------------------------------------------------------------------


@dataclass
class Row:
    operation: str
    ours_ms: float | None
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


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def measure(backend: str, database_url: str, loaded: Loaded, repeat: int) -> Result:
    # The rate limiter counts every request, as in production, with a limit the benchmark never reaches.
    settings = Settings(database_url=database_url, log_level="warning", api_requests_per_minute=1_000_000)
    app = create_app(settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {loaded.token}"}
    engine = db.engine_for(database_url)
    result = Result(backend)

    def get(path: str, **query: Any) -> Any:
        return client.get(f"/api/v2{path}", query_string=query, headers=headers)

    def contacts(**query: Any) -> dict[str, Any]:
        response = get("/contacts", **query)
        assert response.status_code == 200, response.data[:300]
        return response.get_json()

    gc.collect()
    gc.freeze()
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("first page", {}, 0),
        (f"offset {DEEP_OFFSET:,}", {"offset": DEEP_OFFSET}, DEEP_OFFSET),
        (f"q={SEARCH}", {"q": SEARCH}, -1),
        ("kind=lead", {"kind": "lead"}, -1),
    ]
    for label, query, naive_offset in cases:
        ours_ms, body = timed(lambda query=query: contacts(limit=PAGE, **query), repeat)
        baseline_ms = None
        if naive_offset >= 0:
            baseline_ms, naive = timed(lambda o=naive_offset: naive_page(engine, loaded.user_id, o, PAGE), 3)
            got = [(c["email"].lower(), c["kind"], c["meetings"]) for c in body["data"]]
            if got != naive:
                result.problems.append(f"{label}: the page differs from the naive one")
        note = f"total {body['total']:,}, {len(body['data'])} on the page"
        result.rows.append(Row(f"contacts, {label}", ours_ms, baseline_ms, note))
        if ours_ms > TARGET_MS:
            result.problems.append(f"contacts, {label}: {ours_ms:.1f} ms > {TARGET_MS:.0f} ms")
    if get("/leads").status_code == 404:
        result.rows.append(
            Row("leads, first page", None, None, "skipped: GET /api/v2/leads answers 404 here")
        )
    else:
        leads_ms, response = timed(lambda: get("/leads", limit=PAGE), repeat)
        result.rows.append(Row("leads, first page", leads_ms, None, f"status {response.status_code}"))
        if response.status_code != 200:
            result.problems.append(f"GET /leads answered {response.status_code}")
        elif leads_ms > TARGET_MS:
            result.problems.append(f"leads, first page: {leads_ms:.1f} ms > {TARGET_MS:.0f} ms")
    gc.unfreeze()
    return result


# --- run ------------------------------------------------------------------------------------------------


def run_backend(backend: str, database_url: str, args: argparse.Namespace) -> Result:
    began = time.perf_counter()
    loaded = load(database_url, args.bookings, args.leads)
    log(
        f"{backend}: {args.bookings:,} bookings by {loaded.invitees:,} invitees and {args.leads:,} leads"
        f" stored ({time.perf_counter() - began:.0f} s)"
    )
    result = measure(backend, database_url, loaded, args.repeat)
    db.engine_for(database_url).dispose()
    db.engine_for.cache_clear()
    return result


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nContacts of a host with {args.bookings:,} bookings and {args.leads:,} leads;"
        f" server time in-process, median of {args.repeat}; pages of {PAGE}; target < {TARGET_MS:.0f} ms\n"
    )
    for result in results:
        print(result.backend)
        print(f"  {'operation':<28} {'Caledee':>11} {'naive':>11} {'ratio':>7}")
        for row in result.rows:
            ours = f"{row.ours_ms:,.1f} ms" if row.ours_ms is not None else "-"
            baseline = f"{row.baseline_ms:,.1f} ms" if row.baseline_ms else "-"
            print(f"  {row.operation:<28} {ours:>11} {baseline:>11} {row.ratio:>7}  {row.note}")
        for problem in result.problems:
            print(f"  PROBLEM: {problem}")
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", metavar="URL", help=f"also run on PostgreSQL (database {PG_DATABASE})")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="caledee-contacts-"))
    results = []
    try:
        results.append(run_backend("SQLite", f"sqlite:///{workdir / 'contacts.db'}", args))
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
        else:
            log(f"kept {workdir}")
    report(results, args)
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
