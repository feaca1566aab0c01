"""The inbound SMTP server (``caledee inbound``): aiosmtpd, taking mail for the calendars' addresses.

Refused while the client is still sending the envelope, so nothing is stored for them: a recipient
that is no calendar's address (550 at RCPT), more recipients than one message may have (452), a
message over ``inbound_max_message_bytes`` (552, announced in EHLO SIZE; aiosmtpd counts as it reads).
Everything else is applied before the server answers the DATA command: a client whose message got 250
finds the event in the calendar. A message that cannot be processed for a reason of ours (the database
down) gets 451, a temporary failure the sending server retries.

Each process applies one message at a time, in its event loop's own thread (see ``apply``); more
cores, more processes: ``inbound_workers`` processes share the port. With ``inbound_tls_cert`` and
``inbound_tls_key`` the server offers STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import ssl
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from aiosmtpd.smtp import SMTP, Envelope, Session

from caldee_dav import db
from caldee_dav.config import Settings
from inbound import pipeline
from inbound.reader import read_mail

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
# RFC 5321 allows 1,000 octets a line; calendar mail often has longer (HTML bodies, unfolded lines from
# sloppy exporters). Accepted up to this, still bounded, rather than losing the invitation.
MAX_LINE_BYTES = 100_000
# How long, and for how many addresses, a calendar address found at RCPT is taken without asking again.
KNOWN_ADDRESS_SECONDS = 60.0
KNOWN_ADDRESSES = 10_000


class InvitationHandler:
    """aiosmtpd's handler: checks recipients, applies each message to its calendars."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        # Calendar addresses found at RCPT, and until when they are taken without asking the database:
        # a sender delivers many messages to one calendar. Only addresses found are remembered (a
        # calendar made a moment ago must not get a 550, which senders do not retry); one deleted
        # meanwhile gets "no such calendar" in the DATA reply, as when it goes between RCPT and DATA.
        self.known_addresses: OrderedDict[str, float] = OrderedDict()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if not self._known(address):
            return "550 5.1.1 No calendar has this address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    def _known(self, address: str) -> bool:
        key = address.strip().lower()
        remembered = self.known_addresses.get(key)
        if remembered is not None and remembered > time.monotonic():
            return True
        if not pipeline.known_recipient(self.engine, self.settings, address):
            self.known_addresses.pop(key, None)
            return False
        self.known_addresses[key] = time.monotonic() + KNOWN_ADDRESS_SECONDS
        self.known_addresses.move_to_end(key)
        while len(self.known_addresses) > KNOWN_ADDRESSES:
            self.known_addresses.popitem(last=False)
        return True

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            deliveries = self.apply(raw, list(envelope.rcpt_tos))
        except Exception:
            log.exception("inbound message from %s could not be processed", envelope.mail_from)
            return "451 4.3.0 The message could not be processed now; try again later"
        outcomes = ", ".join(
            f"{d.recipient}: {d.logged.row.outcome if d.logged else 'no such calendar'}" for d in deliveries
        )
        return f"250 2.0.0 Accepted ({outcomes})"[:500]

    def apply(self, raw: bytes, recipients: list[str]) -> list[pipeline.Delivery]:
        """Read and apply a message, in the event loop's thread: the loop waits meanwhile.

        Why not a worker thread: the work is Python holding the GIL. With a thread for it, the loop
        (reading other connections) and the worker took turns at the GIL, and each turn and each
        hand-over of a message cost both threads: one process taking the benchmark's messages from
        one client spent 12.6 ms of CPU a message with the thread, 11.6 without. Two threads applying
        only took turns in the same way, and the one holding the database's write lock (or a
        calendar's row lock) waited for the GIL while the other parsed.

        The price: while a message is applied, its process answers none of its other connections;
        they wait (the kernel keeps what they send), as their messages would wait for the one applying
        thread. Every message is bounded (size, parts, components, recurrence budgets): the largest
        the bounds admit (5 MB of calendar, 900 weekly series) takes about 6 s, and the other
        processes go on taking mail meanwhile."""
        mail = read_mail(raw, via="smtp")
        return pipeline.deliver_to_addresses(self.engine, self.settings, mail, recipients)


class LenientSMTP(SMTP):
    line_length_limit = MAX_LINE_BYTES


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not (settings.inbound_tls_cert and settings.inbound_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.inbound_tls_cert, settings.inbound_tls_key)
    return context


def serve(settings: Settings, workers: int = 1) -> None:
    """Take mail until SIGINT or SIGTERM. With ``workers`` > 1, that many processes share the port
    (SO_REUSEPORT: the kernel spreads connections): parsing and indexing use every core."""
    if workers <= 1:
        _serve_one(settings, reuse_port=False)
        return
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the child: its own engine, loop and threads
            code = 0
            try:
                db.engine_for.cache_clear()
                _serve_one(settings, reuse_port=True)
            except BaseException:
                log.exception("inbound worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        if any(os.waitpid(pid, os.WNOHANG)[0] for pid in children):
            break  # a worker died: stop them all rather than serve on with fewer
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _serve_one(settings: Settings, *, reuse_port: bool) -> None:
    # A message makes tens of thousands of short-lived objects (the parser's): the collector's
    # default (a young collection every 700 allocations) runs often, and its full collections walk
    # everything the imports made. Those are frozen out of the collector's sight, and the young
    # generation collected less often: about 3 % of a message's instructions (callgrind).
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    engine = db.engine_for(settings.database_url)
    handler = InvitationHandler(engine, settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    options = {
        "hostname": settings.mail_domain,
        "ident": "Caledee inbound",
        "data_size_limit": settings.inbound_max_message_bytes,
        "tls_context": tls_context(settings),
        # Bytes as they came: the reader decodes each part by its own charset.
        "decode_data": False,
        "loop": loop,
    }
    server = loop.run_until_complete(
        loop.create_server(
            lambda: LenientSMTP(handler, **options),
            host=settings.inbound_host,
            port=settings.inbound_port,
            reuse_port=reuse_port,
        )
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
