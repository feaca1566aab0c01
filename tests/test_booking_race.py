"""No double booking under load: 50 concurrent POST /bookings for one slot against 3 server processes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from caldee_dav import db
from caldee_dav.models import Booking, CalendarObject
from tests import dates
from tests.conftest import LiveServer, create_account, start_server, stop_server
from tests.scheduling_fixtures import Api, api_for, make_event_type, make_schedule, make_team

REQUESTS = 50
CLIENT_THREADS = 16
# A Monday at least two days ahead of the clock: the bookings are in the future whatever the date.
MONDAY = dates.next_weekday(dates.MON, after_days=2)
SLOT = f"{MONDAY}T10:00:00Z"


@pytest.fixture(scope="module")
def multi_worker_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(database_url, tmp_path_factory.mktemp("race"), workers=3)
    yield server
    stop_server(server)


def fire(api: Api, event_type_id: str) -> Counter[int]:
    """REQUESTS bookings of SLOT at once, each from its own connection, as separate invitees would."""

    def one(number: int) -> int:
        body = {
            "eventTypeId": event_type_id,
            "start": SLOT,
            "durationMin": 60,
            "invitee": {"name": f"Invitee {number}", "email": f"i{number}@example.com", "timezone": "UTC"},
        }
        headers = {"Authorization": f"Bearer {api.account.token}"}
        return requests.post(f"{api.base}/bookings", json=body, headers=headers, timeout=120).status_code

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        return Counter(pool.map(one, range(REQUESTS)))


def stored(database_url: str, owner_id: str) -> tuple[int, int]:
    """(booking rows, booking VEVENTs) of the owner, read straight from the database."""
    with db.read_unit(db.engine_for(database_url)) as session:
        rows = session.scalar(select(func.count()).select_from(Booking).where(Booking.owner_id == owner_id))
        events = session.scalar(
            select(func.count())
            .select_from(CalendarObject)
            .where(CalendarObject.uid.like("bkg_%@caledee"))
            .where(
                CalendarObject.collection_id.in_(
                    select(Booking.collection_id).where(Booking.owner_id == owner_id)
                )
            )
        )
        return rows or 0, events or 0


def test_fifty_concurrent_bookings_of_one_slot_make_one_booking(multi_worker_server: LiveServer) -> None:
    api = api_for(multi_worker_server, create_account(multi_worker_server.database_url))
    make_schedule(api, "UTC")
    event_type = make_event_type(api)
    assert fire(api, event_type["id"]) == Counter({201: 1, 409: REQUESTS - 1})
    assert stored(multi_worker_server.database_url, api.account.user_id) == (1, 1)
    assert len(api.calendar().events()) == 1
    assert len(api.get("/bookings").json()["data"]) == 1


def test_round_robin_race_fills_each_host_once(multi_worker_server: LiveServer) -> None:
    owner = api_for(multi_worker_server, create_account(multi_worker_server.database_url))
    partner = api_for(multi_worker_server, create_account(multi_worker_server.database_url))
    for api in (owner, partner):
        make_schedule(api, "UTC")
    team = make_team(multi_worker_server, owner.account, partner.account)
    event_type = make_event_type(
        owner, kind="round_robin", hosts=[owner.account.slug, partner.account.slug], teamId=team["id"]
    )
    assert fire(owner, event_type["id"]) == Counter({201: 2, 409: REQUESTS - 2})
    hosts = sorted(b["hostId"] for b in owner.get("/bookings").json()["data"])
    assert hosts == sorted([owner.account.user_id, partner.account.user_id])


def test_concurrent_requests_with_idempotency_keys(multi_worker_server: LiveServer) -> None:
    """Distinct keys on distinct slots all book (no deadlock between key rows and host locks); twins
    sharing one key make one booking and all get its answer."""
    api = api_for(multi_worker_server, create_account(multi_worker_server.database_url))
    make_schedule(api, "UTC")
    event_type = make_event_type(api)

    def post(key: str, hour: int, days_after_monday: int = 1) -> tuple[int, str | None]:
        body = {
            "eventTypeId": event_type["id"],
            "start": f"{MONDAY + timedelta(days=days_after_monday)}T{hour:02d}:00:00Z",
            "durationMin": 60,
            "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"},
        }
        headers = {"Authorization": f"Bearer {api.account.token}", "Idempotency-Key": key}
        response = requests.post(f"{api.base}/bookings", json=body, headers=headers, timeout=120)
        return response.status_code, response.json().get("id")

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        distinct = list(pool.map(lambda n: post(f"key-{n}", 9 + n % 8), range(24)))
        twins = list(pool.map(lambda _: post("twin", 10, days_after_monday=2), range(12)))
    assert Counter(status for status, _ in distinct) == Counter({201: 8, 409: 16})
    assert {status for status, _ in twins} == {201} and len({booking_id for _, booking_id in twins}) == 1
    assert stored(multi_worker_server.database_url, api.account.user_id) == (9, 9)
