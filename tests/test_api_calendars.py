"""REST calendars on the real server (issue #11): what the API makes is what CalDAV clients see, the feed
URLs are shown once, another user's calendar is a 404, and deleting a calendar cancels its bookings."""

from __future__ import annotations

import dataclasses
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree as ET

import caldav
import pytest
import requests

from caldee_dav import db
from caldee_dav.calendars import accounts, feed_tokens
from caldee_dav.scheduling.calendar_edits import CALENDAR_DELETED_REASON
from tests import dates
from tests.conftest import Account, LiveServer, api_request, create_account
from tests.scheduling_fixtures import make_event_type, make_schedule, new_api

CALENDAR_FIELDS = {
    "id",
    "name",
    "slug",
    "timezone",
    "color",
    "description",
    "caldavUrl",
    "inboundEmail",
    "inboundUrl",
    "inboundAllowedSenders",
    "hasFeed",
    "createdAt",
    "updatedAt",
}
FEED_FIELDS = {"feedUrl", "webcalUrl", "busyFeedUrl", "busyWebcalUrl"}
PROPFIND = (
    '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><d:displayname/><cs:getctag/></d:prop></d:propfind>"
)


def created(response: requests.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def new_calendar(server: LiveServer, account: Account, **fields: Any) -> dict[str, Any]:
    return created(api_request(server, account, "POST", "/calendars", {"name": "Work", **fields}))


def dav_client(server: LiveServer, account: Account) -> caldav.DAVClient:
    return caldav.DAVClient(url=server.url + "/dav/", username=account.slug, password=account.token)


def dav_properties(account: Account, caldav_url: str) -> tuple[int, dict[str, str]]:
    """PROPFIND (Depth 0) of a calendar: status, and its displayname and getctag."""
    response = requests.request(
        "PROPFIND",
        caldav_url,
        data=PROPFIND,
        headers={"Depth": "0", "Content-Type": "application/xml"},
        auth=(account.slug, account.token),
        timeout=30,
    )
    if response.status_code != 207:
        return response.status_code, {}
    tree = ET.fromstring(response.content)
    found = {
        element.tag.rsplit("}", 1)[1]: element.text or ""
        for element in tree.iter()
        if element.tag in ("{DAV:}displayname", "{http://calendarserver.org/ns/}getctag")
    }
    return response.status_code, found


def test_create_answers_every_url_and_caldav_clients_see_the_calendar(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, timezone="Europe/Paris")
    body = {"name": "Work Plans", "color": "#FF8800", "description": "Sprints and reviews"}
    response = api_request(live_server, account, "POST", "/calendars", body)
    calendar = created(response)
    assert response.headers["Location"] == f"/api/v2/calendars/{calendar['id']}"
    assert set(calendar) == CALENDAR_FIELDS | FEED_FIELDS
    assert re.fullmatch(r"cal_[0-9a-f]{16}", calendar["id"])
    assert (calendar["name"], calendar["slug"], calendar["timezone"]) == (
        "Work Plans",
        "work-plans",
        "Europe/Paris",
    )
    assert (calendar["color"], calendar["description"]) == ("#FF8800", "Sprints and reviews")
    assert calendar["hasFeed"] is True
    url = live_server.url
    assert calendar["caldavUrl"] == f"{url}/dav/{account.slug}/work-plans/"
    assert calendar["inboundEmail"] == f"cal-{calendar['id'].removeprefix('cal_')}@localhost"
    assert re.fullmatch(re.escape(url) + r"/inbound/inb_[\w-]+", calendar["inboundUrl"])
    assert calendar["feedUrl"].startswith(f"{url}/feeds/{calendar['id']}.ics?token=feed_")
    assert calendar["busyFeedUrl"].startswith(f"{url}/feeds/{calendar['id']}/busy.ics?token=feed_")
    assert calendar["webcalUrl"] == "webcal://" + calendar["feedUrl"].removeprefix("http://")
    assert calendar["busyWebcalUrl"] == "webcal://" + calendar["busyFeedUrl"].removeprefix("http://")

    # The caldavUrl is a calendar a CalDAV client finds, named as created, and takes events.
    client = dav_client(live_server, account)
    assert calendar["caldavUrl"] in [str(c.url) for c in client.principal().calendars()]
    dav_calendar = client.calendar(url=calendar["caldavUrl"])
    assert dav_calendar.get_display_name() == "Work Plans"
    day = dates.days_ahead(3)
    dav_calendar.save_event(
        dtstart=dates.at(day, 10), dtend=dates.at(day, 11), summary="Planning", uid="planning-1"
    )
    events = client.calendar(url=calendar["caldavUrl"]).events()
    assert [e.icalendar_component["SUMMARY"] for e in events] == ["Planning"]


def test_reads_list_every_calendar_without_feed_urls(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)  # has "Calendar", made without a feed
    calendar = new_calendar(live_server, account)
    read = created(api_request(live_server, account, "GET", f"/calendars/{calendar['id']}"), 200)
    assert set(read) == CALENDAR_FIELDS
    assert read == {key: calendar[key] for key in CALENDAR_FIELDS}
    listed = created(api_request(live_server, account, "GET", "/calendars"), 200)["data"]
    assert [(c["slug"], c["hasFeed"]) for c in listed] == [("calendar", False), ("work", True)]
    assert all(set(c) == CALENDAR_FIELDS for c in listed)


def test_a_calendar_made_over_caldav_is_listed_and_gets_a_feed_on_rotation(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, calendar=False)
    dav_client(live_server, account).principal().make_calendar(name="From Thunderbird", cal_id="from-tb")
    listed = created(api_request(live_server, account, "GET", "/calendars"), 200)["data"]
    assert [(c["name"], c["slug"], c["hasFeed"]) for c in listed] == [("From Thunderbird", "from-tb", False)]
    assert listed[0]["caldavUrl"] == f"{live_server.url}/dav/{account.slug}/from-tb/"
    path = f"/calendars/{listed[0]['id']}"
    rotated = created(api_request(live_server, account, "POST", path + "/feed-token"), 200)
    assert set(rotated) == CALENDAR_FIELDS | FEED_FIELDS and rotated["hasFeed"] is True
    assert created(api_request(live_server, account, "GET", path), 200)["hasFeed"] is True


def test_slugs_come_from_the_name_and_count_up_when_taken(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)  # has the slug "calendar"
    slugs = [new_calendar(live_server, account, name="Team Sync")["slug"] for _ in range(3)]
    assert slugs == ["team-sync", "team-sync-2", "team-sync-3"]
    # A name with nothing to make a slug of becomes "calendar", which is taken already.
    assert new_calendar(live_server, account, name="日本")["slug"] == "calendar-2"
    assert new_calendar(live_server, account, name="Mine", slug="chosen")["slug"] == "chosen"
    taken = api_request(live_server, account, "POST", "/calendars", {"name": "Again", "slug": "chosen"})
    assert taken.status_code == 409
    assert [(d["path"], d["code"]) for d in taken.json()["details"]] == [(["slug"], "slug_taken")]


def test_creates_at_once_each_get_their_own_slug(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, calendar=False)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: api_request(live_server, account, "POST", "/calendars", {"name": "Rush"}), range(4)
            )
        )
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert sorted(a.json()["slug"] for a in answers) == ["rush", "rush-2", "rush-3", "rush-4"]


