"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert

from caldee_dav import db
from caldee_dav.models import Base, Booking, EventType, User
from caldee_dav.scheduling import busy
from caldee_dav.schema import alembic_config, migrate


def test_migrations_match_the_models(database_url: str) -> None:
    engine = db.engine_for(database_url)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_gives_existing_bookings_their_hosts(empty_database_url: str) -> None:
    # Bookings made before migration 0004 must block every host's time after it, collective ones too.
    engine = db.engine_for(empty_database_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    start = datetime(2027, 3, 1, 9, tzinfo=UTC)
    with db.write_unit(engine) as session:
        # Only the columns of revision 0003 (the model has more since): core inserts name just these.
        ann, bob, cy = (
            session.execute(
                insert(User)
                .values(id=f"usr_{s}", email=f"{s}@example.com", slug=s, timezone="UTC", created_at=start)
                .returning(User.id, User.slug)
            ).one()
            for s in ("ann", "bob", "cy")
        )
        event_type_id = session.execute(
            insert(EventType).values(user_id=ann.id, name="Team", slug="team").returning(EventType.id)
        ).scalar_one()
        for hour, host_ids in ((0, [ann.id, bob.id]), (2, [cy.id])):
            session.execute(
                insert(Booking).values(
                    owner_id=ann.id,
                    event_type_id=event_type_id,
                    host_user_id=host_ids[0],
                    host_ids=host_ids,
                    start_at=start + timedelta(hours=hour),
                    end_at=start + timedelta(hours=hour, minutes=30),
                    duration_min=30,
                    invitee_name="Ada",
                    invitee_email="ada@example.com",
                    invitee_timezone="UTC",
                    ical_uid=f"b{hour}@test",
                )
            )
        ids = {user.slug: user.id for user in (ann, bob, cy)}
    migrate(engine)
    with db.read_unit(engine) as session:
        day = (start, start + timedelta(days=1))
        booked = {
            slug: [b.start_at for b in busy.host_bookings(session, ids[slug], *day).bookings] for slug in ids
        }
    assert booked == {"ann": [start], "bob": [start], "cy": [start + timedelta(hours=2)]}
