"""Raw HTTP against /dav/: status codes a client sees for good and bad requests, and what is stored."""

from __future__ import annotations

from datetime import timedelta

import requests
from sqlalchemy import select

from caldee_dav import clock, db, store
from caldee_dav.calendars import accounts
from caldee_dav.models import ApiToken
from tests import dates
from tests.conftest import TEST_MAX_RESOURCE_SIZE, Account, LiveServer, create_account

# A day a month ahead of the clock: inside the indexing horizon whatever the date.
DAY = dates.ical_day(dates.days_ahead(30))
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
    f"DTSTAMP:20261101T000000Z\r\nDTSTART:{DAY}T100000Z\r\nDTEND:{DAY}T110000Z\r\nSUMMARY:{{summary}}\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def calendar_url(server: LiveServer, account: Account) -> str:
    return f"{server.dav_url}{account.slug}/calendar/"


def put(server: LiveServer, account: Account, name: str, body: str, **headers: str) -> requests.Response:
    return requests.put(
        calendar_url(server, account) + name,
        data=body.encode(),
        auth=(account.slug, account.token),
        headers={**ICS, **headers},
        timeout=10,
    )


def revision(server: LiveServer, account: Account) -> int:
    with db.read_unit(db.engine_for(server.database_url)) as session:
        return store.require_collection(session, f"{account.slug}/calendar").revision


def stored_hrefs(server: LiveServer, account: Account) -> list[str]:
    with db.read_unit(db.engine_for(server.database_url)) as session:
        collection = store.require_collection(session, f"{account.slug}/calendar")
        return [o.href for o in store.all_objects(session, collection.id)]


def test_put_get_delete_with_etags(live_server: LiveServer, account: Account) -> None:
    created = put(live_server, account, "a.ics", EVENT.format(uid="a", summary="A"), **{"If-None-Match": "*"})
    assert created.status_code == 201
    etag = created.headers["ETag"]
    got = requests.get(
        calendar_url(live_server, account) + "a.ics", auth=(account.slug, account.token), timeout=10
    )
    assert got.status_code == 200 and got.headers["ETag"] == etag and "SUMMARY:A" in got.text
    wrong = requests.delete(
        calendar_url(live_server, account) + "a.ics",
        auth=(account.slug, account.token),
        headers={"If-Match": '"nope"'},
        timeout=10,
    )
    assert wrong.status_code == 412
    gone = requests.delete(
        calendar_url(live_server, account) + "a.ics",
        auth=(account.slug, account.token),
        headers={"If-Match": etag},
        timeout=10,
    )
    assert gone.status_code in (200, 204)
    assert stored_hrefs(live_server, account) == []


def test_etag_is_the_one_radicale_computes(live_server: LiveServer, account: Account) -> None:
    from radicale.item import get_etag

    created = put(live_server, account, "e.ics", EVENT.format(uid="e", summary="E"))
    got = requests.get(
        calendar_url(live_server, account) + "e.ics", auth=(account.slug, account.token), timeout=10
    )
    assert created.headers["ETag"] == got.headers["ETag"] == get_etag(got.text)


