"""``GET /api/v2/docs`` (no token): the served contract for people, rendered by Swagger UI.

Swagger UI's files come from the ``flask-swagger-ui`` package (a dependency: nothing is fetched from
another site); the page and its start script are ours, so that the page runs under a strict
Content-Security-Policy: scripts and style sheets from this server only, no inline script.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, send_from_directory

from caldee_dav.errors import NotFound

PAGE_DIR = Path(__file__).parent / "docs_page"
SWAGGER_UI_DIR = Path(flask_swagger_ui.__file__).parent / "dist"
# The files the page loads, and where each is: nothing else under the viewer's folder is served.
ASSETS = {
    "swagger-ui.css": SWAGGER_UI_DIR,
    "swagger-ui-bundle.js": SWAGGER_UI_DIR,
    "docs.js": PAGE_DIR,
}
# Swagger UI sets styles through the DOM (allowed); its SVG icons are data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSET_MAX_AGE = 86400

bp = Blueprint("docs", __name__)


def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/docs")
def docs_page() -> Response:
    response = send_from_directory(PAGE_DIR, "docs.html", mimetype="text/html", max_age=0)
    return _secured(response)


@bp.get("/docs/assets/<file>")
def docs_asset(file: str) -> Response:
    folder = ASSETS.get(file)
    if folder is None:
        raise NotFound(f"No file {file!r} under /api/v2/docs/assets.")
    return _secured(send_from_directory(folder, file, max_age=ASSET_MAX_AGE))
