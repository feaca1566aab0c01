"""Outbound HTTP with an SSRF guard: the one way Caledee calls a URL someone else gave it (webhooks).

Only http and https; the host is resolved by us and every address it resolves to is checked, then the
connection is made to a checked address (never by name again), so a DNS answer that changes between
the check and the connect (DNS rebinding) cannot reach a private address. Redirects are checked the
same way. Loopback, private, link-local, CGNAT, multicast, reserved and metadata addresses (and IPv6
forms that embed one: IPv4-mapped, NAT64, 6to4) are refused unless the operator allows them
(``outbound_allow``). Each call is bounded in time and in the bytes of the answer it reads.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from caldee_dav.config import AllowList
from caldee_dav.errors import CaledeeError, InvalidInput

__all__ = ["AllowList", "OutboundFailed", "OutboundRefused", "OutboundResponse", "check_url", "post"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused whatever ``is_global`` says (multicast and 6to4 count as global there), each with the reason
# a refusal names (the first network that holds the address gives it). Addresses outside these that
# are not global either (documentation, benchmarking, IETF blocks...) are "not a public address".
_REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("169.254.169.254/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("0.0.0.0/8", "this network"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "shared (CGNAT)"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
_REFUSED = tuple((ipaddress.ip_network(cidr), reason) for cidr, reason in _REFUSED_NETWORKS)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

_READ_CHUNK = 16_384
_DROPPED_ON_CROSS_ORIGIN_REDIRECT = frozenset({"authorization", "cookie", "proxy-authorization"})


class OutboundRefused(InvalidInput):
    """The URL may not be called: scheme, host, or an address that is not allowed (reason in message)."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        # The refused address, for the operator's log; the message does not show it to the caller.
        self.address = address


class OutboundFailed(CaledeeError):
    """The call was allowed but did not get an answer: timeout, connection or TLS error, DNS failure at
    send time, too many redirects. Worth retrying later."""

    title = "Outbound Request Failed"


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes  # at most max_response_bytes (the rest is not read)


