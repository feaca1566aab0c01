"""The SSRF-guarded outbound HTTP client against real receivers on loopback (no database, no mocks).

Each receiver is a small ``http.server`` in a thread; what it was sent is recorded, so a test can show
that a refused call never reached it. Refusals of addresses other than loopback happen before any
connection, so they need no receiver at all.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from caldee_dav.calendars.outbound_http import (
    AllowList,
    OutboundFailed,
    OutboundRefused,
    OutboundResponse,
    check_url,
    post,
    refusal_reason,
)
from caldee_dav.config import ConfigError, load_settings

LOOPBACK = AllowList.parse("127.0.0.1")
NOTHING = AllowList()
BIG = 1_000_000


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: /echo answers 200 with the body, /redirect answers ?status= with Location ?to=,
    /slow answers nothing until released, /trickle sends its status line a byte at a time, /big sends
    1 MB."""

    port: int
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    hung_up_on: threading.Event = field(default_factory=threading.Event)  # a client left mid-answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(receiver: Receiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.received.append(Received(self.path, headers, body))
            url = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(url.query).items()}
            if url.path == "/redirect":
                self._answer(int(query["status"]), b"", {"Location": query["to"]})
            elif url.path == "/slow":
                receiver.release.wait(timeout=10)
                self._answer(200, b"late", {})
            elif url.path == "/trickle":
                self._trickle()
            elif url.path == "/big":
                self._answer(200, b"x" * BIG, {})
            else:
                self._answer(200, body, {"X-Echo-Type": headers.get("content-type", "")})

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:  # the client stopped reading at its cap
                pass

        def _trickle(self) -> None:
            # A header line every 0.2 s: each read gets something well within a per-read timeout, so
            # only a limit on the whole call ends it. Bounded (10 s) and stops when the client hangs up.
            lines = [b"HTTP/1.1 200 OK\r\n", *[b"X-Wait: 1\r\n"] * 50, b"Content-Length: 0\r\n\r\n"]
            for line in lines:
                try:
                    self.wfile.write(line)
                    self.wfile.flush()
                except OSError:
                    receiver.hung_up_on.set()
                    return
                if receiver.release.wait(timeout=0.2):
                    return

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    yield from _serve()


def _serve() -> Iterator[Receiver]:
    # Port 0: the kernel picks a free port as the socket is bound, so no other test can take it.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver(0)))
    receiver = Receiver(server.server_address[1])
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _post(
    url: str,
    allow: AllowList = LOOPBACK,
    *,
    timeout: float = 10.0,
    max_response_bytes: int = 64_000,
    max_redirects: int = 3,
) -> OutboundResponse:
    """A webhook-like JSON POST."""
    return post(
        url,
        b'{"type":"ping"}',
        {"Content-Type": "application/json"},
        allow=allow,
        timeout=timeout,
        max_response_bytes=max_response_bytes,
        max_redirects=max_redirects,
    )


# --- what reaches a receiver ---------------------------------------------------------------------


def test_allowed_receiver_gets_the_post_and_its_answer_comes_back(receiver: Receiver) -> None:
    response = _post(f"{receiver.url}/echo?x=1")
    assert response.status == 200
    assert response.body == b'{"type":"ping"}'
    assert response.headers["x-echo-type"] == "application/json"  # names lower-cased
    [request] = receiver.received
    assert request.path == "/echo?x=1"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["content-type"] == "application/json"


def test_loopback_is_refused_unless_allowed_and_nothing_is_sent(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused, match=r"may not be called \(loopback\).*CALEDEE_OUTBOUND_ALLOW"):
        _post(f"{receiver.url}/echo", allow=NOTHING)
    with pytest.raises(OutboundRefused, match="loopback"):
        check_url(f"{receiver.url}/echo", NOTHING)
    assert receiver.received == []
    check_url(f"{receiver.url}/echo", LOOPBACK)  # allowed: no error


