"""WebDAV and CalDAV names in ElementTree's Clark notation, shared by the fast path and plain files."""

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"

GETETAG = DAV + "getetag"
GETCONTENTTYPE = DAV + "getcontenttype"
GETLASTMODIFIED = DAV + "getlastmodified"
RESOURCETYPE = DAV + "resourcetype"
