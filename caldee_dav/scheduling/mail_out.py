"""Outgoing iMIP mail (RFC 6047): invitations, updates and cancellations of bookings, replies to
invitations, queued as ``OutboundMail`` rows in the caller's transaction.

Queued, not sent: the row is written in the transaction of the change it tells about, so a rolled-back
booking sends nothing and a crash after the commit loses nothing. ``mail_delivery`` sends the queue
after the commit, off the request thread.

Every message has the same shape, the one mail clients offer to add to a calendar::

    multipart/mixed
      multipart/alternative
        text/plain                                   what, when (the recipient's zone), where, who, the change
        text/calendar; method=...; charset=UTF-8     the iTIP object (``caldee_dav.ical.itip_out``)
      application/ics  invite.ics                    the same object as an attachment

From is the server's address (``settings.mail_sender``) with the host's (or replying owner's) name,
Reply-To the person's own address: answers reach a human, while the relay only ever sends as itself.
``Auto-Submitted`` keeps auto-responders quiet; ``X-Caledee-Mail`` lets the inbound pipeline skip our
own messages when they come back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from email import errors as email_errors
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from caldee_dav.config import Settings
from caldee_dav.ical import itip_out
from caldee_dav.ical.events import Person, RecurrenceKey, When
from caldee_dav.models import Booking, EventType, OutboundMail, User, new_id
from caldee_dav.scheduling import booking_calendar, booking_ical
from caldee_dav.scheduling.booking_ical import BookingEvent
from caldee_dav.zones import zone_named

log = logging.getLogger(__name__)

# Set in ``Session.info`` when a mail was queued: ``mail_delivery.MailSender`` wakes up after the
# commit of such a session instead of at its next round.
MAIL_QUEUED = "caledee.mail_queued"
# 7-bit transfer encodings only (quoted-printable or base64 for anything not ASCII): the stored message
# is ASCII, goes through any relay unchanged, and reads the same from an .eml file.
MAIL_POLICY = policy.default.clone(cte_type="7bit")
ATTACHMENT_NAME = "invite.ics"


class BookingChange(StrEnum):
    """What happened to a booking; decides the message's kind, iTIP method and wording."""

    CREATED = "created"
    CONFIRMED = "confirmed"
    RESCHEDULED = "rescheduled"
    CANCELED = "canceled"
    DECLINED = "declined"
    # Not a change: the booking is near (``time_events``). A REQUEST of the event as it is, same SEQUENCE:
    # calendar clients show it as the invitation again, with nothing to update.
    REMINDER = "reminder"


# ``OutboundMail.kind`` of each change.
KIND = {
    BookingChange.CREATED: "invitation",
    BookingChange.CONFIRMED: "update",
    BookingChange.RESCHEDULED: "update",
    BookingChange.CANCELED: "cancellation",
    BookingChange.DECLINED: "cancellation",
    BookingChange.REMINDER: "reminder",
}
SUBJECT_WORD = {
    BookingChange.CREATED: "Booked",
    BookingChange.CONFIRMED: "Confirmed",
    BookingChange.RESCHEDULED: "Moved",
    BookingChange.CANCELED: "Cancelled",
    BookingChange.DECLINED: "Declined",
    BookingChange.REMINDER: "Reminder",
}
REPLY_WORD = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative"}
REPLY_VERB = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentatively accepted",
}


@dataclass(frozen=True)
class Letter:
    """One message before it is composed: who, what it says, the iTIP object it carries."""

    mail_id: str
    sender_name: str | None
    reply_to: Person
    to: Sequence[Person]
    subject: str
    text: str
    method: str
    calendar_text: str


# --- bookings -----------------------------------------------------------------------------------


