"""The pure first half of the iMIP pipeline: calendars found in mail as real senders shape it, their
iTIP method, and Windows time zone names. Messages are built with the stdlib email package the way
Google Calendar, Outlook and a forwarding mail client build them."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from caldee_dav.ical.tzids import iana_zone_for
from inbound.method import body_method, itip_method
from inbound.mime import CalendarPart, MessageTooComplex, calendar_parts, normalized


def invitation(
    *,
    method: str | None = "REQUEST",
    uid: str = "abc123@google.com",
    summary: str = "Project sync",
    tzid: str = "Europe/Berlin",
) -> str:
    method_line = f"METHOD:{method}\r\n" if method else ""
    return (
        "BEGIN:VCALENDAR\r\n"
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
        "VERSION:2.0\r\n"
        f"{method_line}"
        "BEGIN:VEVENT\r\n"
        f"DTSTART;TZID={tzid}:20300105T100000\r\n"
        f"DTEND;TZID={tzid}:20300105T110000\r\n"
        "DTSTAMP:20300101T090000Z\r\n"
        "ORGANIZER;CN=Alice:mailto:alice@example.com\r\n"
        f"UID:{uid}\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:cal-1@localhost\r\n"
        f"SUMMARY:{summary}\r\n"
        "SEQUENCE:0\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def headers(message: EmailMessage, subject: str = "Invitation: Project sync") -> EmailMessage:
    message["From"] = "Alice <alice@example.com>"
    message["To"] = "cal-1@localhost"
    message["Subject"] = subject
    message["Message-ID"] = "<m1@example.com>"
    return message


def google_invitation(ics: str) -> bytes:
    """multipart/mixed: alternative (text, html, text/calendar; method=REQUEST), then invite.ics."""
    message = headers(EmailMessage())
    message.set_content("You have been invited to Project sync")
    message.add_alternative("<p>You have been invited to <b>Project sync</b></p>", subtype="html")
    message.add_alternative(ics, subtype="calendar", params={"method": "REQUEST"})
    message.add_attachment(
        ics.encode(), maintype="application", subtype="ics", filename="invite.ics", cte="base64"
    )
    return message.as_bytes()


def outlook_invitation(ics: str) -> bytes:
    """multipart/alternative: text, html, then base64 text/calendar; method=REQUEST."""
    message = headers(EmailMessage())
    message.set_content("Project sync\n\nMicrosoft Teams meeting")
    message.add_alternative("<html><body>Project sync</body></html>", subtype="html")
    message.add_alternative(
        ics.encode(), maintype="text", subtype="calendar", cte="base64", params={"method": "REQUEST"}
    )
    return message.as_bytes()


def calendar_message(ics: bytes, *, charset: str, cte: str, method: str | None = "REQUEST") -> bytes:
    """A message that is one text/calendar part, its bytes as given, in the charset it names."""
    message = headers(EmailMessage())
    params = {"method": method} if method else {}
    message.set_content(ics, maintype="text", subtype="calendar", cte=cte, params=params)
    message.set_param("charset", charset)
    return message.as_bytes()


def test_google_calendar_invitation_gives_its_calendar_once_with_its_method() -> None:
    ics = invitation()
    parts = calendar_parts(google_invitation(ics))
    assert len(parts) == 1
    assert normalized(parts[0].text) == normalized(ics)
    assert parts[0].mime_method == "REQUEST"
    assert itip_method(parts[0]) == "REQUEST"


def test_duplicate_without_mime_method_first_takes_the_method_of_its_copy() -> None:
    ics = invitation()
    message = headers(EmailMessage())
    message.set_content("see attached")
    message.add_attachment(ics.encode(), maintype="application", subtype="ics", filename="invite.ics")
    message.add_attachment(
        ics.replace("\r\n", "\n").encode(),
        maintype="text",
        subtype="calendar",
        params={"method": "request"},
        cte="quoted-printable",
    )
    parts = calendar_parts(message.as_bytes())
    assert [(part.mime_method, part.filename) for part in parts] == [("REQUEST", "invite.ics")]


def test_outlook_invitation_in_base64_with_a_windows_zone() -> None:
    ics = invitation(uid="040000008200E00074C5B7101A82E008", tzid="W. Europe Standard Time")
    parts = calendar_parts(outlook_invitation(ics))
    assert len(parts) == 1
    assert "UID:040000008200E00074C5B7101A82E008" in parts[0].text
    assert itip_method(parts[0]) == "REQUEST"
    assert iana_zone_for("W. Europe Standard Time") == "Europe/Berlin"


def test_quoted_printable_utf8_keeps_accents_and_long_lines() -> None:
    summary = "Réunion d'équipe — planning trimestriel " + "x" * 120
    ics = invitation(summary=summary)
    parts = calendar_parts(calendar_message(ics.encode(), charset="utf-8", cte="quoted-printable"))
    assert f"SUMMARY:{summary}" in parts[0].text


def test_latin1_charset_is_decoded_with_the_parts_charset() -> None:
    ics = invitation(summary="Café à Zürich")
    parts = calendar_parts(calendar_message(ics.encode("latin-1"), charset="iso-8859-1", cte="8bit"))
    assert "SUMMARY:Café à Zürich" in parts[0].text


@pytest.mark.parametrize("charset", ["x-no-such-charset", "zlib", "rot13"])
def test_unknown_or_non_text_charset_falls_back_to_utf8(charset: str) -> None:
    ics = invitation(summary="Café")
    raw = calendar_message(ics.encode() + b"X-BROKEN:\xff\r\n", charset=charset, cte="base64")
    text = calendar_parts(raw)[0].text
    assert "SUMMARY:Café" in text
    assert "X-BROKEN:\ufffd" in text


def test_wrong_charset_for_the_bytes_falls_back_to_utf8_with_replacement() -> None:
    raw = calendar_message(invitation(summary="Caf\u00e9").encode() + b"\xff", charset="ascii", cte="base64")
    text = calendar_parts(raw)[0].text
    assert "SUMMARY:Café" in text and text.endswith("\ufffd")


def test_message_without_calendar_gives_nothing() -> None:
    message = headers(EmailMessage(), subject="Lunch?")
    message.set_content("Lunch tomorrow?")
    message.add_alternative("<p>Lunch tomorrow?</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="menu.pdf")
    assert calendar_parts(message.as_bytes()) == []


@pytest.mark.parametrize("garbage", [b"", b"\x00\xff" * 500, b"Content-Type: multipart/mixed\r\n\r\n--"])
def test_garbage_gives_nothing(garbage: bytes) -> None:
    assert calendar_parts(garbage) == []


def test_forwarded_invitation_inside_message_rfc822() -> None:
    original = google_invitation(invitation(uid="forwarded@google.com"))
    forward = headers(EmailMessage(), subject="Fwd: Invitation: Project sync")
    forward.set_content("FYI, see the forwarded invitation.")
    forward.add_attachment(message_from_bytes(original, policy=policy.default))
    raw = forward.as_bytes()
    assert b"message/rfc822" in raw
    parts = calendar_parts(raw)
    assert len(parts) == 1
    assert "UID:forwarded@google.com" in parts[0].text


def test_ics_attachment_named_by_filename_only() -> None:
    message = headers(EmailMessage())
    message.set_content("attached")
    message.add_attachment(
        invitation(uid="octet@example.com").encode(),
        maintype="application",
        subtype="octet-stream",
        filename="Meeting.ICS",
    )
    parts = calendar_parts(message.as_bytes())
    assert [part.filename for part in parts] == ["Meeting.ICS"]
    assert "UID:octet@example.com" in parts[0].text


def test_two_different_calendars_are_both_kept_in_order() -> None:
    message = headers(EmailMessage())
    message.set_content("two invitations")
    for uid, filename in [("one", "a.ics"), ("two", "b.ics")]:
        ics = invitation(uid=uid).encode()
        message.add_attachment(ics, maintype="text", subtype="calendar", filename=filename)
    assert [part.filename for part in calendar_parts(message.as_bytes())] == ["a.ics", "b.ics"]


def test_same_calendar_refolded_is_one() -> None:
    ics = invitation(summary="A long summary " * 10)
    folded = ics.replace("SUMMARY:A long summary A long", "SUMMARY:A long summary A\r\n  long")
    assert folded != ics
    message = headers(EmailMessage())
    message.set_content("two copies")
    message.add_attachment(ics.encode(), maintype="text", subtype="calendar", filename="a.ics")
    message.add_attachment(
        ("\ufeff" + folded).encode(), maintype="text", subtype="calendar", filename="b.ics", cte="base64"
    )
    assert len(calendar_parts(message.as_bytes())) == 1


def part(text: str, mime_method: str | None) -> CalendarPart:
    return CalendarPart(text=text, mime_method=mime_method, content_type="text/calendar", filename=None)


@pytest.mark.parametrize(
    ("body", "mime", "expected"),
    [
        ("CANCEL", None, "CANCEL"),  # the parameter is missing: the body says
        ("CANCEL", "REQUEST", "CANCEL"),  # they disagree: the body wins
        (None, "reply", "REPLY"),  # no METHOD in the body: the parameter, upper-cased
        ("publish", None, "PUBLISH"),
        (None, None, None),
        ("FROBNICATE", "REQUEST", None),  # the body's method is what would be applied, and is unknown
        (None, "x-unknown", None),
    ],
)
def test_itip_method_body_wins(body: str | None, mime: str | None, expected: str | None) -> None:
    assert itip_method(part(invitation(method=body), mime)) == expected


def test_body_method_is_the_calendars_own_folded_or_not() -> None:
    assert body_method("BEGIN:VCALENDAR\nMETH\n OD:Counter\nEND:VCALENDAR") == "COUNTER"
    nested = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nMETHOD:CANCEL\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    assert body_method(nested) is None
    assert body_method("") is None


def test_too_many_parts_is_refused() -> None:
    message = headers(EmailMessage())
    message.set_content("many")
    for index in range(30):
        message.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{index}.bin")
    raw = message.as_bytes()
    assert calendar_parts(raw, max_parts=40) == []
    with pytest.raises(MessageTooComplex):
        calendar_parts(raw, max_parts=20)


def nested_digests(depth: int, newline: bytes) -> bytes:
    """multipart/digest in a digest's part (a message/rfc822 by default) in a digest, ``depth`` deep."""
    levels = [b"Content-Type: multipart/digest; boundary=b0" + newline * 2]
    for level in range(1, depth):
        boundary = b"--b%d" % (level - 1)
        header = b"Content-Type: multipart/digest; boundary=b%d" % level
        levels.append(boundary + newline * 2 + header + newline * 2)
    return b"".join(levels)


