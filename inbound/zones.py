"""Kept for imports of ``inbound.zones``: the mapping lives in ``caldee_dav.ical.tzids``."""

from caldee_dav.ical.tzids import iana_zone_for

__all__ = ["iana_zone_for"]