@dataclass(frozen=True)
class _Target:
    """A URL taken apart and checked for everything but its addresses."""

    url: str
    scheme: str
    host: str  # IDNA-encoded name or an address literal without brackets
    port: int
    path: str  # path and query, never empty

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def refusal_reason(address: Address) -> str | None:
    """Why ``address`` may not be called (without an allow list), or None when it is a public address."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = refusal_reason(embedded)
        return None if inner is None else f"{inner}, embedded in IPv6"
    for network, reason in _REFUSED:
        if address.version == network.version and address in network:
            return reason
    if address.is_multicast:
        return "multicast"
    if address.is_reserved or address.is_unspecified:
        return "reserved"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def _allowed(address: Address, allow: AllowList) -> bool:
    # An IPv4-mapped address is the same host as its IPv4 address, so allowing one allows the other.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return allow.allows(address) or (mapped is not None and allow.allows(mapped))


def _check_address(address: Address, allow: AllowList, host: str) -> None:
    if _allowed(address, allow):
        return
    reason = refusal_reason(address)
    if reason is not None:
        what = "is" if _is_address(host) else "resolves to"
        raise OutboundRefused(
            f"{host} {what} an address that may not be called ({reason}); "
            "an operator may allow it with outbound_allow (CALEDEE_OUTBOUND_ALLOW)",
            address=str(address),
        )


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parse_url(url: str) -> _Target:
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise OutboundRefused("the URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise OutboundRefused(f"only http and https URLs may be called, not {scheme or 'this'!r}")
    if "@" in parts.netloc:
        raise OutboundRefused("the URL may not contain a user name or password")
    if not parts.hostname:
        raise OutboundRefused("the URL has no host")
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535:
        raise OutboundRefused("the URL's port must be 1 to 65535")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise OutboundRefused("the URL's host is not a valid name") from exc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(url=url, scheme=scheme, host=host, port=port, path=path)


def _resolve(target: _Target) -> list[tuple[Address, tuple[object, ...]]]:
    """Every address the host resolves to (the literal itself for an address), with its sockaddr;
    socket.gaierror when it cannot be resolved."""
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    resolved: list[tuple[Address, tuple[object, ...]]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        resolved.append((address, tuple(sockaddr)))
    if not resolved:
        raise socket.gaierror(f"no IPv4 or IPv6 address for {target.host}")
    return resolved


def _checked_addresses(target: _Target, allow: AllowList) -> list[tuple[Address, tuple[object, ...]]]:
    resolved = _resolve(target)
    # Every address is checked, not just the first: a name that answers with a public and a private
    # address is refused, whichever the connection would have used.
    for address, _sockaddr in resolved:
        _check_address(address, allow, target.host)
    return resolved


def check_url(url: str, allow: AllowList) -> None:
    """At creation time (webhook registration): http(s) only, a host, no userinfo, port 1-65535; the host
    resolved now and every address checked; OutboundRefused otherwise (also when it cannot be resolved).

    ``post`` checks again when it connects: an address may change after this check.
    """
    target = _parse_url(url)
    try:
        _checked_addresses(target, allow)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {target.host}") from exc


@dataclass
class _Deadline:
    """The time one call may take in all; at expiry the watchdog shuts the socket in use, which wakes a
    read blocked on a server that sends slowly (a per-read timeout alone would let a trickle go on)."""

    seconds: float
    ends_at: float = field(init=False)
    expired: bool = field(default=False, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.ends_at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        left = self.ends_at - time.monotonic()
        if left <= 0:
            raise OutboundFailed(f"no answer within {self.seconds:g} s")
        return left

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sock = sock

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed: the call ended as the watchdog fired
                    pass


def _connect(
    target: _Target, addresses: list[tuple[Address, tuple[object, ...]]], deadline: _Deadline
) -> socket.socket:
    """A TCP connection to the first checked address that answers (never the name: no second lookup)."""
    last_error: OSError | None = None
    for address, sockaddr in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        remaining = deadline.remaining()
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise OutboundFailed(f"cannot connect to {target.host}:{target.port}: {last_error}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """http.client on a socket we connected to a checked address; Host stays the URL's name."""

    def __init__(self, target: _Target, sock: socket.socket, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._checked_sock = sock

    def connect(self) -> None:
        self.sock = self._checked_sock


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """As _CheckedHTTPConnection, with TLS verified against the URL's name (SNI is that name too)."""

    def __init__(self, target: _Target, sock: socket.socket, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=tls)
        self._checked_sock = sock
        self._tls = tls

    def connect(self) -> None:
        self.sock = self._tls.wrap_socket(self._checked_sock, server_hostname=self.host)


def _read_headers(response: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _read_body(response: http.client.HTTPResponse, limit: int, deadline: _Deadline) -> bytes:
    chunks: list[bytes] = []
    taken = 0
    while taken < limit:
        deadline.remaining()
        chunk = response.read(min(_READ_CHUNK, limit - taken))
        if not chunk:
            break
        chunks.append(chunk)
        taken += len(chunk)
    return b"".join(chunks)


def _exchange(
    target: _Target,
    method: str,
    body: bytes | None,
    headers: Mapping[str, str],
    *,
    allow: AllowList,
    deadline: _Deadline,
    timeout: float,
    max_response_bytes: int,
) -> OutboundResponse:
    """One request to one checked address, and its answer (body capped)."""
    try:
        addresses = _checked_addresses(target, allow)
    except (socket.gaierror, UnicodeError) as exc:
        # At send time a failed lookup may be a passing DNS outage: worth a retry, unlike a refusal.
        raise OutboundFailed(f"cannot resolve {target.host}") from exc
    sock = _connect(target, addresses, deadline)
    deadline.watch(sock)
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _CheckedHTTPSConnection(target, sock, timeout, ssl.create_default_context())
    else:
        connection = _CheckedHTTPConnection(target, sock, timeout)
    try:
        connection.connect()
        deadline.watch(connection.sock)
        connection.sock.settimeout(min(timeout, deadline.remaining()))
        connection.request(method, target.path, body=body, headers=dict(headers))
        response = connection.getresponse()
        status, response_headers = response.status, _read_headers(response)
        payload = _read_body(response, max_response_bytes, deadline)
        return OutboundResponse(status=status, headers=response_headers, body=payload)
    except OutboundFailed:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired or isinstance(exc, TimeoutError):
            raise OutboundFailed(f"no answer from {target.host} within {deadline.seconds:g} s") from exc
        if isinstance(exc, ssl.SSLError):
            raise OutboundFailed(f"TLS with {target.host} failed: {exc}") from exc
        raise OutboundFailed(f"{target.host}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        deadline.watch(None)
        connection.close()
        sock.close()


def _redirect_headers(headers: Mapping[str, str], same_origin: bool) -> dict[str, str]:
    if same_origin:
        return dict(headers)
    dropped = _DROPPED_ON_CROSS_ORIGIN_REDIRECT
    return {name: value for name, value in headers.items() if name.lower() not in dropped}


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow: AllowList,
    timeout: float = 10.0,
    max_response_bytes: int = 64_000,
    max_redirects: int = 3,
) -> OutboundResponse:
    """POST ``body`` to ``url`` and return the answer (any status, body capped at ``max_response_bytes``).

    The address is checked at connect time: the host is resolved, every address it resolves to is
    checked, and the connection goes to a checked address (Host, SNI and the certificate check use the
    name). Redirects: 307 and 308 POST the same body again to their Location, checked the same way (at
    most ``max_redirects``; Authorization and Cookie are dropped when the origin changes); 301, 302 and
    303 are final answers, returned as they are (a webhook's payload is not turned into a GET).
    ``timeout`` bounds the whole call, redirects included (name resolution aside).

    Raises OutboundRefused for a URL or address that may not be called (also after a redirect), and
    OutboundFailed for timeouts, connection and TLS errors, a name that cannot be resolved now, and
    too many redirects.
    """
    deadline = _Deadline(timeout)
    watchdog = threading.Timer(timeout, deadline.expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        target = _parse_url(url)
        for _hop in range(max_redirects + 1):
            response = _exchange(
                target,
                "POST",
                body,
                headers,
                allow=allow,
                deadline=deadline,
                timeout=timeout,
                max_response_bytes=max_response_bytes,
            )
            location = response.headers.get("location")
            if response.status not in (307, 308) or not location:
                return response
            following = _parse_url(urljoin(target.url, location))
            headers = _redirect_headers(headers, following.origin == target.origin)
            target = following
        raise OutboundFailed(f"more than {max_redirects} redirects")
    finally:
        watchdog.cancel()
