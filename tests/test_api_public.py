"""The public side, without a token (issue #10 item 18): the event type's ``url`` ``/{userSlug}/{eventSlug}``
answers JSON pointing at its slots, and ``/api/v2/public/...`` lists a host's event types and their
slots, the same slots /availability gives the host."""

from __future__ import annotations

from datetime import timedelta

import requests

from tests import dates
from tests.conftest import LiveServer
from tests.scheduling_fixtures import make_event_type, make_schedule, new_api

MONDAY = dates.next_weekday(dates.MON, after_days=2)
PUBLIC_FIELDS = {
    "slug",
    "name",
    "description",
    "kind",
    "durationsMin",
    "location",
    "requiresConfirmation",
    "questions",
    "host",
    "url",
    "slotsUrl",
}


def anonymous_get(url: str, **params: str) -> requests.Response:
    return requests.get(url, params=params, timeout=30)


def test_event_type_url_answers_json_pointing_at_its_slots(live_server: LiveServer) -> None:
    api = new_api(live_server, "Europe/Paris")
    event_type = make_event_type(
        api,
        description="A first talk",
        durationsMin=[30, 60],
        location={"kind": "link", "value": "https://meet.example.com/private-room"},
        questions=[{"id": "topic", "label": "Topic", "required": True}],
        bookingWindowDays=30,
    )
    slug = api.account.slug
    assert event_type["url"] == f"{live_server.url}/{slug}/{event_type['slug']}"

    page = anonymous_get(event_type["url"])
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("application/json")
    body = page.json()
    assert set(body) == PUBLIC_FIELDS  # no id, calendars, schedule, limits or hosts' ids
    assert body["name"] == event_type["name"] and body["description"] == "A first talk"
    assert body["durationsMin"] == [30, 60] and body["location"] == {"kind": "link"}
    assert body["questions"] == [
        {"id": "topic", "label": "Topic", "type": "text", "required": True, "options": []}
    ]
    assert body["host"] == {"slug": slug, "name": slug.upper(), "timezone": "Europe/Paris"}
    assert body["url"] == event_type["url"]
    assert body["slotsUrl"] == f"{live_server.url}/api/v2/public/{slug}/{event_type['slug']}/slots"
    assert "private-room" not in page.text
    assert anonymous_get(f"{live_server.url}/api/v2/public/{slug}/{event_type['slug']}").json() == body


def test_public_list_shows_active_event_types_that_are_not_secret(live_server: LiveServer) -> None:
    api = new_api(live_server)
    shown = make_event_type(api)
    secret = make_event_type(api, secret=True)
    inactive = make_event_type(api, active=False)
    base = f"{live_server.url}/api/v2/public/{api.account.slug}"

    listing = anonymous_get(base)
    assert listing.status_code == 200
    assert listing.json()["host"]["slug"] == api.account.slug
    assert [e["slug"] for e in listing.json()["data"]] == [shown["slug"]]

    assert anonymous_get(f"{base}/{secret['slug']}").status_code == 200  # by its exact slug
    assert anonymous_get(f"{base}/{secret['slug'].upper()}").status_code == 404
    for missing in (f"{base}/{inactive['slug']}", f"{base}/no-such-type", f"{base}x"):
        response = anonymous_get(missing)
        assert response.status_code == 404 and set(response.json()) >= {"title", "message"}
    assert anonymous_get(f"{live_server.url}/{api.account.slug}/{inactive['slug']}").status_code == 404
    window = {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=1)).isoformat()}
    assert anonymous_get(f"{base}/{inactive['slug']}/slots", **window).status_code == 404


def test_public_slots_are_the_hosts_availability(live_server: LiveServer) -> None:
    api = new_api(live_server, "America/New_York")
    make_schedule(api, "America/New_York")
    event_type = make_event_type(api, durationsMin=[30, 60], bookingWindowDays=30)
    slots_url = anonymous_get(event_type["url"]).json()["slotsUrl"]
    window = {"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=2)).isoformat()}

    public = anonymous_get(slots_url, **window)
    assert public.status_code == 200
    assert public.json()["data"] == api.slots(event_type["id"], window["from"], window["to"])
    assert public.json()["data"][0]["start"].endswith(("-04:00", "-05:00"))  # the host's zone by default
    in_paris = anonymous_get(slots_url, tz="Europe/Paris", duration="30", **window).json()["data"]
    assert in_paris == api.slots(
        event_type["id"], window["from"], window["to"], tz="Europe/Paris", duration=30
    )

    later = dates.now() + timedelta(days=40)
    beyond = anonymous_get(
        slots_url, **{"from": later.isoformat(), "to": (later + timedelta(days=1)).isoformat()}
    )
    assert (
        beyond.json() == {"data": []} and beyond.headers["Caledee-Empty-Reason"] == "outside-booking-window"
    )

    bad = anonymous_get(slots_url, **{"from": "soon", "to": window["to"], "duration": "45"})
    assert bad.status_code == 400 and [d["path"] for d in bad.json()["details"]] == [["from"]]
    not_offered = anonymous_get(slots_url, duration="45", **window)
    assert not_offered.status_code == 400 and not_offered.json()["details"][0]["path"] == ["duration"]
