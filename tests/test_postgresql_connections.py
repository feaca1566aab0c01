"""The server outlives PostgreSQL ending its connections (a restart, pg_terminate_backend, idle timeout)."""

from __future__ import annotations

import time

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests import dates
from tests.conftest import Account, LiveServer, api_request, create_account

# A day a month ahead of the clock: inside the indexing horizon whatever the date.
DAY = dates.ical_day(dates.days_ahead(30))
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    f"DTSTAMP:20261101T000000Z\r\nDTSTART:{DAY}T100000Z\r\nDTEND:{DAY}T110000Z\r\nSUMMARY:{{uid}}\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def end_every_session(database_url: str) -> int:
    """What a PostgreSQL restart does to the server's pooled connections: end them; how many there were."""
    engine = sa.create_engine(make_url(database_url), poolclass=sa.NullPool)
    query = sa.text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    remaining = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with engine.connect() as connection:
        ended = len(connection.execute(query).all())
        for _ in range(100):  # the backends exit asynchronously
            if connection.execute(remaining).scalar_one() == 0:
                break
            time.sleep(0.05)
    engine.dispose()
    return ended


def put_event(server: LiveServer, account: Account, uid: str) -> requests.Response:
    return requests.put(
        f"{server.dav_url}{account.slug}/calendar/{uid}.ics",
        data=EVENT.format(uid=uid),
        auth=(account.slug, account.token),
        headers={"Content-Type": "text/calendar"},
        timeout=30,
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no server
def test_requests_succeed_after_postgresql_ends_the_pooled_connections(
    live_server: LiveServer, database_url: str
) -> None:
    account = create_account(database_url)
    # Several requests at once, so the server's pool holds more than one connection.
    for uid in ("before-1", "before-2"):
        assert put_event(live_server, account, uid).status_code == 201
    assert api_request(live_server, account, "GET", "/me").status_code == 200

    assert end_every_session(database_url) >= 1

    # Every kind of request right after: the fast CalDAV path, Radicale's path, and the REST API.
    assert put_event(live_server, account, "after").status_code == 201
    got = requests.get(
        f"{live_server.dav_url}{account.slug}/calendar/after.ics",
        auth=(account.slug, account.token),
        timeout=30,
    )
    assert got.status_code == 200 and "UID:after" in got.text
    listing = requests.request(
        "PROPFIND",
        f"{live_server.dav_url}{account.slug}/calendar/",
        auth=(account.slug, account.token),
        headers={"Depth": "1"},
        timeout=30,
    )
    assert listing.status_code == 207
    assert all(f"{uid}.ics" in listing.text for uid in ("before-1", "before-2", "after"))
    me = api_request(live_server, account, "GET", "/me")
    assert me.status_code == 200 and me.json()["slug"] == account.slug