def test_the_numbered_slugs_are_bounded(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url, calendar=False)
    for _ in range(50):
        new_calendar(live_server, account, name="Busy")
    refused = api_request(live_server, account, "POST", "/calendars", {"name": "Busy"})
    assert refused.status_code == 409, refused.text
    assert "send a slug of your own" in refused.json()["message"]
    assert new_calendar(live_server, account, name="Busy", slug="busy-51")["slug"] == "busy-51"


def test_patch_changes_what_caldav_clients_show(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)
    calendar = new_calendar(live_server, account, color="#112233", description="Old")
    status, before = dav_properties(account, calendar["caldavUrl"])
    assert status == 207 and before["displayname"] == "Work"

    path = f"/calendars/{calendar['id']}"
    changes = {"name": "Renamed", "timezone": "America/New_York", "description": None}
    patched = created(api_request(live_server, account, "PATCH", path, changes), 200)
    assert set(patched) == CALENDAR_FIELDS
    assert (patched["name"], patched["timezone"], patched["description"]) == (
        "Renamed",
        "America/New_York",
        None,
    )
    assert patched["color"] == "#112233"  # not sent: unchanged
    assert patched["slug"] == calendar["slug"] and patched["caldavUrl"] == calendar["caldavUrl"]
    _, after = dav_properties(account, calendar["caldavUrl"])
    # A new name and a new ctag: clients polling the ctag fetch the new name.
    assert after["displayname"] == "Renamed" and after["getctag"] != before["getctag"]
    assert created(api_request(live_server, account, "GET", path), 200)["name"] == "Renamed"
    assert created(api_request(live_server, account, "PATCH", path, {}), 200) == patched
    assert dav_properties(account, calendar["caldavUrl"])[1] == after  # nothing sent, nothing to refetch

    recolored = created(api_request(live_server, account, "PATCH", path, {"color": "#11223380"}), 200)
    assert (recolored["name"], recolored["color"]) == ("Renamed", "#11223380")
    assert created(api_request(live_server, account, "PATCH", path, {"color": None}), 200)["color"] is None


