"""One received message, applied to each calendar it is addressed to: one transaction per calendar.

Both doors use it: the SMTP server (recipients resolved at RCPT time) and ``POST /inbound/{token}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caldee_dav import clock, db
from caldee_dav.config import Settings
from caldee_dav.scheduling import inbound_mail
from caldee_dav.scheduling.inbound_mail import LoggedMessage, ReceivedMail

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Delivery:
    """What a message did in one calendar (``logged`` None: no such calendar any more)."""

    recipient: str
    logged: LoggedMessage | None


def known_recipient(engine: Engine, settings: Settings, address: str) -> bool:
    """Whether ``address`` is a calendar's inbound address (the SMTP server asks at RCPT time)."""
    with db.read_unit(engine) as session:
        return inbound_mail.calendar_for_address(session, address, settings.mail_domain) is not None


def deliver_to_addresses(
    engine: Engine, settings: Settings, mail: ReceivedMail, addresses: Sequence[str]
) -> list[Delivery]:
    deliveries = []
    # Parsing needs no transaction: done before one opens.
    read = inbound_mail.read_calendars(mail, settings, clock.now())
    for address in dict.fromkeys(a.lower() for a in addresses):
        worked = read
        if _work_ahead(engine):
            with db.read_unit(engine) as session:
                head = inbound_mail.calendar_head_for_address(session, address, settings.mail_domain)
                if head is not None:
                    worked = inbound_mail.work_ahead(session, settings, head, mail, read, clock.now())
        with db.write_unit(engine) as session:
            calendar = inbound_mail.calendar_for_address(session, address, settings.mail_domain)
            logged = None
            if calendar is not None:
                logged = inbound_mail.receive(session, settings, calendar, mail, clock.now(), worked)
            deliveries.append(Delivery(address, logged))
    return deliveries


def deliver_to_token(
    engine: Engine, settings: Settings, mail: ReceivedMail, token: str
) -> LoggedMessage | None:
    """Apply ``mail`` to the calendar whose inbound URL has ``token``; None when none has."""
    read = worked = inbound_mail.read_calendars(mail, settings, clock.now())
    if _work_ahead(engine):
        with db.read_unit(engine) as session:
            head = inbound_mail.calendar_head_for_token(session, token)
            if head is not None:
                worked = inbound_mail.work_ahead(session, settings, head, mail, read, clock.now())
    with db.write_unit(engine) as session:
        calendar = inbound_mail.calendar_for_token(session, token)
        if calendar is None:
            return None
        return inbound_mail.receive(session, settings, calendar, mail, clock.now(), worked)


def _work_ahead(engine: Engine) -> bool:
    """Whether to work the changes out before the write transaction, in a read-only unit of their own
    (the transaction then checks that nothing changed meanwhile, and writes). On SQLite, yes: the
    transaction holds the whole database's one write lock from its first statement. On PostgreSQL,
    no: it locks only the rows it writes, when it writes them (a calendar's, at the end), so working
    the changes out inside it holds nobody up, and a unit of their own would cost its round trips."""
    return not db.on_postgresql(engine)
