"""The booking pages in a real browser (issue #14): Debian's headless Chromium driven by Playwright.

An invitee opens the host's page and an event type's page, picks a day and a time in their own time
zone, fills the form and books; the host finds the booking over REST and as a VEVENT over CalDAV. Also:
the slot taken between page load and submit, a lead left by someone who did not book, cancel and
reschedule from the manage link, booking with the keyboard alone, secret and unknown pages, 429.

The server's clock may be moved (CALEDEE_TEST_CLOCK_OFFSET_DAYS), the browser's is not: the pages take
"today" from the server, and every date here comes from tests/dates.py.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import dates
from tests.conftest import LiveServer, start_server, stop_server
from tests.scheduling_fixtures import Api, iso, make_event_type, make_schedule, new_api

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent (Debian's chromium package; `make test` installs it): browser tests skipped",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

MONDAY = dates.next_weekday(dates.MON, after_days=2)
TUESDAY = MONDAY + timedelta(days=1)
WAIT_MS = 15_000
PAGE_BUDGET = 100_000  # bytes of HTML, CSS and JS a page may need


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


def new_page(browser: Browser, zone: str = "Europe/Paris") -> Page:
    context = browser.new_context(timezone_id=zone, locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    return context.new_page()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = new_page(browser)
    yield opened
    opened.context.close()


def host(server: LiveServer, zone: str = "Europe/Paris", **event_fields: Any) -> tuple[Api, dict[str, Any]]:
    """A host open 09:00-17:00 every day in ``zone`` and one of their event types."""
    api = new_api(server, zone)
    make_schedule(api, zone)
    return api, make_event_type(api, **{"bookingWindowDays": 60, **event_fields})


def show_day(page: Page, day: date) -> None:
    """Open the month of ``day`` in the calendar and pick that day."""
    month = day.strftime("%Y-%m")
    expect(page.locator("#picker[data-state=ready]")).to_have_count(1)
    for _ in range(4):  # bounded: the target is at most two months ahead
        if page.locator(f"#picker[data-month='{month}']").count():
            break
        page.click("#next-month")
        expect(page.locator("#picker[data-state=ready]")).to_have_count(1)
    page.click(f"button.day[data-day='{day.isoformat()}']")
    expect(page.locator("#times")).to_be_visible()


def time_button(page: Page, day: date, hour: int) -> Any:
    return page.locator(f"button.time[data-start^='{day.isoformat()}T{hour:02d}:00']")


def fill_details(page: Page, name: str = "Ada Lovelace", email: str = "ada@example.com") -> None:
    page.fill("#name", name)
    page.fill("#email", email)


def bookings_of(api: Api) -> list[dict[str, Any]]:
    response = api.get("/bookings")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_book_end_to_end_and_find_it_over_rest_and_caldav(live_server: LiveServer, page: Page) -> None:
    api, event_type = host(
        live_server,
        description="A first talk about your project",
        durationsMin=[30, 60],
        questions=[{"id": "company", "label": "Company", "required": True}],
    )
    page.goto(f"{live_server.url}/{api.account.slug}")
    expect(page.locator("h1")).to_have_text(api.account.slug.upper())
    page.click(f"text={event_type['name']}")

    expect(page.locator("h1")).to_have_text(event_type["name"])
    expect(page.locator(".description")).to_have_text("A first talk about your project")
    expect(page.locator("#zone")).to_have_value("Europe/Paris")  # the browser's zone
    page.check("input[name=duration][value='60']")
    show_day(page, MONDAY)
    time_button(page, MONDAY, 10).click()
    fill_details(page)
    page.fill("#notes", "Looking forward")
    page.click("#book")
    # The required question is enforced before anything is sent, and says which.
    expect(page.locator("#q-0-error")).to_have_text("Please answer “Company”.")
    assert bookings_of(api) == []
    page.fill("#q-0", "ACME")
    page.click("#book")

    page.wait_for_url(re.compile(r"/booking/bkg_\w+\?token=[\w-]+&new=1$"))
    expect(page.locator("h1")).to_have_text("You are booked")
    when = f"{MONDAY:%A} {MONDAY.day} {MONDAY:%B %Y}, 10:00 – 11:00"
    expect(page.locator("#booking-when")).to_contain_text(when)
    expect(page.locator("#booking-when")).to_contain_text("Europe/Paris")

    start = dates.at(MONDAY, 10, zone="Europe/Paris")
    [booking] = bookings_of(api)
    assert booking["startAt"] == dates.api_utc(start) and booking["durationMin"] == 60
    assert booking["invitee"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "timezone": "Europe/Paris",
    }
    assert booking["answers"] == [{"questionId": "company", "label": "Company", "value": "ACME"}]
    assert booking["notes"] == "Looking forward"
    vevent = api.calendar().event_by_uid(booking["uid"]).icalendar_component
    assert vevent["DTSTART"].dt == start and "Ada Lovelace" in str(vevent["SUMMARY"])

    # "Add to calendar": the VEVENT to import; Google's link holds the same UTC times.
    with page.expect_download() as download:
        page.click("#ics-link")
    ics = Path(download.value.path()).read_text()
    assert "METHOD:PUBLISH" in ics and f"DTSTART:{dates.ical_utc(start)}" in ics
    google = page.get_attribute("#google-link", "href") or ""
    assert google.startswith("https://calendar.google.com/calendar/render?action=TEMPLATE")
    end = start + timedelta(hours=1)
    assert f"dates={dates.ical_utc(start)}%2F{dates.ical_utc(end)}" in google
    manage = page.input_value("#manage-url")
    assert manage.startswith(f"{live_server.url}/booking/{booking['id']}?token=")


def test_book_from_another_time_zone(live_server: LiveServer, browser: Browser) -> None:
    api, event_type = host(live_server, "UTC")
    tokyo = new_page(browser, "Asia/Tokyo")
    try:
        tokyo.goto(event_type["url"])
        expect(tokyo.locator("#zone")).to_have_value("Asia/Tokyo")
        # Open 09:00-17:00 UTC is 18:00-02:00 in Tokyo: 19:00 there on Monday is 10:00 UTC.
        show_day(tokyo, MONDAY)
        time_button(tokyo, MONDAY, 19).click()
        fill_details(tokyo, "Kenji Sato", "kenji@example.com")
        tokyo.click("#book")
        expect(tokyo.locator("h1")).to_have_text("You are booked")
        expect(tokyo.locator("#booking-when")).to_contain_text("19:00 – 20:00")
        expect(tokyo.locator("#booking-when")).to_contain_text("Asia/Tokyo")
    finally:
        tokyo.context.close()
    [booking] = bookings_of(api)
    assert booking["startAt"] == f"{MONDAY.isoformat()}T10:00:00Z"
    assert booking["invitee"]["timezone"] == "Asia/Tokyo"


def test_a_slot_taken_after_the_page_loaded(live_server: LiveServer, page: Page) -> None:
    api, event_type = host(live_server)
    page.goto(event_type["url"])
    show_day(page, MONDAY)
    time_button(page, MONDAY, 11).click()
    fill_details(page, "Grace Hopper", "grace@example.com")

    taken = api.book(event_type["id"], iso(MONDAY, 11, tz="Europe/Paris"))  # someone else, meanwhile
    assert taken.status_code == 201, taken.text
    page.click("#book")
    expect(page.locator("#status")).to_contain_text("that time was just taken")
    expect(time_button(page, MONDAY, 11)).to_have_count(0)  # fresh times, without it
    expect(time_button(page, MONDAY, 12)).to_be_visible()

    time_button(page, MONDAY, 12).click()
    expect(page.locator("#name")).to_have_value("Grace Hopper")  # the details are kept
    page.click("#book")
    expect(page.locator("h1")).to_have_text("You are booked")
    starts = sorted(b["startAt"] for b in bookings_of(api))
    assert starts == [dates.api_utc(dates.at(MONDAY, hour, zone="Europe/Paris")) for hour in (11, 12)]


def test_details_left_without_booking_make_a_lead(live_server: LiveServer, page: Page) -> None:
    api, event_type = host(live_server)
    page.goto(event_type["url"])
    show_day(page, MONDAY)
    time_button(page, MONDAY, 9).click()
    fill_details(page, "Alan Turing", "alan@example.com")
    page.press("#email", "Tab")  # leaves the email field, then the page
    deadline = time.monotonic() + 10
    leads: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not leads:
        leads = api.get("/leads").json()["data"]
        time.sleep(0.1)
    page.close()
    assert [(lead["name"], lead["email"], lead["booked"]) for lead in leads] == [
        ("Alan Turing", "alan@example.com", False)
    ]
    assert leads[0]["eventType"]["slug"] == event_type["slug"] and leads[0]["timezone"] == "Europe/Paris"


def test_cancel_and_reschedule_from_the_manage_link(live_server: LiveServer, page: Page) -> None:
    api, event_type = host(live_server)
    made = requests.post(
        f"{live_server.url}/api/v2/public/{api.account.slug}/{event_type['slug']}/bookings",
        json={
            "start": iso(MONDAY, 9, tz="Europe/Paris"),
            "durationMin": 60,
            "invitee": {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/Paris"},
        },
        timeout=30,
    )
    assert made.status_code == 201, made.text
    booking_id, link = made.json()["id"], made.headers["Caledee-Manage-Url"]

    page.goto(link)
    expect(page.locator("h1")).to_have_text("Your booking")
    page.click("#show-reschedule")
    show_day(page, TUESDAY)
    time_button(page, TUESDAY, 14).click()
    page.click("#move")
    expect(page.locator("#booking-when")).to_contain_text(
        f"{TUESDAY:%A} {TUESDAY.day} {TUESDAY:%B %Y}, 14:00"
    )
    moved = api.get(f"/bookings/{booking_id}").json()
    assert moved["startAt"] == dates.api_utc(dates.at(TUESDAY, 14, zone="Europe/Paris"))
    assert moved["status"] == "active"

    page.fill("#cancel-reason", "Something came up")
    page.click("#cancel")
    expect(page.locator("h1")).to_have_text("Booking canceled")
    canceled = api.get(f"/bookings/{booking_id}").json()
    assert canceled["status"] == "canceled" and canceled["cancelReason"] == "Something came up"
    assert canceled["canceledBy"] == "ada@example.com"
    vevent = api.calendar().event_by_uid(canceled["uid"]).icalendar_component
    assert str(vevent["STATUS"]) == "CANCELLED"

    # Another token, or none: the same 404 page as an unknown booking.
    for wrong in (link[:-4] + "abcd", link.split("?")[0], f"{live_server.url}/booking/bkg_unknown?token=x"):
        answer = page.goto(wrong)
        assert answer is not None and answer.status == 404
        expect(page.locator("h1")).to_have_text("Page not found")


def test_booking_with_the_keyboard_alone(live_server: LiveServer, page: Page) -> None:
    api, event_type = host(live_server)
    page.goto(event_type["url"])
    expect(page.locator("#picker[data-state=ready]")).to_have_count(1)
    if not page.locator(f"button.day[data-day='{MONDAY.isoformat()}']").count():
        tab_to(page, "#next-month")
        page.keyboard.press("Enter")
        expect(page.locator(f"#picker[data-state=ready][data-month='{MONDAY:%Y-%m}']")).to_have_count(1)
    tab_to(page, f"button.day[data-day='{MONDAY.isoformat()}']")
    page.keyboard.press("Enter")
    tab_to(page, f"button.time[data-start^='{MONDAY.isoformat()}T13:00']")
    page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.id") == "name"  # the form takes the focus
    page.keyboard.type("Katherine Johnson")
    page.keyboard.press("Tab")
    page.keyboard.type("katherine@example.com")
    tab_to(page, "#book")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("You are booked")
    [booking] = bookings_of(api)
    assert booking["startAt"] == dates.api_utc(dates.at(MONDAY, 13, zone="Europe/Paris"))
    assert booking["invitee"]["name"] == "Katherine Johnson"


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until ``selector`` has the focus (bounded: a month of days and a day of times)."""
    for _ in range(120):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_secret_event_types_open_only_by_their_url(live_server: LiveServer, page: Page) -> None:
    api, shown = host(live_server)
    secret = make_event_type(api, secret=True, name="Private chat")
    inactive = make_event_type(api, active=False, name="Old meeting")
    page.goto(f"{live_server.url}/{api.account.slug}")
    expect(page.locator(".event-name")).to_have_text([shown["name"]])

    page.goto(secret["url"])
    expect(page.locator("h1")).to_have_text("Private chat")
    expect(page.locator("#picker[data-state=ready]")).to_have_count(1)

    for missing in (
        inactive["url"],
        f"{live_server.url}/nobody-here",
        f"{live_server.url}/nobody-here/intro",
    ):
        answer = page.goto(missing)
        assert answer is not None and answer.status == 404, missing
        expect(page.locator("h1")).to_have_text("Page not found")
        expect(page.locator("link[rel=stylesheet]")).to_have_count(1)  # the same look