def test_feed_token_rotation_answers_new_urls_and_kills_the_old(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)
    calendar = new_calendar(live_server, account)
    rotated = created(
        api_request(live_server, account, "POST", f"/calendars/{calendar['id']}/feed-token"), 200
    )
    for field in FEED_FIELDS:
        assert rotated[field] != calendar[field]
    assert rotated["webcalUrl"] == "webcal://" + rotated["feedUrl"].removeprefix("http://")
    assert {k: v for k, v in rotated.items() if k in CALENDAR_FIELDS - {"updatedAt"}} == {
        k: v for k, v in calendar.items() if k in CALENDAR_FIELDS - {"updatedAt"}
    }

    def opens(feed_url: str, *, busy: bool) -> bool:
        token = feed_url.rsplit("token=", 1)[1]
        with db.read_unit(db.engine_for(live_server.database_url)) as session:
            return feed_tokens.calendar_for_feed(session, calendar["id"], token, busy=busy) is not None

    assert not opens(calendar["feedUrl"], busy=False) and not opens(calendar["busyFeedUrl"], busy=True)
    assert opens(rotated["feedUrl"], busy=False) and opens(rotated["busyFeedUrl"], busy=True)
    assert not opens(rotated["feedUrl"], busy=True)  # the full feed's token does not open the busy one


def test_inbound_token_rotation_changes_the_inbound_url(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)
    calendar = new_calendar(live_server, account)
    path = f"/calendars/{calendar['id']}"
    rotated = created(api_request(live_server, account, "POST", path + "/inbound-token"), 200)
    assert set(rotated) == CALENDAR_FIELDS
    assert rotated["inboundUrl"] != calendar["inboundUrl"]
    assert rotated["inboundUrl"].startswith(f"{live_server.url}/inbound/inb_")
    assert rotated["inboundEmail"] == calendar["inboundEmail"]
    assert created(api_request(live_server, account, "GET", path), 200)["inboundUrl"] == rotated["inboundUrl"]


def test_another_users_calendar_is_a_404_like_an_unknown_one(live_server: LiveServer) -> None:
    owner, other = create_account(live_server.database_url), create_account(live_server.database_url)
    calendar = new_calendar(live_server, owner)
    unknown = "cal_0000000000000000"
    requests_to_try = [
        ("GET", "", None),
        ("PATCH", "", {"name": "Mine now"}),
        ("POST", "/feed-token", None),
        ("POST", "/inbound-token", None),
        ("DELETE", "", None),
    ]
    for method, suffix, body in requests_to_try:
        theirs = api_request(live_server, other, method, f"/calendars/{calendar['id']}{suffix}", body)
        missing = api_request(live_server, other, method, f"/calendars/{unknown}{suffix}", body)
        assert theirs.status_code == missing.status_code == 404, (method, suffix, theirs.text)
        assert theirs.json() == {
            key: value.replace(unknown, calendar["id"]) for key, value in missing.json().items()
        }
    assert calendar["id"] not in [
        c["id"] for c in api_request(live_server, other, "GET", "/calendars").json()["data"]
    ]
    still = created(api_request(live_server, owner, "GET", f"/calendars/{calendar['id']}"), 200)
    assert still["name"] == "Work" and still["inboundUrl"] == calendar["inboundUrl"]


