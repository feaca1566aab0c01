"""The store's lookups on the path of every mailed invitation (run by SQLite's driver itself on SQLite,
``db.PlainStatement``) find what SQLAlchemy's own statements find, on SQLite and PostgreSQL.

What a user would notice if they did not: an invitation applied to the wrong calendar or to none, an
update taken for a new event (a duplicate), a calendar's change missing from a CalDAV sync, a webhook
not told.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from caldee_dav import db, store
from caldee_dav.calendars import accounts, objects
from caldee_dav.models import CalendarObject, Collection, Webhook
from caldee_dav.scheduling import webhook_events
from caldee_dav.store.changes import changes_since
from tests.test_store_contract import event, prepared

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def owner_and_calendar(database_url: str) -> tuple[str, str]:
    slug = f"p{secrets.token_hex(4)}"
    with db.write_unit(db.engine_for(database_url)) as session:
        user = accounts.create_user(session, email=f"{slug}@example.com", slug=slug, timezone="Europe/Paris")
        calendar = accounts.create_calendar(session, user, name="Work", timezone="America/New_York")
        return user.id, calendar.public_id


def test_a_calendar_is_found_by_its_id_and_nothing_else_is(
    database_url: str, owner_and_calendar: tuple[str, str]
) -> None:
    owner_id, public_id = owner_and_calendar
    with db.read_unit(db.engine_for(database_url)) as session:
        calendar = session.scalars(select(Collection).where(Collection.public_id == public_id)).one()
        head = store.calendar_head_by_public_id(session, public_id)
        assert head == store.CalendarHead(calendar.id, "America/New_York", "Europe/Paris")
        assert store.calendar_head_by_inbound_token(session, calendar.inbound_token or "") == head
        assert store.calendar_head_by_id(session, calendar.id) == head
        assert store.calendar_head_by_id(session, -1) is None
        # The owner's principal collection has an id of the same form, and is no calendar: the
        # statement's own value (tag = 'VCALENDAR') is applied.
        principal = session.scalars(
            select(Collection).where(Collection.owner_id == owner_id, Collection.tag != "VCALENDAR")
        ).first()
        assert principal is not None
        assert store.calendar_head_by_public_id(session, principal.public_id) is None
        assert store.calendar_for_writing_by_public_id(session, principal.public_id) is None
        assert store.calendar_head_by_public_id(session, "cal_unknown") is None

        detached = store.calendar_for_writing_by_public_id(session, public_id)
        assert detached is not None
        for column in Collection.__table__.c:
            assert getattr(detached, column.name) == getattr(calendar, column.name), column.name
        assert isinstance(detached.created_at, datetime) and isinstance(detached.props, dict)


def _put_new(database_url: str, public_id: str, name: str) -> tuple[str, objects.WriteResult, int]:
    """A new event ``<name>@example.com`` at ``<name>.ics``: its text, the write, the revision."""
    text = event(f"{name}@example.com", f"DTSTART:20261103T100000Z\r\nSUMMARY:{name}\r\n")
    with db.write_unit(db.engine_for(database_url)) as session:
        calendar = store.calendar_for_writing_by_public_id(session, public_id)
        assert calendar is not None
        written = objects.put_object(session, calendar, f"{name}.ics", prepared(text))
        return text, written, calendar.revision


def test_an_object_is_found_by_its_uid_with_its_href_etag_and_text(
    database_url: str, owner_and_calendar: tuple[str, str]
) -> None:
    _, public_id = owner_and_calendar
    text, written, revision = _put_new(database_url, public_id, "plain-1")
    with db.read_unit(db.engine_for(database_url)) as session:
        calendar = store.calendar_for_writing_by_public_id(session, public_id)
        assert calendar is not None and calendar.revision == revision
        found = store.text_by_uid(session, calendar.id, "plain-1@example.com")
        assert found == store.ObjectText("plain-1.ics", written.obj.etag, text)
        assert store.texts_by_uids(session, calendar.id, ["plain-1@example.com", "other@example.com"]) == {
            "plain-1@example.com": found
        }
        assert store.text_by_uid(session, calendar.id, "other@example.com") is None
        heads = store.objects_at_href_or_uid(session, calendar.id, "elsewhere.ics", "plain-1@example.com")
        assert heads == (
            None,
            store.ObjectHead(written.obj.id, "plain-1.ics", "plain-1@example.com", found.etag),
        )
        # The change record (the driver's INSERT ... ON CONFLICT): a sync from before sees the object.
        assert changes_since(session, calendar, revision - 1) == ["plain-1.ics"]


def test_an_owner_s_active_webhooks_are_found_by_trigger(
    database_url: str, owner_and_calendar: tuple[str, str]
) -> None:
    owner_id, _ = owner_and_calendar
    with db.write_unit(db.engine_for(database_url)) as session:
        for ident, triggers, active in (
            ("wh_a", ["event.created", "invite.received"], True),
            ("wh_b", ["event.created"], True),
            ("wh_c", ["invite.received"], False),
        ):
            session.add(
                Webhook(
                    id=f"{ident}{secrets.token_hex(3)}",
                    owner_id=owner_id,
                    url="https://hooks.example.com/x",
                    triggers=triggers,
                    active=active,
                    secret="s" * 32,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    with db.read_unit(db.engine_for(database_url)) as session:
        received = webhook_events.subscribed_webhooks(session, owner_id, "invite.received")
        created = webhook_events.subscribed_webhooks(session, owner_id, "event.created")
    assert [ident[:4] for ident in received] == ["wh_a"]
    assert sorted(ident[:4] for ident in created) == ["wh_a", "wh_b"]


def test_times_and_json_written_by_the_driver_read_back_as_sqlalchemy_reads_them(
    database_url: str, owner_and_calendar: tuple[str, str]
) -> None:
    """The revision bump, the calendar's row and an object's row carry datetimes and JSON: written
    and read by the driver on SQLite, they must be what the ORM reads (aware UTC times, dictionaries),
    and compare in SQL with what SQLAlchemy writes. (The inbound log's row, written the same way, is
    paged by its time in tests/test_api_inbound.py.)"""
    _, public_id = owner_and_calendar
    _, written, _ = _put_new(database_url, public_id, "plain-2")
    with db.write_unit(db.engine_for(database_url)) as session:
        calendar = store.calendar_for_writing_by_public_id(session, public_id)
        assert calendar is not None
        revision = store.bump_revision(session, calendar)
        bumped_at = calendar.updated_at
    with db.read_unit(db.engine_for(database_url)) as session:
        row = session.scalars(select(Collection).where(Collection.public_id == public_id)).one()
        assert row.updated_at == bumped_at and bumped_at.tzinfo is not None
        assert row.revision == revision == calendar.revision
        stored = session.get(CalendarObject, written.obj.id)
        assert stored is not None and stored.last_modified == written.obj.last_modified
        assert stored.last_modified.tzinfo is not None and stored.recurring is False
        # A time compared in SQL with a parameter SQLAlchemy writes: the same text form.
        later = session.scalar(
            select(func.count())
            .select_from(CalendarObject)
            .where(CalendarObject.id == written.obj.id, CalendarObject.last_modified < stored.last_modified)
        )
        assert later == 0
    with db.write_unit(db.engine_for(database_url)) as session:
        locked = store.lock_collection_for_write(session, row.path)
        assert locked is not None
        assert locked.revision == row.revision + 1 and locked.updated_at >= row.updated_at
        assert isinstance(locked.props, dict) and locked.created_at == row.created_at