def test_bad_calendar_data_is_refused_and_nothing_moves(live_server: LiveServer, account: Account) -> None:
    put(live_server, account, "keep.ics", EVENT.format(uid="keep", summary="K"))
    before = revision(live_server, account)
    no_uid = EVENT.format(uid="x", summary="S").replace("UID:x\r\n", "")
    mixed = EVENT.format(uid="one", summary="S").replace(
        "END:VCALENDAR",
        f"BEGIN:VEVENT\r\nUID:two\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{DAY}T120000Z\r\n"
        "END:VEVENT\r\nEND:VCALENDAR",
    )
    plain = EVENT.format(uid="p", summary="S")

    def with_line(line: str) -> str:
        return plain.replace("SUMMARY:S\r\n", f"SUMMARY:S\r\n{line}\r\n")

    cases = {
        "garbage.ics": "this is not a calendar",
        "truncated.ics": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:t\r\n",
        "nouid.ics": no_uid,
        "mixed.ics": mixed,
        # Well-formed lines with values that are not what their property holds, and broken lines:
        # refused whichever parser meets them first.
        "bad-start.ics": plain.replace(f"DTSTART:{DAY}T100000Z", "DTSTART:hello"),
        "bad-end.ics": plain.replace(f"DTEND:{DAY}T110000Z", "DTEND:2027"),
        "bad-created.ics": with_line("CREATED:yesterday"),
        "bad-recurrence-id.ics": with_line("RECURRENCE-ID:abc"),
        "no-colon.ics": with_line("GARBAGE LINE"),
        "open-quote.ics": with_line('X-FOO;A="b:c'),
    }
    for name, body in cases.items():
        response = put(live_server, account, name, body)
        assert 400 <= response.status_code < 500, (name, response.status_code)
    # A new object may not reuse the UID of another one in the calendar.
    clash = put(live_server, account, "clash.ics", EVENT.format(uid="keep", summary="again"))
    assert clash.status_code == 409 and "no-uid-conflict" in clash.text
    assert stored_hrefs(live_server, account) == ["keep.ics"]
    assert revision(live_server, account) == before
    whole = requests.get(calendar_url(live_server, account), auth=(account.slug, account.token), timeout=10)
    assert whole.status_code == 200 and "UID:keep" in whole.text


def test_too_large_is_refused(live_server: LiveServer, account: Account) -> None:
    before = revision(live_server, account)
    huge = EVENT.format(uid="big", summary="x" * (TEST_MAX_RESOURCE_SIZE + 10))
    response = put(live_server, account, "big.ics", huge)
    assert response.status_code in (412, 413)
    assert revision(live_server, account) == before


def test_wrong_credentials_get_401(live_server: LiveServer, account: Account) -> None:
    for auth in [(account.slug, "wrong"), ("nobody", account.token), (account.email, "pat_forged")]:
        response = requests.request("PROPFIND", calendar_url(live_server, account), auth=auth, timeout=10)
        assert response.status_code == 401
    anonymous = requests.request("PROPFIND", calendar_url(live_server, account), timeout=10)
    assert anonymous.status_code == 401


def test_token_login_needs_a_live_token_with_the_caldav_scope(
    live_server: LiveServer, account: Account
) -> None:
    """A token is an app password only while it is live and holds ``caldav``; the fast path and
    Radicale's own path refuse alike (PROPFIND Depth 1 and PUT are answered by the fast path): 401 for
    a token that is no longer live, 403 naming the scope for a live token without ``caldav``."""
    api_only = create_account(live_server.database_url, scopes=["read:bookings"])
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        revoked = accounts.create_token(session, accounts.require_user(session, account.slug), name="old")
        expired = accounts.create_token(session, accounts.require_user(session, account.slug), name="gone")
        token = session.scalars(select(ApiToken).where(ApiToken.id == revoked.id)).one()
        token.revoked_at = clock.now()
        token = session.scalars(select(ApiToken).where(ApiToken.id == expired.id)).one()
        token.expires_at = clock.now() - timedelta(seconds=1)
    refused = [
        (api_only, (api_only.slug, api_only.token), 403),
        (account, (account.slug, revoked.secret), 401),
        (account, (account.email, expired.secret), 401),
    ]
    for owner, auth, status in refused:
        url = calendar_url(live_server, owner)
        listing = requests.request("PROPFIND", url, auth=auth, headers={"Depth": "1"}, timeout=10)
        written = requests.put(
            url + "x.ics", data=EVENT.format(uid="x", summary="X"), auth=auth, headers=ICS, timeout=10
        )
        whole = requests.get(url, auth=auth, timeout=10)
        assert (listing.status_code, written.status_code, whole.status_code) == (status,) * 3, auth[0]
    assert stored_hrefs(live_server, api_only) == []
    assert stored_hrefs(live_server, account) == []
    # The same user's live token (all scopes) logs in by slug or by email.
    for login in (account.slug, account.email.upper()):
        url = calendar_url(live_server, account)
        auth = (login, account.token)
        listing = requests.request("PROPFIND", url, auth=auth, headers={"Depth": "1"}, timeout=10)
        assert listing.status_code == 207