def test_a_name_that_resolves_to_loopback_is_refused_unless_its_addresses_are_allowed(
    receiver: Receiver,
) -> None:
    url = f"http://localhost:{receiver.port}/echo"
    with pytest.raises(OutboundRefused, match=r"localhost resolves to an address that may not be called"):
        check_url(url, NOTHING)
    with pytest.raises(OutboundRefused, match="loopback"):
        _post(url, allow=NOTHING)
    assert receiver.received == []
    # The receiver listens on 127.0.0.1; localhost may also resolve to ::1 (allowed too, refused at connect).
    response = _post(url, allow=AllowList.parse("127.0.0.1,::1"))
    assert response.status == 200
    assert receiver.received[0].headers["host"] == f"localhost:{receiver.port}"  # the name, not the IP


def test_a_number_that_resolves_to_loopback_is_refused(receiver: Receiver) -> None:
    # 2130706433 is 127.0.0.1 written as one number, which the resolver accepts as an address.
    with pytest.raises(OutboundRefused, match="loopback"):
        _post(f"http://2130706433:{receiver.port}/echo", allow=NOTHING)
    assert receiver.received == []


# --- redirects -----------------------------------------------------------------------------------


def test_307_posts_the_same_body_again_to_an_allowed_address(
    receiver: Receiver, second_receiver: Receiver
) -> None:
    target = f"{second_receiver.url}/echo"
    response = _post(f"{receiver.url}/redirect?status=307&to={target}")
    assert response.status == 200 and response.body == b'{"type":"ping"}'
    assert [request.body for request in second_receiver.received] == [b'{"type":"ping"}']


@pytest.mark.parametrize(
    "target",
    ["http://10.255.255.1/hook", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/hook"],
)
def test_a_redirect_to_an_address_that_is_not_allowed_is_refused_before_connecting(
    receiver: Receiver, target: str
) -> None:
    # 127.0.0.1 is allowed, the redirect's address is not (::1 is loopback too, but not in the list).
    with pytest.raises(OutboundRefused, match="may not be called"):
        _post(f"{receiver.url}/redirect?status=308&to={target}")
    assert len(receiver.received) == 1


def test_a_redirect_to_another_scheme_is_refused(receiver: Receiver) -> None:
    with pytest.raises(OutboundRefused, match="only http and https"):
        _post(f"{receiver.url}/redirect?status=307&to=file:///etc/passwd")


def test_a_303_is_the_answer_not_followed(receiver: Receiver, second_receiver: Receiver) -> None:
    response = _post(f"{receiver.url}/redirect?status=303&to={second_receiver.url}/echo")
    assert response.status == 303
    assert response.headers["location"] == f"{second_receiver.url}/echo"
    assert second_receiver.received == []


def test_too_many_redirects_fail(receiver: Receiver) -> None:
    loop = f"{receiver.url}/redirect?status=307&to=/redirect%3Fstatus%3D307%26to%3D/echo"
    assert _post(loop, max_redirects=2).status == 200  # two redirects: followed
    with pytest.raises(OutboundFailed, match="more than 1 redirects"):
        _post(loop, max_redirects=1)


# --- bounds --------------------------------------------------------------------------------------


def test_a_receiver_that_does_not_answer_in_time_fails_the_call(receiver: Receiver) -> None:
    with pytest.raises(OutboundFailed, match=r"no answer .*within 0.5 s"):
        _post(f"{receiver.url}/slow", timeout=0.5)
    assert len(receiver.received) == 1  # it was sent; the answer did not come


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout(receiver: Receiver) -> None:
    # Every read gets a byte within 0.2 s, so a per-read timeout of 1 s alone would wait ~10 s for the
    # status line and then succeed; the call's own limit ends it instead.
    with pytest.raises(OutboundFailed, match=r"within 1 s"):
        _post(f"{receiver.url}/trickle", timeout=1.0)
    # The connection was dropped at the limit: the receiver could not finish its answer.
    assert receiver.hung_up_on.wait(timeout=8)


def test_the_answer_is_read_up_to_the_cap(receiver: Receiver) -> None:
    assert _post(f"{receiver.url}/big").body == b"x" * 64_000
    assert _post(f"{receiver.url}/big", max_response_bytes=1000).body == b"x" * 1000


def test_nothing_listening_fails_the_call() -> None:
    with socket.socket() as sock:  # a port bound but not listening: connection refused
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(OutboundFailed, match="cannot connect to 127.0.0.1"):
            _post(f"http://127.0.0.1:{sock.getsockname()[1]}/echo")


def test_https_to_a_plain_http_receiver_fails_in_tls(receiver: Receiver) -> None:
    with pytest.raises(OutboundFailed):
        _post(f"https://127.0.0.1:{receiver.port}/echo", timeout=5.0)


# --- URLs refused as given -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:70/", "only http and https"),
        ("http://user:secret@example.com/hook", "user name or password"),
        ("http://@example.com/hook", "user name or password"),
        ("http:///hook", "no host"),
        ("http://example.com:0/hook", "port must be 1 to 65535"),
        ("http://example.com:70000/hook", "not a valid URL"),
        ("http://example.com/a b", "spaces or control characters"),
        ("http://[::ffff:127.0.0.1]/hook", r"\(loopback, embedded in IPv6\)"),
        ("http://[::ffff:169.254.169.254]/", r"\(cloud metadata, embedded in IPv6\)"),
        ("http://[64:ff9b::a9fe:a9fe]/", r"\(cloud metadata, embedded in IPv6\)"),
        ("http://[2002:a00:1::1]/", r"\(private, embedded in IPv6\)"),
        ("http://169.254.169.254/latest/meta-data/", r"\(cloud metadata\)"),
        ("http://[fd00:ec2::254]/", r"\(cloud metadata\)"),
        ("http://0.0.0.0:8000/", r"\(this network\)"),
        ("http://100.64.1.1/", "CGNAT"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "broadcast"),
        ("http://192.168.1.1/", r"\(private\)"),
    ],
)
def test_urls_that_may_not_be_called(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused, match=reason):
        check_url(url, NOTHING)
    with pytest.raises(OutboundRefused, match=reason):
        post(url, b"{}", {}, allow=NOTHING, timeout=2.0)