@pytest.mark.parametrize("newline", [b"\r\n", b"\n", b"\r"])
def test_deep_nesting_is_refused_before_the_parser_recurses(newline: bytes) -> None:
    assert calendar_parts(nested_digests(40, newline)) == []
    for depth in (101, 5000):  # 5000 deep would be a RecursionError inside the stdlib parser
        with pytest.raises(MessageTooComplex):
            calendar_parts(nested_digests(depth, newline))


def test_too_much_calendar_data_is_refused() -> None:
    raw = google_invitation(invitation(summary="x" * 5000))
    assert len(calendar_parts(raw, max_decoded_bytes=20_000)) == 1
    with pytest.raises(MessageTooComplex):
        calendar_parts(raw, max_decoded_bytes=8_000)


@pytest.mark.parametrize(
    ("tzid", "iana"),
    [
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Romance Standard Time", "Europe/Paris"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("Eastern Standard Time", "America/New_York"),
        ("GMT Standard Time", "Europe/London"),
        ('"Pacific Standard Time"', "America/Los_Angeles"),
        ("pacific standard time", "America/Los_Angeles"),
        ("Pacific Daylight Time", "America/Los_Angeles"),
        ("Europe/Amsterdam", "Europe/Amsterdam"),
        ("europe/amsterdam", "Europe/Amsterdam"),
        ("/mozilla.org/20050126_1/America/New_York", "America/New_York"),
        ("/freeassociation.sourceforge.net/Tzfile/Europe/Berlin", "Europe/Berlin"),
        ("tzone://Microsoft/Utc", "UTC"),
        ("UTC", "UTC"),
        ("Customized Time Zone", None),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", None),
        ("Nowhere Standard Time", None),
        ("", None),
        ("../../etc/passwd", None),
        ("Europe/Berlin\x00", None),
        ("x" * 10_000, None),
        (None, None),
    ],
)
def test_iana_zone_for(tzid: object, iana: str | None) -> None:
    assert iana_zone_for(tzid) == iana
