"""Request bodies as XML, parsed safely and with a bounded nesting depth.

defusedxml refuses DTDs and entities. Expat and ElementTree's C builder nest without limit, but a
document nested 100,000 levels deep then fails wherever it is walked recursively (Radicale's
serializer, ``copy.deepcopy``) with a RecursionError: a 500. No WebDAV or CalDAV body needs more than a
handful of levels (a calendar-query filter goes about six deep), so a body nesting deeper than
``MAX_XML_DEPTH`` is refused. The check costs nothing for a body with fewer tags than that, and one
walk of the first levels otherwise (a counting tree builder in Python would make a 10,000-href
multiget parse half again as slow).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET

MAX_XML_DEPTH = 100


class XmlTooDeep(ValueError):
    """The document nests deeper than ``MAX_XML_DEPTH`` elements."""


def parse_xml(body: bytes, limit: int = MAX_XML_DEPTH) -> ET.Element:
    """The root element. Raises ``XmlTooDeep``, defusedxml's ``DefusedXmlException`` for a DTD or
    entities, or ``ET.ParseError`` for a body that is not well-formed XML."""
    root: ET.Element = SafeET.fromstring(body)
    # An element ``limit`` levels below the root (the root is level one) needs more than ``limit`` tags.
    if body.count(b"<") > limit and root.find("/".join(["*"] * limit)) is not None:
        raise XmlTooDeep(f"XML nested deeper than {limit} elements")
    return root