def test_delete_removes_the_calendar_and_cancels_its_bookings(live_server: LiveServer) -> None:
    host = new_api(live_server)
    make_schedule(host, "UTC")
    account = host.account
    calendar = new_calendar(live_server, account, name="Bookings")
    event_type = make_event_type(host, bookingCalendarId=calendar["id"])
    start = dates.api_utc(dates.at(dates.next_weekday(dates.TUE, after_days=2), 10))
    booking = created(host.book(event_type["id"], start))
    dav_calendar = dav_client(live_server, account).calendar(url=calendar["caldavUrl"])
    assert [str(e.icalendar_component["UID"]) for e in dav_calendar.events()] == [f"{booking['id']}@caledee"]

    deleted = api_request(live_server, account, "DELETE", f"/calendars/{calendar['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api_request(live_server, account, "GET", f"/calendars/{calendar['id']}").status_code == 404
    listed = created(api_request(live_server, account, "GET", "/calendars"), 200)["data"]
    assert [c["slug"] for c in listed] == ["calendar"]
    assert (
        requests.get(calendar["caldavUrl"], auth=(account.slug, account.token), timeout=30).status_code == 404
    )
    assert dav_properties(account, calendar["caldavUrl"])[0] == 404
    canceled = created(host.get(f"/bookings/{booking['id']}"), 200)
    assert canceled["status"] == "canceled"
    assert canceled["cancelReason"] == CALENDAR_DELETED_REASON
    # The event type no longer names the calendar (its bookings go to the host's first calendar).
    assert created(host.get(f"/event-types/{event_type['id']}"), 200)["bookingCalendarId"] is None


def test_event_types_name_calendars_by_rest_id_or_path(live_server: LiveServer) -> None:
    host = new_api(live_server)
    account = host.account
    work = new_calendar(live_server, account)
    event_type = make_event_type(
        host, bookingCalendarId=work["id"], busyCalendarIds=[work["id"], f"{account.slug}/calendar"]
    )
    work_path, default_path = f"{account.slug}/{work['slug']}", f"{account.slug}/calendar"
    assert event_type["bookingCalendarId"] == work_path
    assert event_type["busyCalendarIds"] == [work_path, default_path]
    patched = created(
        host.patch(f"/event-types/{event_type['id']}", json={"busyCalendarIds": [work["id"]]}), 200
    )
    assert patched["busyCalendarIds"] == [work_path]

    stranger_calendar = new_calendar(live_server, create_account(live_server.database_url))
    for body, path in (
        ({"bookingCalendarId": stranger_calendar["id"]}, ["bookingCalendarId"]),
        ({"busyCalendarIds": [work["id"], stranger_calendar["id"]]}, ["busyCalendarIds", "1"]),
        ({"bookingCalendarId": "cal_0000000000000000"}, ["bookingCalendarId"]),
    ):
        refused = host.patch(f"/event-types/{event_type['id']}", json=body)
        assert refused.status_code == 404, refused.text
        assert [(d["path"], d["code"]) for d in refused.json()["details"]] == [(path, "not_found")]


CREATE_CASES = [
    ({}, [(["name"], "required")]),
    ({"name": ""}, [(["name"], "required")]),
    ({"name": "   "}, [(["name"], "required")]),
    ({"name": "x" * 201}, [(["name"], "too_long")]),
    ({"name": 5}, [(["name"], "string_type")]),
    ({"name": "A", "timezone": "Mars/Olympus"}, [(["timezone"], "invalid_time_zone")]),
    ({"name": "A", "color": "orange"}, [(["color"], "invalid_color")]),
    ({"name": "A", "color": "#12345"}, [(["color"], "invalid_color")]),
    ({"name": "A", "description": "x" * 4097}, [(["description"], "too_long")]),
    ({"name": "A", "description": "é" * 2049}, [(["description"], "too_long")]),  # 4098 bytes
    ({"name": "A", "slug": "Not A Slug"}, [(["slug"], "invalid_slug")]),
    ({"name": "A", "colour": "#ffffff"}, [(["colour"], "extra_forbidden")]),
    (
        {"name": "", "timezone": "Nowhere/Else", "color": "red", "webhookUrl": "x"},
        [
            (["webhookUrl"], "extra_forbidden"),
            (["name"], "required"),
            (["timezone"], "invalid_time_zone"),
            (["color"], "invalid_color"),
        ],
    ),
]
PATCH_CASES = [
    ({"slug": "new-path"}, [(["slug"], "extra_forbidden")]),
    ({"name": None}, [(["name"], "required")]),
    ({"name": "y" * 201}, [(["name"], "too_long")]),
    ({"timezone": None}, [(["timezone"], "invalid_time_zone")]),
    ({"timezone": "Europe/Atlantis"}, [(["timezone"], "invalid_time_zone")]),
    ({"color": "#GGGGGG"}, [(["color"], "invalid_color")]),
    ({"description": "d" * 4097}, [(["description"], "too_long")]),
]


def test_bad_input_is_a_400_naming_each_field(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)
    calendar = new_calendar(live_server, account)
    cases = [("POST", "/calendars", body, want) for body, want in CREATE_CASES]
    cases += [("PATCH", f"/calendars/{calendar['id']}", body, want) for body, want in PATCH_CASES]
    for method, path, body, want in cases:
        response = api_request(live_server, account, method, path, body)
        assert response.status_code == 400, (method, body, response.text)
        error = response.json()
        assert set(error) == {"title", "message", "details"} and error["title"] == "Invalid Argument"
        assert sorted((d["path"], d["code"]) for d in error["details"]) == sorted(want), (method, body, error)
    not_json = requests.post(
        f"{live_server.url}/api/v2/calendars",
        data="[1, 2]",
        headers={"Authorization": f"Bearer {account.token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert not_json.status_code == 400 and not_json.json()["details"][0]["path"] == []
    # Nothing was made or changed by any of them.
    listed = created(api_request(live_server, account, "GET", "/calendars"), 200)["data"]
    assert [(c["slug"], c["name"]) for c in listed] == [("calendar", "Calendar"), ("work", "Work")]


def token_of(server: LiveServer, account: Account, scopes: list[str]) -> Account:
    """``account`` with another token of its own, holding ``scopes`` only."""
    with db.write_unit(db.engine_for(server.database_url)) as session:
        user = accounts.require_user(session, account.slug)
        secret = accounts.create_token(session, user, name="narrow", scopes=scopes).secret
    return dataclasses.replace(account, token=secret)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("POST", ""),
        ("PATCH", "/ID"),
        ("DELETE", "/ID"),
        ("POST", "/ID/feed-token"),
        ("POST", "/ID/inbound-token"),
    ],
)
def test_writes_need_the_write_calendars_scope(live_server: LiveServer, method: str, suffix: str) -> None:
    owner = create_account(live_server.database_url)
    calendar = new_calendar(live_server, owner)
    reader = token_of(live_server, owner, ["read:calendars"])
    path = "/calendars" + suffix.replace("ID", calendar["id"])
    response = api_request(live_server, reader, method, path, {"name": "Nope"})
    assert response.status_code == 403 and "write:calendars" in response.json()["message"]
    unchanged = created(api_request(live_server, reader, "GET", f"/calendars/{calendar['id']}"), 200)
    assert {k: v for k, v in unchanged.items() if k in CALENDAR_FIELDS} == {
        k: v for k, v in calendar.items() if k in CALENDAR_FIELDS
    }
    assert len(created(api_request(live_server, reader, "GET", "/calendars"), 200)["data"]) == 2


def test_reads_need_the_read_calendars_scope(live_server: LiveServer) -> None:
    writer = create_account(live_server.database_url, scopes=["write:calendars"])
    calendar = new_calendar(live_server, writer)
    for path in ("/calendars", f"/calendars/{calendar['id']}"):
        response = api_request(live_server, writer, "GET", path)
        assert response.status_code == 403 and "read:calendars" in response.json()["message"]


def test_bookings_feed_token_answers_a_new_feed_url_each_time(live_server: LiveServer) -> None:
    account = create_account(live_server.database_url)
    first = created(api_request(live_server, account, "POST", "/me/bookings-feed-token"), 200)
    assert set(first) == {"feedUrl", "webcalUrl"}
    assert first["feedUrl"].startswith(f"{live_server.url}/feeds/bookings/{account.user_id}.ics?token=feed_")
    assert first["webcalUrl"] == "webcal://" + first["feedUrl"].removeprefix("http://")
    second = created(api_request(live_server, account, "POST", "/me/bookings-feed-token"), 200)
    assert second["feedUrl"] != first["feedUrl"]

    def opens(feed_url: str) -> bool:
        token = feed_url.rsplit("token=", 1)[1]
        with db.read_unit(db.engine_for(live_server.database_url)) as session:
            return feed_tokens.user_for_bookings_feed(session, account.user_id, token) is not None

    assert opens(second["feedUrl"]) and not opens(first["feedUrl"])
    reader = create_account(live_server.database_url, scopes=["read:bookings"])
    refused = api_request(live_server, reader, "POST", "/me/bookings-feed-token")
    assert refused.status_code == 403 and "write:bookings" in refused.json()["message"]