def page_weight(server: LiveServer, path: str) -> int:
    """Bytes of a page's HTML and of the style sheets and scripts it loads."""
    html = requests.get(server.url + path, headers={"Accept": "text/html"}, timeout=30)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'<(?:script[^>]*src|link[^>]*rel="stylesheet"[^>]*href)="([^"]+)"', html.text)
    assert len(assets) >= 1
    return len(html.content) + sum(len(requests.get(server.url + a, timeout=30).content) for a in assets)


def test_pages_are_small_strict_and_keep_the_json(live_server: LiveServer) -> None:
    api, event_type = host(live_server, questions=[{"id": "topic", "label": "Topic", "type": "textarea"}])
    made = requests.post(
        f"{live_server.url}/api/v2/public/{api.account.slug}/{event_type['slug']}/bookings",
        json={
            "start": iso(MONDAY, 9, tz="Europe/Paris"),
            "durationMin": 60,
            "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Europe/Paris"},
        },
        timeout=30,
    )
    manage = made.headers["Caledee-Manage-Url"].removeprefix(live_server.url)
    for path in (f"/{api.account.slug}", f"/{api.account.slug}/{event_type['slug']}", manage):
        assert page_weight(live_server, path) < PAGE_BUDGET, path
        answer = requests.get(live_server.url + path, headers={"Accept": "text/html"}, timeout=30)
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "<script>" not in answer.text and " style=" not in answer.text  # nothing inline

    # A client asking for JSON (or anything) still gets the event type's JSON at its url.
    for accept in ("application/json", "*/*"):
        answer = requests.get(event_type["url"], headers={"Accept": accept}, timeout=30)
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["slotsUrl"].endswith(f"/{event_type['slug']}/slots")


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("limited"),
        extra_env={"CALEDEE_PUBLIC_REQUESTS_PER_MINUTE": "4"},
    )
    yield server
    stop_server(server)


