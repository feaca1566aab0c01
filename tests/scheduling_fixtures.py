"""Test setup for scheduling tests: a REST client per account, schedules and event types made through
the public API (POST /schedules, POST /event-types), and CalDAV access to an account's calendar."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import caldav
import requests

from tests import dates
from tests.conftest import Account, LiveServer, api_request, create_account

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY_9_TO_5 = [{"day": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS]
_counter = itertools.count(1)


@dataclass
class Api:
    """An account's REST client against the live server."""

    server: LiveServer
    account: Account
    session: requests.Session

    @property
    def base(self) -> str:
        return f"{self.server.url}/api/v2"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base + path, timeout=30, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.patch(self.base + path, timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.base + path, timeout=30, **kwargs)

    def slots(self, event_type_id: str, start: str, end: str, **params: Any) -> list[dict[str, str]]:
        response = self.get(
            "/availability", params={"eventTypeId": event_type_id, "from": start, "to": end, **params}
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def book(self, event_type_id: str, start: str, duration: int = 60, **fields: Any) -> requests.Response:
        body = {
            "eventTypeId": event_type_id,
            "start": start,
            "durationMin": duration,
            "invitee": {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"},
            **fields,
        }
        return self.post("/bookings", json=body)

    def calendar(self) -> caldav.Calendar:
        """The account's default calendar over CalDAV."""
        client = caldav.DAVClient(
            url=self.server.url + "/", username=self.account.slug, password=self.account.token
        )
        return client.calendar(url=f"{self.server.url}/dav/{self.account.slug}/calendar/")


def api_for(server: LiveServer, account: Account) -> Api:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {account.token}"
    return Api(server, account, session)


def new_api(server: LiveServer, timezone: str = "UTC") -> Api:
    return api_for(server, create_account(server.database_url, timezone=timezone))


def make_schedule(
    api: Api, timezone: str, rules: list[dict[str, str]] | None = None, overrides: list[dict] | None = None
) -> dict[str, Any]:
    body = {
        "name": f"Hours {next(_counter)}",
        "timezone": timezone,
        "isDefault": True,
        "weeklyRules": rules if rules is not None else EVERY_DAY_9_TO_5,
        "dateOverrides": overrides or [],
    }
    response = api.post("/schedules", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_event_type(api: Api, **fields: Any) -> dict[str, Any]:
    """An event type (60 minutes unless told) with the given camelCase fields."""
    number = next(_counter)
    body = {"name": f"Meeting {number}", "slug": f"meeting-{number}", "durationsMin": [60], **fields}
    response = api.post("/event-types", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def make_team(server: LiveServer, owner: Account, *members: Account) -> dict[str, Any]:
    """A team of ``owner`` (its owner) whose ``members`` were invited and accepted: what it takes, by
    consent, for them to host the owner's round robin and collective event types."""
    slug = f"team-{secrets.token_hex(4)}"
    response = api_request(server, owner, "POST", "/teams", {"name": slug.title(), "slug": slug})
    assert response.status_code == 201, response.text
    team = response.json()
    for member in members:
        path = f"/teams/{team['id']}/memberships"
        invited = api_request(server, owner, "POST", path, {"user": member.slug})
        assert invited.status_code == 201, invited.text
        accepted = api_request(server, member, "POST", f"{path}/{invited.json()['id']}/accept")
        assert accepted.status_code == 200, accepted.text
    return team


def local_times(slots: list[dict[str, str]], day: str) -> list[str]:
    """The HH:MM of the slots starting on ``day`` (YYYY-MM-DD) as written in the answer's offset."""
    return [s["start"][11:16] for s in slots if s["start"].startswith(day)]


def iso(day: date, hour: int = 0, minute: int = 0, tz: str = "UTC") -> str:
    """``hour:minute`` on ``day`` in ``tz``, with its UTC offset, as the REST API takes a time."""
    return dates.at(day, hour, minute, zone=tz).isoformat()
