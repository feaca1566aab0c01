"""HTTP Basic credentials, as CalDAV clients send them with every request."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(login, password) from an ``Authorization: Basic ...`` header, or None."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, separator, password = decoded.partition(":")
    return (login, password) if separator else None
