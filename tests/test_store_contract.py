"""The store contract, run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from caldee_dav import db, ical, store
from caldee_dav.calendars import accounts, objects
from caldee_dav.calendars.objects import Preconditions, PreparedObject
from caldee_dav.dav.sync_tokens import parse_sync_token, sync_token
from caldee_dav.errors import NotFound, PreconditionFailed
from caldee_dav.models import Collection

HORIZON = int(datetime(2029, 1, 1, tzinfo=UTC).timestamp())


def event(uid: str, body: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def ts(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())


@pytest.fixture
def calendar_path(database_url: str) -> str:
    slug = f"s{secrets.token_hex(4)}"
    with db.write_unit(db.engine_for(database_url)) as session:
        user = accounts.create_user(session, email=f"{slug}@example.com", slug=slug)
        return accounts.create_calendar(session, user, name="Cal").path


def prepared(text: str) -> PreparedObject:
    """The object indexed up to a fixed horizon: these tests' dates do not move with the clock."""
    index = ical.index_object(ical.parse_calendar(text), horizon_end=HORIZON, max_instances=500)
    return PreparedObject(text, ical.etag_of(text), index)


def put(database_url: str, path: str, href: str, text: str, **conditions: object) -> str:
    with db.write_unit(db.engine_for(database_url)) as session:
        collection = store.require_collection(session, path)
        written = objects.put_object(session, collection, href, prepared(text), Preconditions(**conditions))  # type: ignore[arg-type]
        return written.obj.etag


def in_range(database_url: str, path: str, start: int, end: int) -> dict[str, bool]:
    with db.read_unit(db.engine_for(database_url)) as session:
        collection = store.require_collection(session, path)
        return {c.obj.href: c.exact for c in store.find_in_range(session, collection, start, end, "VEVENT")}


def collection(database_url: str, path: str) -> Collection:
    with db.read_unit(db.engine_for(database_url)) as session:
        return store.require_collection(session, path)


