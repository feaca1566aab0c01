"""Routes outside the REST API: health check and CalDAV discovery."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect

from api.context import caledee
from caldee_dav import db

bp = Blueprint("site", __name__)


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    db.ping(caledee().engine)
    return jsonify({"status": "ok"})


@bp.route("/", methods=["PROPFIND", "REPORT"])
@bp.route("/.well-known/caldav", methods=["GET", "PROPFIND", "HEAD", "OPTIONS"])
@bp.route("/.well-known/carddav", methods=["GET", "PROPFIND", "HEAD", "OPTIONS"])
def well_known():  # type: ignore[no-untyped-def]
    # RFC 6764: point clients at the DAV root; they find their principal from there. PROPFIND on
    # the bare server URL is what clients given only "https://host/" send first.
    return redirect("/dav/", code=301)
