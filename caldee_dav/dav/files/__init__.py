"""Plain WebDAV folders and files under a principal, next to the calendars Radicale serves.

Radicale makes only calendars and address books and stores only iCalendar and vCard items, so a
WebDAV client (or the litmus suite) could not make a folder (``MKCOL /dav/alice/docs/`` was 403).
``PlainFiles`` answers, in front of Radicale, every request for a plain folder directly under a
principal and for everything in it: MKCOL, PUT/GET/HEAD/DELETE of any bytes, PROPFIND/PROPPATCH with
dead properties, COPY/MOVE with Depth and Overwrite. Folders are collections without a tag and files
``DavFile`` rows, written through ``caldee_dav.calendars.files`` (only the owner, bounded sizes), one
transaction per request. No locks: the server says DAV class 1 and refuses LOCK with 405.
"""

from caldee_dav.dav.files.handler import ALLOW, DAV_CLASSES, PlainFiles, Reply, plain

__all__ = ["ALLOW", "DAV_CLASSES", "PlainFiles", "Reply", "plain"]
