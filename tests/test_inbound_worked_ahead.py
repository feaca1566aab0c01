"""A change worked out before its write transaction (``inbound_mail.work_ahead``: on SQLite the pipeline
parses, merges and indexes an update outside the database's one write lock) is used only when the
transaction finds the calendar as it was read. Overtaken by another write meanwhile, it is worked out
again against what is stored, so nothing written in between is lost.

On both databases: the domain functions, in this process, against a real migrated store."""

from __future__ import annotations

import secrets
import uuid

import icalendar
import pytest

from caldee_dav import clock, db, store
from caldee_dav.calendars import accounts
from caldee_dav.config import load_settings
from caldee_dav.scheduling import inbound_mail
from inbound import pipeline
from inbound.reader import read_mail
from tests import imip_fixtures


@pytest.fixture()
def calendar_address(database_url: str) -> str:
    with db.write_unit(db.engine_for(database_url)) as session:
        slug = f"owner-{uuid.uuid4().hex[:8]}"
        user = accounts.create_user(
            session,
            email=f"{slug}@example.com",
            slug=slug,
            password=secrets.token_urlsafe(12),
            timezone="UTC",
        )
        return accounts.inbound_address(
            accounts.create_calendar(session, user, name="Mail", slug="mail"), "localhost"
        )


def _mail(name: str, address: str, uid: str) -> inbound_mail.ReceivedMail:
    raw = imip_fixtures.render(name, to=address, base_day=imip_fixtures.base_day(), uid=uid)
    return read_mail(raw, via="smtp")


def _stored(database_url: str, address: str, uid: str) -> icalendar.Calendar:
    with db.read_unit(db.engine_for(database_url)) as session:
        calendar = inbound_mail.calendar_for_address(session, address, "localhost")
        assert calendar is not None
        obj = store.object_by_uid(session, calendar.id, uid)
        assert obj is not None
        return icalendar.Calendar.from_ical(obj.text)


def _statuses(calendar: icalendar.Calendar) -> set[str]:
    return {str(c.get("STATUS")) for c in calendar.walk("VEVENT")}


@pytest.mark.parametrize("overtaken", [False, True])
def test_an_update_worked_out_ahead_is_redone_when_the_event_changed_meanwhile(
    database_url: str, calendar_address: str, overtaken: bool
) -> None:
    engine = db.engine_for(database_url)
    settings = load_settings(environ={"CALEDEE_DATABASE_URL": database_url, "CALEDEE_CONFIG": "/nonexistent"})
    uid = f"{uuid.uuid4().hex}@google.com"
    (created,) = pipeline.deliver_to_addresses(
        engine, settings, _mail("google_series", calendar_address, uid), [calendar_address]
    )
    assert created.logged is not None and created.logged.row.outcome == "created"

    # The organizer's update (SEQUENCE 1), worked out against the series as stored now ...
    update = _mail("google_series_update", calendar_address, uid)
    read = inbound_mail.read_calendars(update, settings, clock.now())
    with db.read_unit(engine) as session:
        head = inbound_mail.calendar_head_for_address(session, calendar_address, "localhost")
        assert head is not None
        worked = inbound_mail.work_ahead(session, settings, head, update, read, clock.now())
    assert worked[0].ahead[uid].applied is not None and worked[0].ahead[uid].applied.outcome == "updated"

    if overtaken:  # ... then the organizer cancels the series (SEQUENCE 2) before the update is written
        cancel = _mail("google_series_cancel", calendar_address, uid)
        (cancelled,) = pipeline.deliver_to_addresses(engine, settings, cancel, [calendar_address])
        assert cancelled.logged is not None and cancelled.logged.row.outcome == "cancelled"

    with db.write_unit(engine) as session:
        calendar = inbound_mail.calendar_for_address(session, calendar_address, "localhost")
        assert calendar is not None
        logged = inbound_mail.receive(session, settings, calendar, update, clock.now(), worked)

    stored = _stored(database_url, calendar_address, uid)
    if overtaken:
        # Against the cancelled series the update is stale: the cancellation stays.
        assert logged.row.outcome == "ignored", logged.row.reason
        assert "SEQUENCE" in (logged.row.reason or "")
        assert _statuses(stored) == {"CANCELLED"}
    else:
        assert logged.row.outcome == "updated"
        assert _statuses(stored) == {"CONFIRMED"}
        assert {int(c.get("SEQUENCE", 0)) for c in stored.walk("VEVENT")} == {1}
