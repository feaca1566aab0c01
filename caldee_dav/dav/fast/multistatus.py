"""Multistatus documents written as text: one string per response, no element tree."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from caldee_dav.dav.names import CALDAV, DAV

PREFIXES = {DAV: "D:", CALDAV: "C:"}
OPENING = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
)
CLOSING = "</D:multistatus>"
OPENING_BYTES, CLOSING_BYTES = OPENING.encode(), CLOSING.encode()
OK = "<D:status>HTTP/1.1 200 OK</D:status>"
NOT_FOUND = "<D:status>HTTP/1.1 404 Not Found</D:status>"


def element(clark: str, text: str | None = None) -> str:
    namespace, _, name = clark[1:].partition("}")
    prefix = PREFIXES.get("{" + namespace + "}")
    if prefix is None:
        opening, closing = f'X:{name} xmlns:X="{escape(namespace, {chr(34): "&quot;"})}"', f"X:{name}"
    else:
        opening = closing = prefix + name
    if text is None:
        return f"<{opening}/>"
    return f"<{opening}>{escape(text)}</{closing}>"


def escape_bytes(data: bytes) -> bytes:
    """XML-escaped UTF-8 text (the three characters are single bytes in UTF-8); most iCalendar data
    has none of them and is returned as it is, uncopied."""
    if b"&" in data:
        data = data.replace(b"&", b"&amp;")
    if b"<" in data:
        data = data.replace(b"<", b"&lt;")
    if b">" in data:
        data = data.replace(b">", b"&gt;")
    return data


def document_bytes(pieces: list[bytes]) -> bytes:
    return b"".join([OPENING_BYTES, *pieces, CLOSING_BYTES])


def fill(markup: list[str], columns: list[int], rows: Iterable[Sequence[object]]) -> list[str]:
    """``markup[0] value markup[1] value ...`` for each row; one branch per number of values."""
    if len(columns) == 1:
        a, b = markup
        return [f"{a}{row[0]}{b}" for row in rows]
    if len(columns) == 2:
        a, b, c = markup
        i = columns[1]
        return [f"{a}{row[0]}{b}{row[i]}{c}" for row in rows]
    if len(columns) == 3:
        a, b, c, d = markup
        i, j = columns[1:]
        return [f"{a}{row[0]}{b}{row[i]}{c}{row[j]}{d}" for row in rows]
    a, b, c, d, e = markup
    i, j, k = columns[1:]
    return [f"{a}{row[0]}{b}{row[i]}{c}{row[j]}{d}{row[k]}{e}" for row in rows]


def fill_bytes(markup: list[bytes], columns: list[int], rows: Iterable[Sequence[bytes]]) -> list[bytes]:
    """``fill`` for bytes, as one flat list of pieces (bytes have no f-strings)."""
    pieces: list[bytes] = []
    gaps = list(zip(columns, markup[1:], strict=True))
    for row in rows:
        pieces.append(markup[0])
        for column, after in gaps:
            pieces.append(row[column])
            pieces.append(after)
    return pieces