def test_put_replace_and_preconditions(database_url: str, calendar_path: str) -> None:
    text = event("a", "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n")
    etag = put(database_url, calendar_path, "a.ics", text, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        put(database_url, calendar_path, "a.ics", text, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        put(database_url, calendar_path, "a.ics", text.replace("a\r\n", "a\r\n"), if_match='"stale"')
    changed = text.replace("DTEND:20270301T110000Z", "DTEND:20270301T120000Z")
    new_etag = put(database_url, calendar_path, "a.ics", changed, if_match=etag)
    assert new_etag != etag
    # The index follows the replacement: the old hour is still covered, 11:30 now too.
    assert "a.ics" in in_range(database_url, calendar_path, ts(2027, 3, 1, 11, 30), ts(2027, 3, 1, 11, 45))


def test_failed_write_leaves_nothing_behind(database_url: str, calendar_path: str) -> None:
    before = collection(database_url, calendar_path).revision
    text = event("b", "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n")
    with pytest.raises(RuntimeError), db.write_unit(db.engine_for(database_url)) as session:
        row = store.require_collection(session, calendar_path)
        objects.put_object(session, row, "b.ics", prepared(text))
        raise RuntimeError("crash after the write, before commit")
    assert collection(database_url, calendar_path).revision == before
    assert in_range(database_url, calendar_path, ts(2027, 1, 1), ts(2028, 1, 1)) == {}


@pytest.mark.parametrize(
    ("name", "body", "window", "expected"),
    [
        (
            "plain inside",
            "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n",
            ((2027, 3, 1), (2027, 3, 2)),
            True,
        ),
        (
            "plain before",
            "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n",
            ((2027, 3, 2), (2027, 3, 3)),
            False,
        ),
        (
            "end is exclusive",
            "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n",
            ((2027, 3, 1, 11), (2027, 3, 1, 12)),
            False,
        ),
        (
            "all-day",
            "DTSTART;VALUE=DATE:20270305\r\nDTEND;VALUE=DATE:20270306\r\n",
            ((2027, 3, 5, 12), (2027, 3, 5, 13)),
            True,
        ),
        (
            "weekly, excluded week",
            "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n"
            "EXDATE:20270111T090000Z\r\n",
            ((2027, 1, 10), (2027, 1, 17)),
            False,
        ),
        (
            "weekly, later week",
            "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n"
            "EXDATE:20270111T090000Z\r\n",
            ((2027, 1, 17), (2027, 1, 24)),
            True,
        ),
        (
            "weekly, after the last",
            "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n",
            ((2027, 3, 20), (2027, 3, 27)),
            False,
        ),
        (
            "unbounded, within horizon",
            "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY\r\n",
            ((2028, 6, 1), (2028, 6, 8)),
            True,
        ),
        (
            "long event started earlier",
            "DTSTART:20270201T000000Z\r\nDTEND:20270301T000000Z\r\n",
            ((2027, 2, 20), (2027, 2, 21)),
            True,
        ),
    ],
)
def test_time_range_index(
    database_url: str,
    calendar_path: str,
    name: str,
    body: str,
    window: tuple[tuple[int, ...], tuple[int, ...]],
    expected: bool,
) -> None:
    put(database_url, calendar_path, "x.ics", event("x", body))
    found = in_range(database_url, calendar_path, ts(*window[0]), ts(*window[1]))
    assert ("x.ics" in found) is expected, name
    if expected:
        assert found["x.ics"] is True, "answered from the index, without parsing"


def test_moved_instance_is_found_at_its_new_time(database_url: str, calendar_path: str) -> None:
    text = event(
        "r", "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
    ).replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:20270111T090000Z\r\n"
        "DTSTART:20270113T150000Z\r\nDTEND:20270113T160000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )
    put(database_url, calendar_path, "r.ics", text)
    assert in_range(database_url, calendar_path, ts(2027, 1, 11), ts(2027, 1, 12)) == {}
    assert "r.ics" in in_range(database_url, calendar_path, ts(2027, 1, 13, 15), ts(2027, 1, 13, 16))


def test_beyond_the_horizon_needs_parsing(database_url: str, calendar_path: str) -> None:
    put(
        database_url,
        calendar_path,
        "u.ics",
        event("u", "DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY\r\n"),
    )
    found = in_range(database_url, calendar_path, ts(2030, 6, 1), ts(2030, 6, 8))
    assert found == {"u.ics": False}


def test_changes_since_lists_each_href_once_with_tombstones(database_url: str, calendar_path: str) -> None:
    start = collection(database_url, calendar_path)
    text = event("c", "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n")
    put(database_url, calendar_path, "c.ics", text)
    put(database_url, calendar_path, "c.ics", text.replace("110000", "113000"))
    put(database_url, calendar_path, "d.ics", event("d", "DTSTART:20270301T100000Z\r\n"))
    with db.write_unit(db.engine_for(database_url)) as session:
        objects.delete_object(session, store.require_collection(session, calendar_path), "d.ics")
    with db.read_unit(db.engine_for(database_url)) as session:
        row = store.require_collection(session, calendar_path)
        assert sorted(store.changes_since(session, row, start.revision)) == ["c.ics", "d.ics"]
        assert store.changes_since(session, row, row.revision) == []
        with pytest.raises(ValueError):
            parse_sync_token(row, sync_token(row).replace(f"-{row.revision}", f"-{row.revision + 5}"))
        with pytest.raises(ValueError):
            parse_sync_token(row, "http://example.com/other")
        with pytest.raises(NotFound):
            objects.delete_object(session, row, "d.ics")


def test_one_transaction_is_one_revision(database_url: str, calendar_path: str) -> None:
    before = collection(database_url, calendar_path).revision
    with db.write_unit(db.engine_for(database_url)) as session:
        row = store.require_collection(session, calendar_path)
        for name in ("bulk1", "bulk2", "bulk3"):
            text = event(name, "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\n")
            objects.put_object(session, row, f"{name}.ics", prepared(text))
    after = collection(database_url, calendar_path)
    assert after.revision == before + 1
    with db.read_unit(db.engine_for(database_url)) as session:
        assert sorted(store.changes_since(session, after, before)) == ["bulk1.ics", "bulk2.ics", "bulk3.ics"]
        assert store.changes_since(session, after, after.revision) == []