def test_other_users_calendar_is_not_readable(live_server: LiveServer, account: Account) -> None:
    put(live_server, account, "private.ics", EVENT.format(uid="private", summary="Secret meeting"))
    intruder = create_account(live_server.database_url)
    auth = (intruder.slug, intruder.token)
    url = calendar_url(live_server, account)
    for method, target in [("GET", url + "private.ics"), ("PROPFIND", url), ("REPORT", url), ("DELETE", url)]:
        response = requests.request(method, target, auth=auth, timeout=10)
        assert response.status_code in (403, 404), (method, response.status_code)
        assert "Secret meeting" not in response.text
    put_response = requests.put(
        url + "evil.ics", data=EVENT.format(uid="evil", summary="E"), auth=auth, headers=ICS, timeout=10
    )
    assert put_response.status_code in (403, 404)
    assert stored_hrefs(live_server, account) == ["private.ics"]


def test_unknown_paths_are_404(live_server: LiveServer, account: Account) -> None:
    auth = (account.slug, account.token)
    assert (
        requests.get(calendar_url(live_server, account) + "missing.ics", auth=auth, timeout=10).status_code
        == 404
    )
    assert requests.get(f"{live_server.url}/nope", timeout=10).status_code == 404
    missing_calendar = requests.request(
        "PROPFIND", f"{live_server.dav_url}{account.slug}/missing/", auth=auth, timeout=10
    )
    assert missing_calendar.status_code == 404


def test_malformed_xml_is_a_client_error(live_server: LiveServer, account: Account) -> None:
    auth = (account.slug, account.token)
    for method in ("PROPFIND", "REPORT", "PROPPATCH", "MKCALENDAR"):
        response = requests.request(
            method,
            calendar_url(live_server, account),
            data=b"<not-xml",
            auth=auth,
            headers={"Content-Type": "application/xml"},
            timeout=10,
        )
        assert 400 <= response.status_code < 500, (method, response.status_code)
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        b'<d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&b;</d:displayname></d:prop></d:propfind>'
    )
    response = requests.request(
        "PROPFIND",
        calendar_url(live_server, account),
        data=bomb,
        auth=auth,
        headers={"Content-Type": "application/xml"},
        timeout=10,
    )
    assert 400 <= response.status_code < 500


def test_requests_radicale_would_fail_on_are_client_errors(live_server: LiveServer, account: Account) -> None:
    url = calendar_url(live_server, account)
    for value in ("Basic !!!", "Basic eHl6"):  # not base64; base64 of "xyz", which has no colon
        response = requests.request("PROPFIND", url, headers={"Authorization": value}, timeout=10)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    put(live_server, account, "stay.ics", EVENT.format(uid="stay", summary="S"))
    moved = requests.request(
        "MOVE",
        url + "stay.ics",
        auth=(account.slug, account.token),
        headers={"Destination": "http://[::1"},
        timeout=10,
    )
    assert moved.status_code == 400
    free_busy = requests.request(
        "REPORT",
        url,
        data=b'<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"/>',
        auth=(account.slug, account.token),
        headers={"Content-Type": "application/xml", "Depth": "1"},
        timeout=10,
    )
    assert free_busy.status_code == 400 and "time-range" in free_busy.text
    assert stored_hrefs(live_server, account) == ["stay.ics"]


def test_an_every_second_series_is_stored_in_bounded_time(live_server: LiveServer, account: Account) -> None:
    # Indexing began with a week-long window: 604,800 instances of FREQ=SECONDLY, minutes of work
    # while the request waited (past this test's timeout). The index now stops at its cap, and an
    # unending every-second rule is refused (tests/test_request_bounds.py): this one has a COUNT.
    text = EVENT.format(uid="tick", summary="Tick").replace(
        "SUMMARY:Tick", "SUMMARY:Tick\r\nRRULE:FREQ=SECONDLY;COUNT=600"
    )
    assert put(live_server, account, "tick.ics", text).status_code == 201
    query = (
        '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{DAY}T100500Z" end="{DAY}T100501Z"/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>"
    )
    found = requests.request(
        "REPORT",
        calendar_url(live_server, account),
        data=query.encode(),
        auth=(account.slug, account.token),
        headers={"Content-Type": "application/xml", "Depth": "1"},
        timeout=30,
    )
    assert found.status_code == 207 and "tick.ics" in found.text


