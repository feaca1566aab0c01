"""Routes outside the REST API: health check and CalDAV discovery."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect

from api.context import caledee
from caldee_dav import db

bp = Blueprint("site", __name__)


# A load balancer's health check usually gives up after a few seconds; answer before it does.
HEALTH_WRITE_TIMEOUT = 2.0


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """200 when a write transaction can start within two seconds; 503 and why, when the database is
    stalled (a writer holding SQLite's lock, a table locked on PostgreSQL) or unreachable."""
    stall = db.write_stall(caledee().engine, HEALTH_WRITE_TIMEOUT)
    if stall is not None:
        response = jsonify({"status": "unavailable", "database": stall})
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    return jsonify({"status": "ok", "database": "ok"})


@bp.route("/", methods=["PROPFIND", "REPORT"])
@bp.route("/.well-known/caldav", methods=["GET", "PROPFIND", "HEAD", "OPTIONS"])
@bp.route("/.well-known/carddav", methods=["GET", "PROPFIND", "HEAD", "OPTIONS"])
def well_known():  # type: ignore[no-untyped-def]
    # RFC 6764: point clients at the DAV root; they find their principal from there. PROPFIND on
    # the bare server URL is what clients given only "https://host/" send first.
    return redirect("/dav/", code=301)
