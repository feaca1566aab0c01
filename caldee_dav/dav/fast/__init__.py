"""Answers for the CalDAV requests clients send most, straight from the store.

Radicale renders every answer item by item (paths, rights, ElementTree, and a vobject parse per item
for ``<C:expand>``); for a calendar of 10,000 events that is most of a query's time. This package
answers the common, well-formed cases itself from SQL rows:

- ``REPORT`` calendar-query on a calendar (a time-range on VEVENTs or none; ETags, data, expand);
- ``PROPFIND`` Depth 1 listings of a calendar (ETags, content types, last-modified);
- ``PUT`` of one plain event into a calendar.

Anything else, and every case that would be an error (bad credentials, another user's calendar,
unknown paths, failed preconditions, invalid data), is handed to Radicale unchanged, which answers
it as before. ``settings.dav_fast_path = false`` sends everything to Radicale.
"""

from caldee_dav.dav.fast.answer import DavAnswer, NotHandled
from caldee_dav.dav.fast.dispatch import FastDav

__all__ = ["DavAnswer", "FastDav", "NotHandled"]