def queue_booking_mail(
    session: Session,
    settings: Settings,
    booking: Booking,
    change: BookingChange,
    now: datetime,
    *,
    previous_start: datetime | None = None,
    minutes_before: int | None = None,
) -> OutboundMail | None:
    """Queue the message telling the invitee and guests about ``change`` (``previous_start``: where a
    rescheduled booking was; ``minutes_before``: how long before the start a reminder is). A REQUEST
    with the booking's current VEVENT, or a CANCEL for a canceled or declined booking. None when no
    recipient has an address mail can be sent to."""
    event_type = session.get(EventType, booking.event_type_id)
    assert event_type is not None  # bookings are deleted with their event type
    event = booking_calendar.build_event(session, booking, event_type, now)
    stored = booking_ical.booking_text(event)
    ending = change in (BookingChange.CANCELED, BookingChange.DECLINED)
    calendar_text = itip_out.cancel(stored) if ending else itip_out.request(stored)
    zone = zone_named(booking.invitee_timezone) or ZoneInfo("UTC")
    host = event.organizer
    mail_id = new_id("mail")
    letter = Letter(
        mail_id=mail_id,
        sender_name=host.name,
        reply_to=host,
        to=list(event.invitees),  # the invitee, then the guests
        subject=f"{SUBJECT_WORD[change]}: {event_type.name} with {_name(host)}"
        f" on {_short_when(event.start, zone)}",
        text=_booking_text(booking, event, event_type, change, zone, previous_start, minutes_before),
        method=itip_out.CANCEL if ending else itip_out.REQUEST,
        calendar_text=calendar_text,
    )
    return _queue(session, settings, letter, kind=KIND[change], booking_id=booking.id, now=now)


def _booking_headline(
    booking: Booking,
    event: BookingEvent,
    change: BookingChange,
    zone: ZoneInfo,
    previous_start: datetime | None,
    minutes_before: int | None,
) -> list[str]:
    host = _name(event.organizer)
    if change is BookingChange.REMINDER:
        return [f"Your booking with {host} starts {_starts_in(minutes_before or 0)}."]
    if change is BookingChange.CREATED and event.status == booking_ical.TENTATIVE:  # a pending booking
        return [
            f"Your booking request has been sent to {host}. It awaits {host}'s confirmation: until then"
            " the event is tentative, and you will get another message when it is confirmed or declined."
        ]
    if change is BookingChange.CREATED:
        return [f"Your booking with {host} is confirmed."]
    if change is BookingChange.CONFIRMED:
        return [f"{host} confirmed your booking."]
    if change is BookingChange.RESCHEDULED:
        moved = f"Your booking with {host} has moved to a new time"
        if previous_start is not None:
            return [f"{moved} (it was {_short_when(previous_start, zone)})."]
        return [f"{moved}."]
    lines = [
        f"{host} declined your booking request."
        if change is BookingChange.DECLINED
        else f"Your booking with {host} has been cancelled."
    ]
    if booking.cancel_reason:
        lines.append(f"Reason: {booking.cancel_reason}")
    return lines


def _booking_text(
    booking: Booking,
    event: BookingEvent,
    event_type: EventType,
    change: BookingChange,
    zone: ZoneInfo,
    previous_start: datetime | None,
    minutes_before: int | None = None,
) -> str:
    host = _name(event.organizer)
    people = [f"{_labelled(event.organizer)} (host)"]
    people += [_labelled(p) for p in event.cohosts]
    people += [_labelled(p) for p in event.invitees]
    lines = _booking_headline(booking, event, change, zone, previous_start, minutes_before)
    lines += ["", f"What:   {event_type.name}", f"When:   {_when(event.start, event.end, zone)}"]
    if event.location:
        lines.append(f"Where:  {event.location}")
    lines.append(f"Who:    {people[0]}")
    lines += [f"        {person}" for person in people[1:]]
    if booking.notes:
        lines += ["", "Notes:", booking.notes.strip()]
    lines += ["", f"Reply to this message to write to {host}."]
    return "\n".join(lines) + "\n"


# --- replies ------------------------------------------------------------------------------------


def queue_reply(
    session: Session,
    settings: Settings,
    owner: User,
    calendar_text: str,
    key: RecurrenceKey | None,
    addresses: Sequence[str],
    zone: ZoneInfo,
    now: datetime,
) -> OutboundMail | None:
    """Queue the owner's REPLY (their PARTSTAT, as ``calendar_text`` now holds it, answering the event
    or its occurrence ``key``) to the event's ORGANIZER. ``addresses``: the owner's (their email, the
    calendar's inbound address). None when there is nobody to tell: no organizer, or the owner is it."""
    try:
        answer = itip_out.reply(calendar_text, addresses, key, zone, now)
    except itip_out.NotAnEvent as exc:
        log.warning("no reply sent for a response of %s: %s", owner.id, exc)
        return None
    if answer is None:
        return None
    owner_person = Person(owner.email, owner.display_name or None)
    verb = REPLY_VERB.get(answer.partstat, answer.partstat.lower())
    title = answer.summary or "(no title)"
    lines = [
        f"{_name(owner_person)} has {verb} your invitation.",
        "",
        f"What:   {title}",
        f"When:   {_moment(answer.start, zone)}",
        f"Who:    {_labelled(owner_person)}",
    ]
    letter = Letter(
        mail_id=new_id("mail"),
        sender_name=owner_person.name,
        reply_to=owner_person,
        to=[answer.organizer],
        subject=f"{REPLY_WORD.get(answer.partstat, answer.partstat.title())}: {title}",
        text="\n".join(lines) + "\n",
        method=itip_out.REPLY,
        calendar_text=answer.text,
    )
    return _queue(session, settings, letter, kind="reply", booking_id=None, now=now)


