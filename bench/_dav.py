"""A minimal CalDAV client for the benchmark: the request bodies clients send, and the answers reduced to
sets that two servers can be compared on (hrefs, UIDs, expanded instances, sync changes)."""

from __future__ import annotations

import base64
import http.client
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree as ET

import icalendar

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
TIMEOUT = 3600  # the baseline's expand query takes minutes

PROPFIND_ETAGS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>"""

PROPFIND_SYNC_TOKEN = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/></D:prop></D:propfind>"""


def calendar_query(start: str, end: str, *, expand: bool = False) -> str:
    """A VEVENT time-range calendar-query asking for ETags and data (expanded when ``expand``)."""
    data = (
        f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>'
        if expand
        else ("<C:calendar-data/>")
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/>{data}</D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def sync_collection(token: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:">
  <D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
  <D:prop><D:getetag/></D:prop>
</D:sync-collection>"""


@dataclass
class Response:
    href: str
    status: int  # of the response itself (404 for a deleted href in sync) or of its 200 propstat
    props: dict[str, ET.Element]


def parse_multistatus(body: bytes) -> list[Response]:
    root = ET.fromstring(body)
    found = []
    for response in root.findall(f"{DAV}response"):
        href = unquote(response.findtext(f"{DAV}href", ""))
        status_text = response.findtext(f"{DAV}status")
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(f"{DAV}propstat"):
            prop_element = propstat.find(f"{DAV}prop")
            if prop_element is not None and " 200 " in propstat.findtext(f"{DAV}status", ""):
                for prop in prop_element:
                    props[prop.tag] = prop
        status = int(status_text.split()[1]) if status_text else 200
        found.append(Response(href, status, props))
    return found


@dataclass
class Answer:
    status_code: int
    content: bytes  # un-gzipped

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass
class Timed:
    ms: float
    response: Answer


class DavClient:
    """One keep-alive HTTP connection to one server, as a calendar client keeps one.

    Plain ``http.client`` and ``zlib``: what any client must do (send, read the whole answer, gunzip
    it) and nothing more. ``requests`` reads an answer in 10 KB pieces through urllib3's decoder,
    which added 5-20 ms to a 1-3 MB answer: client time that says nothing about either server."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        parsed = urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.prefix = parsed.path.rstrip("/")
        self.authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> Timed:
        all_headers = {"Authorization": self.authorization, "Accept-Encoding": "gzip", **(headers or {})}
        payload = body.encode() if body is not None else None
        started = time.perf_counter()
        try:
            answer = self._exchange(method, path, payload, all_headers)
        except (http.client.HTTPException, ConnectionError):
            # The server closed the kept-alive connection (as gunicorn may): one fresh connection.
            self.connection.close()
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
            started = time.perf_counter()
            answer = self._exchange(method, path, payload, all_headers)
        elapsed = (time.perf_counter() - started) * 1000  # the whole answer, read and un-gzipped
        return Timed(elapsed, answer)

    def _exchange(self, method: str, path: str, payload: bytes | None, headers: dict[str, str]) -> Answer:
        self.connection.request(method, self.prefix + path, body=payload, headers=headers)
        response = self.connection.getresponse()
        content = response.read()
        if response.getheader("Content-Encoding") == "gzip":
            content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
        return Answer(response.status, content)

    def xml(self, method: str, path: str, body: str, *, depth: str | None = None, expect: int = 207) -> Timed:
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if depth is not None:
            headers["Depth"] = depth
        timed = self.request(method, path, body, headers)
        if timed.response.status_code != expect:
            raise RuntimeError(
                f"{method} {path} answered {timed.response.status_code}: {timed.response.text[:500]}"
            )
        return timed

    def put(self, path: str, text: str, *, new: bool) -> Timed:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if new:
            headers["If-None-Match"] = "*"
        timed = self.request("PUT", path, text, headers)
        if timed.response.status_code not in (201, 204):
            raise RuntimeError(
                f"PUT {path} answered {timed.response.status_code}: {timed.response.text[:500]}"
            )
        return timed

    def delete(self, path: str) -> Timed:
        timed = self.request("DELETE", path)
        if timed.response.status_code not in (200, 204):
            raise RuntimeError(f"DELETE {path} answered {timed.response.status_code}")
        return timed

    def sync_token(self, path: str) -> str:
        answer = parse_multistatus(
            self.xml("PROPFIND", path, PROPFIND_SYNC_TOKEN, depth="0").response.content
        )
        token = answer[0].props.get(f"{DAV}sync-token")
        if token is None or not token.text:
            raise RuntimeError(f"{path} reports no sync-token")
        return token.text


# --- what two servers' answers are compared on ------------------------------------------------------


def name(href: str) -> str:
    """The last path segment: servers mounted at different prefixes (/dav/...) compare equal."""
    return href.rstrip("/").rsplit("/", 1)[-1]


def hrefs(responses: list[Response]) -> set[str]:
    return {name(r.href) for r in responses}


def _calendar_texts(responses: list[Response]) -> list[str]:
    texts = []
    for r in responses:
        data = r.props.get(f"{CALDAV}calendar-data")
        if data is None or not data.text:
            raise RuntimeError(f"{r.href}: no calendar-data in the answer")
        texts.append(data.text)
    return texts


def uids(responses: list[Response]) -> set[str]:
    found = set()
    for text in _calendar_texts(responses):
        for line in text.splitlines():
            if line.startswith("UID:"):
                found.add(line[4:].strip())
    return found


def _instant(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    return value.isoformat()


def instances(responses: list[Response]) -> set[tuple[str, str]]:
    """(UID, RECURRENCE-ID or DTSTART in UTC) of every VEVENT of an expanded answer."""
    found = set()
    for text in _calendar_texts(responses):
        for vevent in icalendar.Calendar.from_ical(text).walk("VEVENT"):
            when = vevent.get("RECURRENCE-ID") or vevent.get("DTSTART")
            found.add((str(vevent.get("UID")), _instant(when.dt)))
    return found


def sync_changes(responses: list[Response]) -> set[tuple[str, str]]:
    return {(name(r.href), "deleted" if r.status == 404 else "changed") for r in responses}
