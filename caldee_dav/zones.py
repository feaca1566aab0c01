"""IANA time zones named in input: one check for every edge (REST, CLI, configuration)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The longest IANA name is about 30 characters; a longer one is not a zone, and ZoneInfo would try
# to open it as a file (a name over 255 bytes fails with OSError "File name too long").
MAX_NAME_LENGTH = 64


def zone_named(name: object) -> ZoneInfo | None:
    """The time zone called ``name``, or None for anything that is not one."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed ("a\x00b", "../x")
        return None
