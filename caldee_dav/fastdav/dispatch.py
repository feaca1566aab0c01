"""Which requests the fast path takes; everything it does not answer goes to Radicale unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.config import Settings
from caldee_dav.fastdav.answer import DavAnswer, NotHandled
from caldee_dav.fastdav.listing_cache import ListingCache
from caldee_dav.fastdav.propfind import answer_listing
from caldee_dav.fastdav.put import IndexLimits, Preconditions, answer_put, parse_put
from caldee_dav.fastdav.queries import DAV, read_calendar_query, read_listing_props, read_sync_request
from caldee_dav.fastdav.report import answer_calendar_query
from caldee_dav.fastdav.sync import answer_sync
from caldee_dav.fastdav.target import DavTarget, resolve_target
from caldee_dav.logins import LoginChecker

SYNC_COLLECTION = DAV + "sync-collection"


class FastDav:
    def __init__(self, settings: Settings) -> None:
        self.engine = db.engine_for(settings.database_url)
        self.logins = LoginChecker(self.engine)
        self.listings = ListingCache()
        self.limits = IndexLimits(
            settings.occurrence_horizon_days * 86400, settings.max_occurrences_per_object
        )
        # Radicale refuses items over 80% of the request limit (its max_resource_size).
        self.max_item_size = int(settings.max_resource_size * 0.8)

    def answer(self, environ: dict[str, Any], body: bytes, root: Any) -> DavAnswer | None:
        """The answer, or None when Radicale should answer."""
        method = environ.get("REQUEST_METHOD", "")
        try:
            if method == "REPORT" and root is not None:
                return self._report(environ, root)
            if method == "PROPFIND" and root is not None and environ.get("HTTP_DEPTH") == "1":
                return self._listing(environ, root)
            if method == "PUT" and 0 < len(body) <= self.max_item_size:
                return self._put(environ, body)
        except NotHandled:
            return None
        return None

    def _report(self, environ: dict[str, Any], root: Any) -> DavAnswer:
        if root.tag == SYNC_COLLECTION:
            sync = read_sync_request(root)
            with db.read_unit(self.engine) as session:
                return answer_sync(session, self._calendar_target(environ, session), sync)
        query = read_calendar_query(root)
        with db.read_unit(self.engine) as session:
            return answer_calendar_query(session, self._calendar_target(environ, session), query)

    def _listing(self, environ: dict[str, Any], root: Any) -> DavAnswer:
        props = read_listing_props(root)
        with db.read_unit(self.engine) as session:
            return answer_listing(session, self._calendar_target(environ, session), props, self.listings)

    def _calendar_target(self, environ: dict[str, Any], session: Session) -> DavTarget:
        """The calendar a REPORT or PROPFIND is for, the login checked in the request's read unit."""
        target = resolve_target(environ, self.logins, session)
        if target.item is not None:
            raise NotHandled
        return target

    def _put(self, environ: dict[str, Any], body: bytes) -> DavAnswer:
        text, index = parse_put(body, self.limits)
        preconditions = Preconditions(
            environ.get("HTTP_IF_MATCH", ""), environ.get("HTTP_IF_NONE_MATCH", "") == "*"
        )
        with db.write_unit(self.engine) as session:
            target = resolve_target(environ, self.logins, session)
            return answer_put(session, target, text, index, preconditions)
