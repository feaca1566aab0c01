"""SQLAlchemy 2 typed models: the one schema every edge shares.

Times are stored in UTC: ``DateTime(timezone=True)`` columns hold aware datetimes, and the
calendar-object index uses POSIX seconds (``BigInteger``) because Radicale's filters speak them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from caldee_dav import clock


def new_id(prefix: str) -> str:
    """A short unguessable identifier such as ``bkg_3f9c2a1d7e0b4c55``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def new_inbound_token() -> str:
    return "inb_" + secrets.token_urlsafe(24)


def event_id_for(uid: str) -> str:
    """The REST id of the calendar object with ``uid``: derived from the UID, so it survives a client
    deleting and re-creating the event, and is the same whoever wrote it (REST, CalDAV, mail).
    ``ev_``, not ``evt_``: event types have that."""
    return "ev_" + hashlib.sha256(uid.encode()).hexdigest()[:20]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("usr"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of the token of the user's feed of bookings; None: no feed until one is made.
    bookings_feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    """A personal access token. Only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tok"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    user: Mapped[User] = relationship(back_populates="tokens")


class Collection(Base):
    """A WebDAV collection: a principal, a calendar (tag VCALENDAR), an address book or a plain folder.

    ``revision`` grows by one per committed change and is the sync token; bumping it takes the row
    lock that serializes writers of one collection on PostgreSQL.
    """

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The id REST clients use (``cal_3f9c2a1d7e0b4c55``); a calendar's inbound address is
    # ``cal-3f9c2a1d7e0b4c55@<mail domain>``.
    public_id: Mapped[str] = mapped_column(String(40), unique=True, index=True, default=lambda: new_id("cal"))
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(16), default="")
    slug: Mapped[str] = mapped_column(String(255), default="")
    display_name: Mapped[str | None] = mapped_column(String(255))
    color: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    props: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # SHA-256 of the secret tokens of the full and the busy-only .ics feed; None: no feed until the
    # owner makes one (calendars made over CalDAV start without).
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    busy_feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # The token of the calendar's inbound URL (POST /inbound/{token}). Kept as is, not hashed: the
    # URL is shown on every read of the calendar, like its inbound email address, and lets one do only
    # what that public address lets anyone do (deliver an invitation). Rotatable.
    inbound_token: Mapped[str | None] = mapped_column(
        String(64), unique=True, index=True, default=lambda: new_inbound_token()
    )
    # Who may create events by mailing the calendar: addresses (``ann@example.com``) and domains
    # (``example.com``, ``@example.com``). None: anyone. Changes to existing events are decided by
    # the event's ORGANIZER / ATTENDEEs, not by this list.
    inbound_allowed_senders: Mapped[list[Any] | None] = mapped_column(JSON)
    # Longest single occurrence indexed here, in seconds: bounds the occurrence-index scan.
    max_span: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class CalendarObject(Base):
    """One calendar object resource (all components sharing a UID) or one vCard, as text."""

    __tablename__ = "calendar_objects"
    __table_args__ = (
        UniqueConstraint("collection_id", "href", name="uq_object_href"),
        Index("ix_object_uid", "collection_id", "uid"),
        Index("ix_object_event_id", "collection_id", "event_id"),
        Index("ix_object_expanded_until", "collection_id", "expanded_until"),
        # Covers a calendar's listing (PROPFIND Depth 1): href and ETag without touching the rows'
        # text, which fills most of a page per object.
        Index("ix_object_listing", "collection_id", "href", "etag", "component"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    href: Mapped[str] = mapped_column(String(255))
    uid: Mapped[str] = mapped_column(String(512), default="")
    # The REST id, ``event_id_for(uid)``.
    event_id: Mapped[str] = mapped_column(String(40), default="")
    component: Mapped[str] = mapped_column(String(16), default="")
    etag: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, default=0)
    # Earliest start and latest end over all instances, POSIX seconds; open-ended RRULEs end at MAX.
    range_start: Mapped[int] = mapped_column(BigInteger)
    range_end: Mapped[int] = mapped_column(BigInteger)
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    # Instances starting before this are all in ``occurrences``; later ones must be computed.
    expanded_until: Mapped[int] = mapped_column(BigInteger)
    last_modified: Mapped[datetime] = mapped_column(default=clock.now)


class DavFile(Base):
    """A plain WebDAV file (any bytes) in a plain collection (a folder: a ``Collection`` with no tag)
    under its owner's principal. Calendars and address books keep their items in ``calendar_objects``.

    ``properties``: the dead properties a client set, by Clark name, each as the XML of its element.
    """

    __tablename__ = "dav_files"
    __table_args__ = (UniqueConstraint("collection_id", "name", name="uq_dav_file_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    etag: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(Integer, default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    modified_at: Mapped[datetime] = mapped_column(default=clock.now)


class Occurrence(Base):
    """One instance of a VEVENT (a single event has one), for index-only time-range answers."""

    __tablename__ = "occurrences"
    __table_args__ = (Index("ix_occurrence_window", "collection_id", "start", "end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("calendar_objects.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)
    # Busy-time facts for the slot engine, so it needs no parsing for plain events.
    transparent: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Change(Base):
    """The latest change of each href of a collection (a tombstone when deleted), for sync-collection."""

    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("collection_id", "href", name="uq_change_href"),
        Index("ix_change_revision", "collection_id", "revision"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    href: Mapped[str] = mapped_column(String(255))
    revision: Mapped[int] = mapped_column(BigInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


# --- Scheduling ---------------------------------------------------------------------------------


class Schedule(Base):
    """Weekly availability rules and date overrides in one IANA time zone."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("sch"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"day": "mon", "start": "09:00", "end": "12:00"}, ...]
    weekly_rules: Mapped[list[Any]] = mapped_column(default=list)
    # [{"date": "2026-12-25", "intervals": []}, ...]; empty intervals means closed that day.
    date_overrides: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Team(Base):
    """A group of users who host event types together. Its members consented: see ``TeamMembership``."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("team"))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class TeamMembership(Base):
    """A user in a team: invited (``accepted`` false) until the user accepts. Only accepted members may
    host the team's event types, so nobody's busy time is read without their consent."""

    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_team_membership"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mbr"))
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # owner | admin | member
    role: Mapped[str] = mapped_column(String(16), default="member")
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    invited_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class EventType(Base):
    __tablename__ = "event_types"
    __table_args__ = (UniqueConstraint("user_id", "slug", name="uq_event_type_slug"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("evt"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="one_on_one")
    description: Mapped[str | None] = mapped_column(Text)
    durations_min: Mapped[list[Any]] = mapped_column(default=list)
    buffer_before_min: Mapped[int] = mapped_column(Integer, default=0)
    buffer_after_min: Mapped[int] = mapped_column(Integer, default=0)
    minimum_notice_min: Mapped[int] = mapped_column(Integer, default=0)
    booking_window_days: Mapped[int | None] = mapped_column(Integer)
    max_bookings_per_day: Mapped[int | None] = mapped_column(Integer)
    slot_interval_min: Mapped[int | None] = mapped_column(Integer)
    color: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    organization_id: Mapped[str | None] = mapped_column(String(40))
    # The team owning this event type (its hosts are accepted members of it); ``user_id`` stays its
    # creator. A team with event types cannot be deleted (no ondelete: the database refuses too).
    team_id: Mapped[str | None] = mapped_column(
        ForeignKey("teams.id", name="fk_event_types_team_id"), index=True
    )
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requires_confirmation: Mapped[bool] = mapped_column(Boolean, default=False)
    questions: Mapped[list[Any]] = mapped_column(default=list)
    # Minutes before a booking's start at which its invitee and guests get a reminder mail; None: the
    # default (``mail_out.DEFAULT_REMINDER_MINUTES``), [] none.
    reminder_minutes: Mapped[list[Any] | None] = mapped_column(JSON)
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    booking_collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL")
    )
    busy_collection_ids: Mapped[list[Any]] = mapped_column(default=list)
    # User ids of the hosts for round_robin and collective kinds; the owner for one_on_one.
    host_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_booking_host_start", "host_user_id", "start_at"),
        Index("ix_booking_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("bkg"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type_id: Mapped[str] = mapped_column(ForeignKey("event_types.id", ondelete="CASCADE"), index=True)
    host_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Every host for collective bookings (includes host_user_id).
    host_ids: Mapped[list[Any]] = mapped_column(default=list)
    start_at: Mapped[datetime] = mapped_column()
    end_at: Mapped[datetime] = mapped_column()
    duration_min: Mapped[int] = mapped_column(Integer)
    # active | pending (awaiting confirmation) | canceled | declined
    status: Mapped[str] = mapped_column(String(16), default="active")
    invitee_name: Mapped[str] = mapped_column(String(200))
    invitee_email: Mapped[str] = mapped_column(String(320), index=True)
    invitee_timezone: Mapped[str] = mapped_column(String(64))
    guests: Mapped[list[Any]] = mapped_column(default=list)
    answers: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    collection_id: Mapped[int | None] = mapped_column(ForeignKey("collections.id", ondelete="SET NULL"))
    object_href: Mapped[str | None] = mapped_column(String(255))
    ical_uid: Mapped[str] = mapped_column(String(255))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    no_show: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    canceled_by: Mapped[str | None] = mapped_column(String(320))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    # What invitees and guests answered by iMIP REPLY: lower-cased email -> PARTSTAT (ACCEPTED,
    # DECLINED, TENTATIVE); the booking's VEVENT shows it on their ATTENDEE lines.
    attendee_partstats: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # SHA-256 of the invitee's manage-link token (/booking/{id}?token=...); shown once, in the link.
    manage_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    hosts: Mapped[list[BookingHost]] = relationship(cascade="all, delete-orphan")


# A user's contacts merge bookings by lower-cased invitee email (caldee_dav/scheduling/contacts.py):
# one contact's bookings are one index range, and the expression must be written the same way there.
Index("ix_booking_owner_email_key", Booking.owner_id, func.lower(Booking.invitee_email))


class BookingHost(Base):
    """One host of a booking (every host of a collective one), with its start: a host's bookings in a
    window are one index range, where searching ``host_ids`` (JSON) scanned every user's bookings."""

    __tablename__ = "booking_hosts"
    __table_args__ = (Index("ix_booking_hosts_user_start", "user_id", "start_at"),)

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    start_at: Mapped[datetime] = mapped_column()


class IdempotencyKey(Base):
    """The first answer to a request carrying an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key", name="uq_idempotency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Lead(Base):
    """Someone who gave their details on an event type's booking page (or the public leads endpoint)
    but has not booked yet: one per event type and email (``email_key``, the address lower-cased, so
    that contacts merge across case). ``booking_id`` and ``completed_at`` are set when that email
    books that event type."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("event_type_id", "email_key", name="uq_lead_event_type_email"),
        Index("ix_lead_owner_created", "owner_id", "created_at", "id"),
        Index("ix_lead_owner_email", "owner_id", "email_key"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("lead"))
    # The event type's owner: whose leads these are.
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_type_id: Mapped[str] = mapped_column(ForeignKey("event_types.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64))
    answers: Mapped[list[Any]] = mapped_column(default=list)
    # new | contacted | qualified | lost
    status: Mapped[str] = mapped_column(String(16), default="new")
    booking_id: Mapped[str | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class ContactSummary(Base):
    """One person a user has met, merged by lower-cased email across their bookings (as owner) and
    leads: kept by database triggers (migration 0009), never written by the application. Read by
    ``caldee_dav/scheduling/contacts.py``, which documents what the columns mean.

    No foreign key to users: a user's deletion removes their bookings and leads one by one, and each
    recomputation may briefly write a summary of the user already gone (the last removes it)."""

    __tablename__ = "contact_summaries"
    # A page is a backward range of it (latest activity first, ties by email key), and a filtered
    # count reads it alone: it holds what the filters look at (kind: bookings; q: the two keys).
    __table_args__ = (
        Index(
            "ix_contact_owner_activity", "owner_id", "last_activity_at", "email_key", "bookings", "name_key"
        ),
    )

    owner_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    # The spelling of the most recent booking or lead; the most recent name given.
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # The name lower-cased: what a search looks in, with email_key.
    name_key: Mapped[str | None] = mapped_column(String(200))
    bookings: Mapped[int] = mapped_column(Integer)
    meetings: Mapped[int] = mapped_column(Integer)
    no_shows: Mapped[int] = mapped_column(Integer)
    lead_status: Mapped[str | None] = mapped_column(String(16))
    last_activity_at: Mapped[datetime] = mapped_column()
    first_seen_at: Mapped[datetime] = mapped_column()


class InboundMessage(Base):
    """One mail message received for a calendar (over SMTP or POST /inbound/{token}) and what was done
    with it: the calendar's inbound audit log. ``message_key`` (SHA-256 of the Message-ID, or of the
    message when it has none) makes a re-delivery find the first delivery's row and change nothing.

    ``outcome``: created | updated | cancelled | replied | ignored | rejected; ``actions`` holds one
    ``{uid, recurrenceId, outcome, reason}`` per calendar component the message carried."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("collection_id", "message_key", name="uq_inbound_message_key"),
        Index("ix_inbound_message_collection_received", "collection_id", "received_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("inm"))
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    message_key: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(998))
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    # smtp | http
    via: Mapped[str] = mapped_column(String(8))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(998))
    method: Mapped[str | None] = mapped_column(String(16))
    uids: Mapped[list[Any]] = mapped_column(default=list)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[list[Any]] = mapped_column(default=list)


class OutboundMail(Base):
    """A mail message waiting to go out (invitations, updates and cancellations of bookings, replies),
    written in the transaction of the change it tells about and sent after it commits: a rolled-back
    change sends nothing, a crash after the commit loses nothing.

    ``status``: pending | sent | failed (gave up after the retry period); ``message`` is the whole
    RFC 5322 message as sent."""

    __tablename__ = "outbound_mail"
    __table_args__ = (
        Index("ix_outbound_mail_due", "status", "next_attempt_at"),
        Index("ix_outbound_mail_booking", "booking_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mail"))
    # invitation | update | cancellation | reply | reminder
    kind: Mapped[str] = mapped_column(String(16))
    booking_id: Mapped[str | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(String(998))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column()


class Webhook(Base):
    """An owner's subscription: signed JSON POSTs to ``url`` for the event types in ``triggers``.

    ``secret`` (``whsec_`` + base64 of 24 random bytes, Standard Webhooks style) is kept as it is: a
    signature needs it. For a day after a rotation deliveries are signed with ``previous_secret`` too.
    ``failing_since``: the first failure since the last success; past the disabling period the webhook
    is made inactive and ``disabled_reason`` says why."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_owner_active", "owner_id", "active"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("wh"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    triggers: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column()
    failing_since: Mapped[datetime | None] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


class WebhookEvent(Base):
    """One thing that happened, as every subscribed webhook receives it: ``payload`` is the whole body
    (``{id, type, createdAt, data}``), ``id`` its ``webhook-id``. Written in the transaction of the change.
    ``dedupe_key`` (unique) makes a second emit of the same time-based event by another process a no-op."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("msg"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    resource_key: Mapped[str] = mapped_column(String(400))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class WebhookDelivery(Base):
    """One event to one webhook. ``status``: pending | succeeded | failed (no retry, or gave up).
    ``next_attempt_at`` is also the lease of a claimed delivery."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
        Index("ix_webhook_deliveries_resource", "webhook_id", "resource_key", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("whd"))
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    resource_key: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class BookingReminderSent(Base):
    """A reminder mail queued for a booking ``minutes_before`` its start at ``start_at``: at most once,
    whichever process found it due first (the primary key); a rescheduled booking is reminded again."""

    __tablename__ = "booking_reminders_sent"

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    minutes_before: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_at: Mapped[datetime] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
