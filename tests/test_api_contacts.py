"""GET /api/v2/contacts on the live server: bookings' invitees and leads merged by email whatever its
letter case, kinds, statuses, meetings and no-shows, search, pagination to the end, order, privacy,
and bad input.

Bookings are made through the API where the API can make them (create, cancel); rows the API cannot
make yet are inserted into the test database: leads (their API is another change's) and bookings at
chosen times in the past (a no-show needs a booking that has started). The contacts are kept by
database triggers, so rows inserted here count exactly as the application's writes do."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from caldee_dav import db
from caldee_dav.models import Booking, EventType, Lead
from tests import dates
from tests.conftest import Account, LiveServer, api_request, create_account
from tests.scheduling_fixtures import api_for, iso, make_event_type, make_schedule

_numbers = itertools.count(1)
# One "now" for every row made here, so that rows made days_ago apart tie exactly where days_ago does.
NOW = dates.now()


def contacts_account(server: LiveServer) -> Account:
    return create_account(server.database_url)


def contacts(server: LiveServer, account: Account, **query: Any) -> dict[str, Any]:
    path = "/contacts" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    response = api_request(server, account, "GET", path)
    assert response.status_code == 200, response.text
    return response.json()


def event_type_id(server: LiveServer, account: Account) -> str:
    with db.write_unit(db.engine_for(server.database_url)) as session:
        number = next(_numbers)
        event_type = EventType(user_id=account.user_id, name=f"Call {number}", slug=f"call-{number}")
        event_type.durations_min = [30]
        session.add(event_type)
        session.flush()
        return event_type.id


def add_booking(
    server: LiveServer,
    account: Account,
    email: str,
    name: str = "Someone",
    *,
    days_ago: float = 10,
    status: str = "active",
    no_show: bool = False,
) -> str:
    """A booking of ``account``'s that started ``days_ago`` days ago and was made a week before."""
    type_id = event_type_id(server, account)
    start = NOW - timedelta(days=days_ago)
    made = start - timedelta(days=7)
    with db.write_unit(db.engine_for(server.database_url)) as session:
        booking = Booking(
            owner_id=account.user_id,
            event_type_id=type_id,
            host_user_id=account.user_id,
            host_ids=[account.user_id],
            start_at=start,
            end_at=start + timedelta(minutes=30),
            duration_min=30,
            status=status,
            invitee_name=name,
            invitee_email=email,
            invitee_timezone="UTC",
            ical_uid=f"b{next(_numbers)}@test",
            no_show=no_show,
            created_at=made,
            updated_at=start if no_show else made,
        )
        session.add(booking)
        session.flush()
        return booking.id


def add_lead(
    server: LiveServer,
    account: Account,
    email: str,
    name: str | None = "Someone",
    *,
    days_ago: float = 5,
    status: str = "new",
) -> str:
    """A lead on a new event type of ``account`` (one lead per event type and email)."""
    type_id = event_type_id(server, account)
    at = NOW - timedelta(days=days_ago)
    with db.write_unit(db.engine_for(server.database_url)) as session:
        lead = Lead(
            owner_id=account.user_id,
            event_type_id=type_id,
            name=name,
            email=email,
            email_key=email.lower(),
            timezone="UTC",
            status=status,
            created_at=at,
            updated_at=at,
        )
        session.add(lead)
        session.flush()
        return lead.id


