"""The .ics feeds, at the root (not under /api/v2): a calendar's full and busy-only feed, and a
user's bookings. The token in the query string is the only credential: every way of not finding a feed
(unknown id, wrong, missing or rotated token) is the same 404, and each token may make
``feed_requests_per_minute`` requests a minute (429 with Retry-After beyond).

Answers carry an ETag and Last-Modified (a matching If-None-Match, or an If-Modified-Since not older
than the feed, is a 304, for calendar feeds before anything is rendered), are gzipped when the client
accepts it, and may be kept by the client for ``feed_refresh_minutes``.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from flask.sansio.blueprints import BlueprintSetupState

from api.context import EXTENSION, caledee, read_unit
from caldee_dav.calendars import feeds
from caldee_dav.calendars.feeds import (
    FeedCache,
    FeedSettings,
    FeedThrottle,
    FeedVersion,
    RenderedFeed,
    Variant,
)
from caldee_dav.scheduling import bookings_feed

bp = Blueprint("feeds", __name__)
FEEDS = "caledee.feeds"
CONTENT_TYPE = "text/calendar; charset=utf-8"


class Feeds:
    """This process's feed settings, rendered-feed cache and rate limit."""

    def __init__(self, settings: FeedSettings, throttle: FeedThrottle) -> None:
        self.settings = settings
        self.cache = FeedCache(settings.cache_bytes)
        self.throttle = throttle


@bp.record_once
def _install(state: BlueprintSetupState) -> None:
    settings = state.app.extensions[EXTENSION].settings
    state.app.extensions[FEEDS] = Feeds(
        FeedSettings.from_settings(settings), FeedThrottle.for_settings(settings)
    )


def _feeds() -> Feeds:
    return current_app.extensions[FEEDS]


@bp.get("/feeds/<calendar_id>.ics")
def calendar_feed(calendar_id: str) -> Response:
    return _calendar_feed(calendar_id, Variant.FULL)


@bp.get("/feeds/<calendar_id>/busy.ics")
def busy_feed(calendar_id: str) -> Response:
    return _calendar_feed(calendar_id, Variant.BUSY)


@bp.get("/feeds/bookings/<user_id>.ics")
def user_bookings_feed(user_id: str) -> Response:
    service = _feeds()
    token = _counted_token(service)
    with read_unit() as session:
        rendered = bookings_feed.bookings_feed(session, user_id, token, service.settings, caledee().now())
    if _not_modified(rendered.version):
        return _not_modified_response(rendered.version, service.settings)
    return _feed_response(rendered, service.settings)


def _calendar_feed(calendar_id: str, variant: Variant) -> Response:
    service = _feeds()
    token = _counted_token(service)
    with read_unit() as session:
        found = feeds.find_calendar_feed(
            session, calendar_id, token, variant, service.settings, caledee().now()
        )
        if _not_modified(found.version):
            return _not_modified_response(found.version, service.settings)
        rendered = feeds.calendar_feed_body(session, found, service.cache)
    return _feed_response(rendered, service.settings, service.cache)


def _counted_token(service: Feeds) -> str | None:
    """The request's token, counted against its rate limit when it may be a feed token (one that
    cannot be is a 404 without a lookup, and is not worth a counter)."""
    token = feeds.plausible_token(request.args.get("token"))
    if token is not None:
        service.throttle.hit(token)
    return token


def _not_modified(version: FeedVersion) -> bool:
    """RFC 9110 13.1.2-3: If-None-Match when sent (weak comparison), else If-Modified-Since."""
    if "If-None-Match" in request.headers:
        return request.if_none_match.contains_weak(version.etag)
    since = request.if_modified_since
    return since is not None and int(version.last_modified.timestamp()) <= since.timestamp()


def _headers(response: Response, version: FeedVersion, settings: FeedSettings) -> Response:
    response.set_etag(version.etag, weak=True)
    response.last_modified = version.last_modified
    response.headers["Cache-Control"] = f"private, max-age={settings.max_age_seconds}"
    response.headers["Vary"] = "Accept-Encoding"
    # The URL holds the token: never pass it on as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _not_modified_response(version: FeedVersion, settings: FeedSettings) -> Response:
    return _headers(Response(status=304), version, settings)


def _feed_response(
    rendered: RenderedFeed, settings: FeedSettings, cache: FeedCache | None = None
) -> Response:
    if request.accept_encodings["gzip"] > 0:
        first_gzip = not rendered.has_gzip
        body = rendered.gzipped()
        if first_gzip and cache is not None:
            cache.account()  # the cached entry just grew by its gzip
        response = Response(body, content_type=CONTENT_TYPE)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(rendered.body, content_type=CONTENT_TYPE)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return _headers(response, rendered.version, settings)
