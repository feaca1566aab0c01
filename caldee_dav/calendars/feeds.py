"""A calendar's published .ics feeds (full and busy-only), a per-process cache of rendered feeds, and
the per-token rate limit of every feed.

A feed is found by its calendar id and its token (``feed_tokens.calendar_for_feed``): a missing,
wrong or rotated token and an unknown calendar are all the same ``FeedNotFound``. Its version (ETag,
Last-Modified) comes from the calendar row alone (id, revision, ``updated_at``, variant, feed settings):
every write to a calendar's objects or properties bumps its revision and ``updated_at``, so a client
holding the current ETag is answered 304 without the feed being read or rendered, and the next
request after any change renders afresh.

Rendered feeds are kept per process, keyed by (calendar, variant) with the version they were made
for, in a least-recently-used cache bounded in bytes (the body and, once asked for, its gzip).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from isal import isal_zlib
from limits import RateLimitItemPerMinute
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from caldee_dav import store
from caldee_dav.calendars.accounts import hash_token
from caldee_dav.calendars.feed_tokens import FEED_TOKEN_PREFIX, calendar_for_feed
from caldee_dav.calendars.throttle import open_storage
from caldee_dav.config import Settings
from caldee_dav.errors import NotFound, TooManyRequests
from caldee_dav.ical import feed as ical_feed
from caldee_dav.models import Collection

log = logging.getLogger(__name__)

# Bumped when the rendering changes, so that clients holding an old ETag get the new text.
FEED_FORMAT = 1
# A feed token is "feed_" + 32 URL-safe characters; anything much longer is not one (and is not hashed).
MAX_TOKEN_LENGTH = 128
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# ISA-L level 1, as CalDAV answers (dav/fast/answer.py): several times faster than zlib's default.
GZIP_LEVEL = 1
NOT_FOUND_MESSAGE = "There is no feed at this address."


class Variant(StrEnum):
    FULL = "full"
    BUSY = "busy"
    BOOKINGS = "bookings"


class FeedNotFound(NotFound):
    """No feed at this address: one answer for every reason (unknown id, wrong or rotated token)."""

    def __init__(self) -> None:
        super().__init__(NOT_FOUND_MESSAGE)


@dataclass(frozen=True)
class FeedSettings:
    refresh_minutes: int
    requests_per_minute: int
    cache_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedSettings:
        return cls(
            settings.feed_refresh_minutes, settings.feed_requests_per_minute, settings.feed_cache_bytes
        )

    @property
    def max_age_seconds(self) -> int:
        return self.refresh_minutes * 60


def plausible_token(token: str | None) -> str | None:
    """``token`` when it may be a feed token (so it is worth hashing and counting), else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(FEED_TOKEN_PREFIX):
        return None
    return token


def plausible_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


# --- what a request names, before anything is rendered ------------------------------------------


@dataclass(frozen=True)
class FeedVersion:
    """What a conditional request is checked against: the ETag (weak: gzip and identity bodies share
    it) and when the feed last changed."""

    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class CalendarFeed:
    """A calendar feed a token opened, with its version; its objects not read yet."""

    collection_id: int
    calendar_id: str
    variant: Variant
    header: ical_feed.FeedHeader
    version: FeedVersion


def find_calendar_feed(
    session: Session,
    calendar_id: str,
    token: str | None,
    variant: Variant,
    settings: FeedSettings,
    now: datetime,
) -> CalendarFeed:
    """The feed ``token`` opens, or FeedNotFound (the same for every reason)."""
    token = plausible_token(token)
    if token is None or not plausible_id(calendar_id) or variant is Variant.BOOKINGS:
        raise FeedNotFound()
    calendar = calendar_for_feed(session, calendar_id, token, busy=variant is Variant.BUSY)
    if calendar is None:
        raise FeedNotFound()
    header = ical_feed.FeedHeader(
        name=calendar.display_name or calendar.slug,
        timezone=calendar.timezone or "UTC",
        description=calendar.description,
        refresh_minutes=settings.refresh_minutes,
        year=now.year,
    )
    return CalendarFeed(calendar.id, calendar.public_id, variant, header, _version(calendar, variant, header))