# --- composing and queueing ---------------------------------------------------------------------


def _queue(
    session: Session, settings: Settings, letter: Letter, *, kind: str, booking_id: str | None, now: datetime
) -> OutboundMail | None:
    letter = replace(letter, to=[p for p in letter.to if _sendable(p.email)])
    recipients = list(dict.fromkeys(p.email.lower() for p in letter.to))
    if not recipients:
        log.warning("%s %s not queued: no recipient address mail can be sent to", kind, letter.mail_id)
        return None
    try:
        message = compose(letter, settings, now)
    except (ValueError, email_errors.MessageError) as exc:
        # A name or address the email package will not put in a header: the change itself stands.
        log.warning("%s %s not queued: %s", kind, letter.mail_id, exc)
        return None
    row = OutboundMail(
        id=letter.mail_id,
        kind=kind,
        booking_id=booking_id,
        sender=settings.mail_sender,
        recipients=recipients,
        subject=letter.subject,
        message=message.as_string(),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.info[MAIL_QUEUED] = True
    return row


def compose(letter: Letter, settings: Settings, now: datetime) -> EmailMessage:
    """The RFC 6047 message of ``letter``."""
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = Address(_header_text(letter.sender_name), addr_spec=settings.mail_sender)
    message["Reply-To"] = _address(letter.reply_to)
    message["To"] = [_address(p) for p in letter.to]
    message["Subject"] = _header_text(letter.subject)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = f"<{letter.mail_id}@{settings.mail_domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Caledee-Mail"] = letter.mail_id
    message.set_content(letter.text)
    params = {"method": letter.method}
    message.add_alternative(letter.calendar_text, subtype="calendar", charset="UTF-8", params=params)
    message.add_attachment(
        letter.calendar_text.encode(), maintype="application", subtype="ics", filename=ATTACHMENT_NAME
    )
    return message


def _sendable(email: str) -> bool:
    """Whether ``email`` can go in a header and an SMTP envelope as it is (ASCII: no SMTPUTF8)."""
    if not email.isascii() or any(c.isspace() for c in email) or "@" not in email:
        return False
    try:
        Address(addr_spec=email)
    except (ValueError, email_errors.MessageError):
        return False
    return True


def _header_text(text: str | None) -> str:
    """One line: user-given names and titles may hold line breaks, which no header may."""
    return " ".join((text or "").split())


def _address(person: Person) -> Address:
    return Address(_header_text(person.name), addr_spec=person.email)


def _name(person: Person) -> str:
    return _header_text(person.name) or person.email


def _labelled(person: Person) -> str:
    name = _header_text(person.name)
    return f"{name} <{person.email}>" if name else person.email


# --- times as the recipient reads them ----------------------------------------------------------


def _starts_in(minutes: int) -> str:
    """``in 1 hour``, ``in 2 days``, ``in 1 hour 30 minutes``, ``now``: how far ahead a reminder is."""
    if minutes <= 0:
        return "now"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if n
    ]
    return "in " + " ".join(parts)


def _day(moment: datetime | date) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _short_when(start: datetime, zone: ZoneInfo) -> str:
    """``Mon 4 Jan 2027 09:00 Europe/London``: no parentheses, which the email package reads as a
    comment and folds a subject around."""
    local = start.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y} {local:%H:%M} {zone.key}"


def _when(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``Monday 4 January 2027, 09:00 - 10:00 (Europe/London)``; the end's day too when it differs."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    until = f"{last:%H:%M}" if first.date() == last.date() else f"{_day(last)}, {last:%H:%M}"
    return f"{_day(first)}, {first:%H:%M} - {until} ({zone.key})"


def _moment(value: When | None, zone: ZoneInfo) -> str:
    """A DTSTART in ``zone`` (floating times are already local; a date is all day)."""
    if value is None:
        return "(no time given)"
    if not isinstance(value, datetime):
        return f"{_day(value)} (all day)"
    local = value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)
    return f"{_day(local)}, {local:%H:%M} ({zone.key})"