def by_email(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {contact["email"].lower(): contact for contact in body["data"]}


def test_a_booking_and_a_lead_in_other_cases_are_one_client(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    api = api_for(live_server, account)
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    day = dates.days_ahead(3)
    invitee = {"name": "Ada Lovelace", "email": "Ada@X.com", "timezone": "Europe/London"}
    booked = api.book(event_type["id"], iso(day, 10), invitee=invitee)
    assert booked.status_code == 201, booked.text
    add_lead(live_server, account, "ADA@x.Com", "Ada L.", days_ago=30, status="qualified")

    body = contacts(live_server, account)
    assert body["total"] == 1 and body["nextOffset"] is None
    (ada,) = body["data"]
    # The spelling of the latest booking or lead: bookings keep the address lower-cased.
    assert ada["email"] == "ada@x.com"
    assert ada["name"] == "Ada Lovelace"  # the booking is newer than the lead
    assert (ada["kind"], ada["status"], ada["meetings"], ada["noShows"]) == ("client", "client", 1, 0)
    first_seen = datetime.fromisoformat(ada["firstSeenAt"])
    assert first_seen < datetime.fromisoformat(ada["lastActivityAt"])
    assert abs(first_seen - (dates.now() - timedelta(days=30))) < timedelta(minutes=5)
    assert set(ada) == {
        "email",
        "name",
        "kind",
        "status",
        "meetings",
        "noShows",
        "lastActivityAt",
        "firstSeenAt",
    }

    # Canceled through the API: still a client (they booked), no meeting left.
    assert api.delete(f"/bookings/{booked.json()['id']}").status_code in (200, 204)
    (ada,) = contacts(live_server, account)["data"]
    assert (ada["kind"], ada["status"], ada["meetings"]) == ("client", "client", 0)


def test_meetings_leave_out_canceled_bookings_and_no_shows_are_counted(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    add_booking(live_server, account, "grace@navy.example", "Grace", days_ago=20)
    add_booking(live_server, account, "Grace@Navy.example", "Grace", days_ago=10, no_show=True)
    add_booking(live_server, account, "GRACE@navy.example", "Grace", days_ago=5, status="canceled")
    add_booking(live_server, account, "grace@navy.example", "Grace", days_ago=-3, status="pending")
    add_booking(live_server, account, "alan@bletchley.example", "Alan", days_ago=2, status="canceled")

    found = by_email(contacts(live_server, account))
    assert (found["grace@navy.example"]["meetings"], found["grace@navy.example"]["noShows"]) == (3, 1)
    alan = found["alan@bletchley.example"]
    assert (alan["kind"], alan["meetings"], alan["noShows"]) == ("client", 0, 0)


def test_leads_have_their_latest_status_until_they_book(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    add_lead(live_server, account, "edsger@tue.example", "Edsger", days_ago=9, status="lost")
    add_lead(live_server, account, "Edsger@TUE.example", None, days_ago=2, status="contacted")
    add_lead(live_server, account, "barbara@mit.example", "Barbara", days_ago=1)

    body = contacts(live_server, account)
    assert body["total"] == 2
    edsger = by_email(body)["edsger@tue.example"]
    # The latest lead's status and spelling; the latest name given (the latest lead gave none).
    assert (edsger["kind"], edsger["status"], edsger["meetings"]) == ("lead", "contacted", 0)
    assert (edsger["email"], edsger["name"]) == ("Edsger@TUE.example", "Edsger")

    add_booking(live_server, account, "EDSGER@tue.example", "E. W. Dijkstra", days_ago=1)
    edsger = by_email(contacts(live_server, account))["edsger@tue.example"]
    assert (edsger["kind"], edsger["status"], edsger["meetings"]) == ("client", "client", 1)


def test_kind_filter(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    add_booking(live_server, account, "client@example.com")
    add_lead(live_server, account, "Client@example.com")
    add_lead(live_server, account, "lead@example.com")
    add_lead(live_server, account, "other-lead@example.com")

    clients = contacts(live_server, account, kind="client")
    leads = contacts(live_server, account, kind="lead")
    assert [c["email"].lower() for c in clients["data"]] == ["client@example.com"] and clients["total"] == 1
    assert {c["email"] for c in leads["data"]} == {"lead@example.com", "other-lead@example.com"}
    assert leads["total"] == 2 and {c["kind"] for c in leads["data"]} == {"lead"}
    assert contacts(live_server, account)["total"] == 3


def test_search_matches_name_and_email_case_insensitively_with_wildcards_literal(
    live_server: LiveServer,
) -> None:
    account = contacts_account(live_server)
    add_booking(live_server, account, "ada_l@example.com", "Ada Lovelace")
    add_booking(live_server, account, "adaxl@example.com", "Ada Byron")
    add_lead(live_server, account, "percent@example.com", "100% Sure")
    add_lead(live_server, account, "thousand@example.com", "1000 Sure")
    add_lead(live_server, account, "hopper@NAVY.example", "Grace Hopper")

    def emails(q: str) -> set[str]:
        body = contacts(live_server, account, q=q)
        assert body["total"] == len(body["data"])
        return {c["email"].lower() for c in body["data"]}

    assert emails("LOVELACE") == {"ada_l@example.com"}  # name
    assert emails("navy.EX") == {"hopper@navy.example"}  # email, either case
    assert emails("ada") == {"ada_l@example.com", "adaxl@example.com"}
    assert emails("a_l") == {"ada_l@example.com"}  # `_` is not "any character"
    assert emails("0%25") == {"percent@example.com"}  # `%` (sent as %25) is not "anything"
    assert emails("%25") == {"percent@example.com"}
    assert emails("nobody") == set()


def test_pages_reach_the_end_without_repeats_or_gaps(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    expected = set()
    for n in range(23):
        # Several contacts share one last activity: the email orders them.
        email = f"person{n:02d}@Example.com"
        expected.add(email.lower())
        if n % 3:
            add_booking(live_server, account, email, f"Person {n}", days_ago=n // 4)
        else:
            add_lead(live_server, account, email, f"Person {n}", days_ago=n // 4)

    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None and pages < 20:
        body = contacts(live_server, account, limit=5, offset=offset)
        assert body["total"] == 23
        seen += [c["email"].lower() for c in body["data"]]
        offset = body["nextOffset"]
        pages += 1
    assert pages == 5 and len(seen) == 23 and set(seen) == expected

    everything = contacts(live_server, account, limit=200)["data"]
    assert [c["email"].lower() for c in everything] == seen  # pages are slices of one order
    past_the_end = contacts(live_server, account, offset=23)
    assert past_the_end["data"] == [] and past_the_end["nextOffset"] is None and past_the_end["total"] == 23


def test_most_recent_activity_first(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    add_booking(live_server, account, "old@example.com", days_ago=40)
    add_lead(live_server, account, "middle@example.com", days_ago=20)
    add_booking(live_server, account, "new@example.com", days_ago=1)
    order = [c["email"] for c in contacts(live_server, account)["data"]]
    assert order == ["new@example.com", "middle@example.com", "old@example.com"]
    times = [c["lastActivityAt"] for c in contacts(live_server, account)["data"]]
    assert times == sorted(times, reverse=True)

    # A lead moved along the pipeline is activity: it comes first.
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        lead = session.scalars(select(Lead).where(Lead.owner_id == account.user_id)).one()
        lead.status = "contacted"
    first = contacts(live_server, account)["data"][0]
    assert (first["email"], first["status"]) == ("middle@example.com", "contacted")


def test_other_users_contacts_never_appear(live_server: LiveServer) -> None:
    mine, theirs = contacts_account(live_server), contacts_account(live_server)
    add_booking(live_server, theirs, "shared@example.com", "Theirs", days_ago=1)
    add_lead(live_server, theirs, "secret@example.com", "Secret")
    add_lead(live_server, mine, "Shared@example.com", "Mine", days_ago=3)

    body = contacts(live_server, mine)
    assert [(c["email"], c["kind"], c["name"]) for c in body["data"]] == [
        ("Shared@example.com", "lead", "Mine")
    ]
    assert contacts(live_server, mine, q="secret")["total"] == 0
    assert contacts(live_server, theirs)["total"] == 2


def test_deleting_an_event_type_takes_its_bookings_out_of_contacts(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    booking_id = add_booking(live_server, account, "gone@example.com")
    add_lead(live_server, account, "stays@example.com")
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        session.execute(delete(EventType).where(EventType.id == booking.event_type_id))  # cascades
    assert [c["email"] for c in contacts(live_server, account)["data"]] == ["stays@example.com"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999999", "offset"),
        ("kind=customer", "kind"),
        ("q=" + "x" * 321, "q"),
        ("q=a%00b", "q"),
    ],
)
def test_bad_parameters_are_400_naming_them(live_server: LiveServer, query: str, field: str) -> None:
    account = contacts_account(live_server)
    response = api_request(live_server, account, "GET", f"/contacts?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "Invalid Argument" and [d["path"] for d in body["details"]] == [[field]]


def test_unknown_parameters_are_ignored_and_odd_text_is_searched(live_server: LiveServer) -> None:
    account = contacts_account(live_server)
    add_lead(live_server, account, "zoë@example.com", "Zoë ' OR 1=1 --")
    assert contacts(live_server, account, cursor="abc", sort="name")["total"] == 1
    assert contacts(live_server, account, q="' OR 1=1")["total"] == 1
    assert contacts(live_server, account, q="\\")["total"] == 0


def test_token_needs_read_contacts(live_server: LiveServer) -> None:
    lacking = create_account(live_server.database_url, scopes=["read:bookings"])
    response = api_request(live_server, lacking, "GET", "/contacts")
    assert response.status_code == 403 and "read:contacts" in response.json()["message"]
    assert api_request(live_server, None, "GET", "/contacts").status_code == 401
    holding = create_account(live_server.database_url, scopes=["read:contacts"])
    assert api_request(live_server, holding, "GET", "/contacts").status_code == 200


def test_upgrade_summarizes_existing_bookings_and_leads(empty_database_url: str) -> None:
    # Bookings and leads stored before migration 0009 are contacts at once after it.
    from alembic import command

    from caldee_dav.models import ContactSummary, User
    from caldee_dav.schema import alembic_config, migrate

    engine = db.engine_for(empty_database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    with db.write_unit(engine) as session:
        user = User(email="host@example.com", slug="host", timezone="UTC")
        session.add(user)
        session.flush()
        kinds = [EventType(user_id=user.id, name=f"T{n}", slug=f"t{n}", durations_min=[30]) for n in range(2)]
        session.add_all(kinds)
        session.flush()
        start = NOW - timedelta(days=3)
        # Core inserts name only the columns given: the model has columns revision 0008 lacks.
        for status in ("active", "canceled"):
            session.execute(
                insert(Booking).values(
                    id=f"bkg_{status}",
                    owner_id=user.id,
                    event_type_id=kinds[0].id,
                    host_user_id=user.id,
                    start_at=start,
                    end_at=start + timedelta(minutes=30),
                    duration_min=30,
                    status=status,
                    invitee_name="Ada",
                    invitee_email="Ada@X.com",
                    invitee_timezone="UTC",
                    ical_uid=f"{status}@test",
                    created_at=start,
                    updated_at=start,
                )
            )
        for n, email in enumerate(("ada@x.com", "bob@x.com")):
            session.add(
                Lead(
                    owner_id=user.id,
                    event_type_id=kinds[n].id,
                    name=None,
                    email=email,
                    email_key=email,
                    timezone="UTC",
                    status="qualified",
                    created_at=NOW - timedelta(days=9),
                    updated_at=NOW - timedelta(days=9),
                )
            )
    migrate(engine)
    with db.read_unit(engine) as session:
        rows = session.scalars(select(ContactSummary).order_by(ContactSummary.email_key)).all()
        summaries = [(r.email, r.name, r.bookings, r.meetings, r.lead_status) for r in rows]
    assert summaries == [("Ada@X.com", "Ada", 2, 1, "qualified"), ("bob@x.com", None, 0, 0, "qualified")]


def test_two_transactions_adding_the_same_person_both_count(live_server: LiveServer) -> None:
    # The second waits for the first's summary row, then counts from what the first committed.
    import threading

    account = contacts_account(live_server)
    engine = db.engine_for(live_server.database_url)
    type_ids = [event_type_id(live_server, account) for _ in range(2)]

    def booking(type_id: str, email: str) -> Booking:
        start = NOW + timedelta(days=2)
        return Booking(
            owner_id=account.user_id,
            event_type_id=type_id,
            host_user_id=account.user_id,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            duration_min=30,
            invitee_name="Racer",
            invitee_email=email,
            invitee_timezone="UTC",
            ical_uid=f"race{next(_numbers)}@test",
        )

    def second() -> None:
        with db.write_unit(engine) as session:
            session.add(booking(type_ids[1], "RACE@example.com"))

    with db.write_unit(engine) as session:
        session.add(booking(type_ids[0], "race@example.com"))
        session.flush()  # the first's trigger has run; it commits below
        other = threading.Thread(target=second)
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive()  # the second waits (a row lock, or SQLite's one writer)
    other.join(timeout=30)
    assert not other.is_alive()
    (racer,) = contacts(live_server, account)["data"]
    assert (racer["email"].lower(), racer["meetings"]) == ("race@example.com", 2)


def test_a_lead_left_publicly_moves_along_and_books(live_server: LiveServer) -> None:
    # The whole path through the API: public lead form, the pipeline, a public booking.
    import requests

    account = contacts_account(live_server)
    api = api_for(live_server, account)
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    public = f"{live_server.url}/api/v2/public/{account.slug}/{event_type['slug']}"
    details = {"name": "Grace Hopper", "email": "Grace@Navy.example", "timezone": "America/New_York"}
    left = requests.post(f"{public}/leads", json=details, timeout=30)
    assert left.status_code in (200, 201), left.text
    (grace,) = contacts(live_server, account)["data"]
    assert (grace["email"], grace["kind"], grace["status"]) == ("Grace@Navy.example", "lead", "new")

    moved = api.patch(f"/leads/{left.json()['id']}", json={"status": "qualified"})
    assert moved.status_code == 200, moved.text
    assert contacts(live_server, account, kind="lead")["data"][0]["status"] == "qualified"

    body = {"start": iso(dates.days_ahead(3), 10), "durationMin": 60, "invitee": {**details, "name": "Grace"}}
    booked = requests.post(f"{public}/bookings", json=body, timeout=30)
    assert booked.status_code == 201, booked.text
    (grace,) = contacts(live_server, account)["data"]
    assert (grace["kind"], grace["status"], grace["meetings"], grace["name"]) == (
        "client",
        "client",
        1,
        "Grace",
    )
    assert contacts(live_server, account, kind="lead")["total"] == 0