def test_a_name_that_cannot_be_resolved_is_refused_at_registration_and_fails_at_send() -> None:
    # Offline (and for a reserved name online too) example.invalid never resolves.
    with pytest.raises(OutboundRefused, match="cannot resolve example.invalid"):
        check_url("https://example.invalid/hook", NOTHING)
    with pytest.raises(OutboundFailed, match="cannot resolve example.invalid"):
        post("https://example.invalid/hook", b"{}", {}, allow=NOTHING, timeout=5.0)


def test_the_allow_list_lets_an_operator_reach_a_private_network() -> None:
    allow = AllowList.parse("10.0.0.0/8, fd00::/8")
    check_url("http://10.1.2.3:8080/hook", allow)
    check_url("http://[fd12::1]/hook", allow)
    with pytest.raises(OutboundRefused):
        check_url("http://192.168.0.1/hook", allow)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("127.0.0.2", "loopback"),
        ("172.20.0.1", "private"),
        ("192.0.2.1", "not a public address"),  # documentation
        ("::7f00:1", "IPv4-compatible (deprecated)"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
    ],
)
def test_which_addresses_are_public(address: str, reason: str | None) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


# --- the setting ---------------------------------------------------------------------------------


def test_the_setting_is_parsed_once_and_a_bad_entry_stops_the_server_naming_it() -> None:
    settings = load_settings(environ={"CALEDEE_OUTBOUND_ALLOW": " 127.0.0.1, [::1] ,10.0.0.0/8,"})
    allow = settings.outbound_allow_list
    assert allow is settings.outbound_allow_list
    assert [str(network) for network in allow.networks] == ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]
    assert allow.allows(ipaddress.ip_address("10.9.8.7")) and not allow.allows(ipaddress.ip_address("::2"))
    assert load_settings(environ={}).outbound_allow_list == AllowList()
    with pytest.raises(ConfigError, match=r"outbound_allow \(CALEDEE_OUTBOUND_ALLOW\).*'localhost'"):
        load_settings(environ={"CALEDEE_OUTBOUND_ALLOW": "127.0.0.1,localhost"})
    with pytest.raises(ConfigError, match="outbound_timeout_seconds"):
        load_settings(environ={"CALEDEE_OUTBOUND_TIMEOUT_SECONDS": "0"})
