"""Which requests the fast path takes; everything it does not answer goes to Radicale unchanged."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from caldee_dav import db
from caldee_dav.calendars.logins import LoginChecker
from caldee_dav.calendars.objects import WriteLimits
from caldee_dav.config import Settings
from caldee_dav.dav.fast.answer import AnswerAfterRollback, DavAnswer, NotHandled
from caldee_dav.dav.fast.expand import TooCostlyToAnswer
from caldee_dav.dav.fast.listing_cache import ListingCache
from caldee_dav.dav.fast.propfind import answer_listing
from caldee_dav.dav.fast.put import answer_put, parse_put, preconditions_of
from caldee_dav.dav.fast.queries import DAV, read_calendar_query, read_listing_props, read_sync_request
from caldee_dav.dav.fast.report import answer_calendar_query
from caldee_dav.dav.fast.sync import answer_sync
from caldee_dav.dav.fast.target import DavTarget, resolve_target

SYNC_COLLECTION = DAV + "sync-collection"


class FastDav:
    def __init__(self, settings: Settings) -> None:
        self.engine = db.engine_for(settings.database_url)
        self.logins = LoginChecker(self.engine)
        self.listings = ListingCache()
        self.limits = WriteLimits.from_settings(settings)
        self.settings = settings

    def answer(self, environ: dict[str, Any], body: bytes, root: Any) -> DavAnswer | None:
        """The answer, or None when Radicale should answer."""
        method = environ.get("REQUEST_METHOD", "")
        try:
            if method == "REPORT" and root is not None:
                return self._report(environ, root)
            if method == "PROPFIND" and root is not None and environ.get("HTTP_DEPTH") == "1":
                return self._listing(environ, root)
            # A PUT to a collection (a whole-calendar import) is Radicale's: do not parse it here.
            collection_put = environ.get("PATH_INFO", "").endswith("/")
            if method == "PUT" and not collection_put and 0 < len(body) <= self.limits.max_size:
                return self._put(environ, body)
        except NotHandled:
            return None
        except TooCostlyToAnswer as exc:
            # Radicale has no time limit of its own: answered here rather than handed over, with the
            # status Radicale gives an expansion over its instance limit.
            message = f"The query is too costly to answer: {exc}. Ask for a narrower time range.\n"
            return DavAnswer("400 Bad Request", message.encode(), [("Content-Type", "text/plain")])
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
        prepared = parse_put(body, self.limits)
        try:
            with db.write_unit(self.engine) as session:
                target = resolve_target(environ, self.logins, session)
                return answer_put(session, self.settings, target, prepared, preconditions_of(environ))
        except AnswerAfterRollback as refusal:
            return refusal.answer