def test_rate_limited_visitors_get_a_polite_message(limited_server: LiveServer, page: Page) -> None:
    api, event_type = host(limited_server)
    page.goto(event_type["url"])
    expect(page.locator("#picker[data-state=ready]")).to_have_count(1)
    for _ in range(12):  # bounded: four requests a minute, a new minute at most resets the count once
        if "Please wait" in (page.text_content("#status") or ""):
            break
        page.click("#next-month")
        expect(page.locator("#picker[data-state=ready]")).to_have_count(1)
    expect(page.locator("#status")).to_contain_text(re.compile(r"Please wait \d+ seconds? and try again"))

    for _ in range(6):  # bounded, as above
        answer = page.goto(event_type["url"])
        if answer is not None and answer.status == 429:
            break
    assert answer is not None and answer.status == 429
    expect(page.locator("h1")).to_have_text("Too many requests")
    expect(page.locator("main")).to_contain_text("Please wait")


def test_the_manage_token_is_kept_hashed_and_a_replay_replaces_it(live_server: LiveServer) -> None:
    from caldee_dav import db
    from caldee_dav.models import Booking

    api, event_type = host(live_server)
    url = f"{live_server.url}/api/v2/public/{api.account.slug}/{event_type['slug']}/bookings"
    body = {
        "start": iso(MONDAY, 15, tz="Europe/Paris"),
        "durationMin": 60,
        "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Europe/Paris"},
    }
    first = requests.post(url, json=body, headers={"Idempotency-Key": "page-1"}, timeout=30)
    replay = requests.post(url, json=body, headers={"Idempotency-Key": "page-1"}, timeout=30)
    assert first.status_code == replay.status_code == 201 and replay.json() == first.json()
    old, new = (r.headers["Caledee-Manage-Url"].split("token=")[1] for r in (first, replay))
    assert old != new

    with db.read_unit(db.engine_for(live_server.database_url)) as session:
        stored = session.get(Booking, first.json()["id"])
        assert stored is not None and stored.manage_token_hash == hashlib.sha256(new.encode()).hexdigest()
    where = f"{live_server.url}/api/v2/public/booking/{first.json()['id']}"
    opened = requests.get(where, headers={"X-Booking-Token": new}, timeout=30)
    assert opened.json()["id"] == first.json()["id"]
    assert requests.get(where, headers={"X-Booking-Token": old}, timeout=30).status_code == 404
    assert requests.get(where, params={"token": new}, timeout=30).status_code == 200
