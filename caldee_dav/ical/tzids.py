"""The IANA zone for a TZID as mail clients write it.

Outlook and Exchange name zones the Windows way ("W. Europe Standard Time"); the mapping to IANA is
CLDR's windowsZones.xml as icalendar ships it (icalendar.timezone.windows_to_olson, regenerated with
each icalendar release), so no table of our own goes stale. Also accepted: IANA names in any case,
quoted TZIDs, and the "globally unique" /vendor/.../Area/City form of libical and Lightning.

Not mapped: Outlook's display names ("(UTC+01:00) Amsterdam, Berlin, ...") and "Customized Time Zone";
CLDR has no table for them. Such a calendar embeds a VTIMEZONE, which the parser honours.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from caldee_dav.zones import zone_named

# Longer than any zone name in any of the forms above; a longer TZID is not looked up at all.
MAX_TZID_LENGTH = 256
# Exchange writes UTC as "tzone://Microsoft/Utc".
EXCHANGE_PREFIX = "tzone://microsoft/"


def iana_zone_for(tzid: object) -> str | None:
    """The IANA name of the zone ``tzid`` names, or None when it names none we know."""
    if not isinstance(tzid, str) or len(tzid) > MAX_TZID_LENGTH:
        return None
    cleaned = tzid.strip().strip("\"'").strip()
    if cleaned.lower().startswith(EXCHANGE_PREFIX):
        cleaned = cleaned[len(EXCHANGE_PREFIX) :]
    for candidate in _candidates(cleaned):
        zone = _iana_name(candidate) or _windows_zone(candidate)
        if zone is not None:
            return zone
    return None


def _candidates(cleaned: str) -> list[str]:
    """The TZID itself, then, for /vendor/.../Area/City, its suffixes longest first."""
    if not cleaned.startswith("/"):
        return [cleaned]
    parts = [part for part in cleaned.split("/") if part]
    return [cleaned] + ["/".join(parts[start:]) for start in range(len(parts))]


def _iana_name(name: str) -> str | None:
    canonical = _iana_names_by_lower_case().get(name.lower())
    return canonical if canonical is not None and zone_named(canonical) is not None else None


def _windows_zone(name: str) -> str | None:
    key = name.lower()
    # Some clients name the zone by its summer time ("Pacific Daylight Time"); CLDR by its standard.
    if key.endswith(" daylight time"):
        key = key.removesuffix(" daylight time") + " standard time"
    iana = _windows_names_by_lower_case().get(key)
    if iana is None:
        return None
    # CLDR keeps some older names (America/Buenos_Aires); tzdata still links them, but check.
    return _iana_name(iana) or None


@cache
def _iana_names_by_lower_case() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


@cache
def _windows_names_by_lower_case() -> dict[str, str]:
    return {name.lower(): iana for name, iana in WINDOWS_TO_OLSON.items()}