def test_get_whole_calendar_as_one_ics(live_server: LiveServer, account: Account) -> None:
    put(live_server, account, "w1.ics", EVENT.format(uid="w1", summary="First"))
    put(live_server, account, "w2.ics", EVENT.format(uid="w2", summary="Second"))
    response = requests.get(
        calendar_url(live_server, account), auth=(account.slug, account.token), timeout=10
    )
    assert response.status_code == 200
    assert response.text.count("BEGIN:VCALENDAR") == 1
    assert "SUMMARY:First" in response.text and "SUMMARY:Second" in response.text
    assert "X-WR-CALNAME" in response.text


def test_move_between_calendars(live_server: LiveServer, account: Account) -> None:
    auth = (account.slug, account.token)
    other = f"{live_server.dav_url}{account.slug}/other/"
    assert requests.request("MKCALENDAR", other, auth=auth, timeout=10).status_code == 201
    put(live_server, account, "m.ics", EVENT.format(uid="m", summary="Moving"))
    moved = requests.request(
        "MOVE",
        calendar_url(live_server, account) + "m.ics",
        auth=auth,
        headers={"Destination": other + "m.ics"},
        timeout=10,
    )
    assert moved.status_code in (201, 204)
    assert (
        requests.get(calendar_url(live_server, account) + "m.ics", auth=auth, timeout=10).status_code == 404
    )
    assert "SUMMARY:Moving" in requests.get(other + "m.ics", auth=auth, timeout=10).text


def test_address_book_stores_vcards(live_server: LiveServer, account: Account) -> None:
    auth = (account.slug, account.token)
    book = f"{live_server.dav_url}{account.slug}/contacts/"
    mkcol = (
        '<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:cr="urn:ietf:params:xml:ns:carddav">'
        "<d:set><d:prop>"
        "<d:resourcetype><d:collection/><cr:addressbook/></d:resourcetype><d:displayname>Contacts</d:displayname>"
        "</d:prop></d:set></d:mkcol>"
    )
    assert requests.request("MKCOL", book, data=mkcol, auth=auth, timeout=10).status_code == 201
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nEND:VCARD\r\n"
    created = requests.put(
        book + "ada.vcf", data=card, auth=auth, headers={"Content-Type": "text/vcard"}, timeout=10
    )
    assert created.status_code == 201
    got = requests.get(book + "ada.vcf", auth=auth, timeout=10)
    assert "FN:Ada Lovelace" in got.text
    listing = requests.request("PROPFIND", book, auth=auth, headers={"Depth": "1"}, timeout=10)
    assert "ada.vcf" in listing.text and "Contacts" in listing.text


def test_calendar_properties_roundtrip(live_server: LiveServer, account: Account) -> None:
    auth = (account.slug, account.token)
    url = calendar_url(live_server, account)
    proppatch = (
        '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/">'
        "<d:set><d:prop><d:displayname>Work</d:displayname><a:calendar-color>#FF0000FF</a:calendar-color>"
        "</d:prop></d:set></d:propertyupdate>"
    )
    assert requests.request("PROPPATCH", url, data=proppatch, auth=auth, timeout=10).status_code == 207
    propfind = (
        '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/" '
        'xmlns:cs="http://calendarserver.org/ns/" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        "<d:prop><d:displayname/>"
        "<a:calendar-color/><cs:getctag/><c:supported-calendar-component-set/></d:prop></d:propfind>"
    )
    before = requests.request(
        "PROPFIND", url, data=propfind, auth=auth, headers={"Depth": "0"}, timeout=10
    ).text
    assert "Work" in before and "#FF0000FF" in before and 'name="VEVENT"' in before
    put(live_server, account, "ctag.ics", EVENT.format(uid="ctag", summary="C"))
    after = requests.request(
        "PROPFIND", url, data=propfind, auth=auth, headers={"Depth": "0"}, timeout=10
    ).text
    ctag = lambda text: text.split("getctag>")[1]  # noqa: E731
    assert ctag(before) != ctag(after)