def _version(calendar: Collection, variant: Variant, header: ical_feed.FeedHeader) -> FeedVersion:
    # The calendar's revision and updated_at move with every change of its objects or properties; the
    # header carries the feed settings and the year (generated VTIMEZONEs reach 30 years past it).
    parts = (
        FEED_FORMAT,
        calendar.public_id,
        calendar.revision,
        calendar.updated_at.isoformat(),
        variant.value,
        repr(header),
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return FeedVersion(etag=digest, last_modified=calendar.updated_at)


# --- rendered feeds and their cache -------------------------------------------------------------


@dataclass
class RenderedFeed:
    body: bytes
    version: FeedVersion
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        """The body gzipped, made once (two threads racing may both make it: the same bytes)."""
        if self._gzipped is None:
            compressor = isal_zlib.compressobj(GZIP_LEVEL, wbits=16 + isal_zlib.MAX_WBITS)
            self._gzipped = compressor.compress(self.body) + compressor.flush()
        return self._gzipped

    @property
    def has_gzip(self) -> bool:
        return self._gzipped is not None

    @property
    def size(self) -> int:
        return len(self.body) + len(self._gzipped or b"")


class FeedCache:
    """Rendered feeds by (calendar id, variant), each with the version it was rendered for; least
    recently used ones go first once the bodies (and their gzip) pass ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, Variant], RenderedFeed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, calendar_id: str, variant: Variant, version: FeedVersion) -> RenderedFeed | None:
        key = (calendar_id, variant)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.version != version:
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, calendar_id: str, variant: Variant, feed: RenderedFeed) -> None:
        """Keep ``feed`` (replacing an older version); a feed larger than the whole cache is not kept."""
        key = (calendar_id, variant)
        with self._lock:
            self._entries.pop(key, None)
            if feed.size > self.max_bytes:
                return
            self._entries[key] = feed
            self._shrink()

    def account(self) -> None:
        """Re-check the bound after an entry grew (its gzip was made)."""
        with self._lock:
            self._shrink()

    def _shrink(self) -> None:
        total = sum(entry.size for entry in self._entries.values())
        while total > self.max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            total -= dropped.size

    @property
    def size(self) -> int:
        with self._lock:
            return sum(entry.size for entry in self._entries.values())


def feed_texts(session: Session, collection_id: int) -> list[bytes]:
    """The stored texts of a calendar's events (VTODO and VJOURNAL objects are not read)."""
    return [row.data for row in store.texts_of_component(session, collection_id, "VEVENT")]


def render_calendar_feed(feed: CalendarFeed, texts: list[bytes]) -> RenderedFeed:
    busy = ical_feed.BusyOnly(uid_salt=feed.calendar_id) if feed.variant is Variant.BUSY else None
    body, stats = ical_feed.render_feed_with_stats(feed.header, texts, busy)
    if stats.skipped:
        log.warning("feed of %s: %d unreadable objects left out", feed.calendar_id, stats.skipped)
    return RenderedFeed(body, feed.version)


def calendar_feed_body(session: Session, feed: CalendarFeed, cache: FeedCache) -> RenderedFeed:
    """The rendered feed: from the cache when it holds this version, else read, rendered and cached."""
    cached = cache.get(feed.calendar_id, feed.variant, feed.version)
    if cached is not None:
        return cached
    rendered = render_calendar_feed(feed, feed_texts(session, feed.collection_id))
    cache.put(feed.calendar_id, feed.variant, rendered)
    return rendered


# --- rate limit -----------------------------------------------------------------------------------

NAMESPACE = "caledee-feeds"


class FeedThrottle:
    """At most ``per_minute`` requests per feed token within any minute; 0: no limit. Counted by the
    token's SHA-256 (the storage, Redis included, never sees a token)."""

    def __init__(self, storage: Storage, per_minute: int) -> None:
        self.enabled = per_minute > 0
        self.item = RateLimitItemPerMinute(max(per_minute, 1), namespace=NAMESPACE)
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def for_settings(cls, settings: Settings) -> FeedThrottle:
        return cls(open_storage(settings.rate_limit_storage_url), settings.feed_requests_per_minute)

    def hit(self, token: str) -> None:
        """Count one request with ``token``; TooManyRequests past the limit."""
        if not self.enabled:
            return
        key = hash_token(token)
        try:
            if self._limiter.hit(self.item, key):
                return
            reset_at = self._limiter.get_window_stats(self.item, key).reset_time
        except Exception:  # noqa: BLE001 - a storage outage must not take every feed down
            log.warning("feed rate limit: storage unavailable, not counting", exc_info=True)
            return
        # The storage stamps hits with the wall clock (time.time), not caldee_dav.clock: a window of
        # seconds between requests, which the test clock (moved by days) must not stretch.
        wait = max(1, math.ceil(reset_at - time.time()))
        raise TooManyRequests(f"Too many requests for this feed; try again in {wait} s.", retry_after=wait)
