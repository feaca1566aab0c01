"""Mail to a calendar over HTTP (issue #13): a message posted to the calendar's inbound URL, raw or as a
Postmark-style webhook JSON, is applied as mail is (the event shows over REST) and logged once; the log
pages and filters; allowed senders decide who may add events; strangers cannot cancel; rotated URLs,
oversize and malformed bodies are refused. Real server, both databases."""

from __future__ import annotations

import base64
import itertools
import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from inbound.postmark import BadAttachment, PostmarkInbound, to_rfc822
from inbound.reader import read_mail
from tests import dates
from tests.conftest import LiveServer, start_server, stop_server
from tests.scheduling_fixtures import Api, new_api

# Small, so that an oversize body is cheap to send (the setting's minimum is 1024).
MAX_MESSAGE_BYTES = 64 * 1024
ORGANIZER = "alice@example.com"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    started = start_server(
        database_url,
        tmp_path_factory.mktemp("inbound-server"),
        extra_env={"CALEDEE_INBOUND_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)},
    )
    yield started
    stop_server(started)


class Inbox:
    """An account's calendar as mail reaches it: its inbound URL, its events and its log over REST."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.api: Api = new_api(server)
        calendars = self.api.get("/calendars").json()["data"]
        self.calendar_id = calendars[0]["id"]
        self.path = f"/calendars/{self.calendar_id}"
        self.url = self.calendar()["inboundUrl"]

    def calendar(self) -> dict[str, Any]:
        response = self.api.get(self.path)
        assert response.status_code == 200, response.text
        return response.json()

    def post(
        self, body: bytes, content_type: str = "message/rfc822", url: str | None = None
    ) -> requests.Response:
        return requests.post(url or self.url, data=body, headers={"Content-Type": content_type}, timeout=30)

    def deliver(self, body: bytes, content_type: str = "message/rfc822") -> dict[str, Any]:
        response = self.post(body, content_type)
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, start: datetime) -> list[dict[str, Any]]:
        window = {
            "start": dates.api_utc(start - timedelta(days=1)),
            "end": dates.api_utc(start + timedelta(days=1)),
        }
        response = self.api.get(f"{self.path}/events", params=window)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def log(self, **params: Any) -> requests.Response:
        return self.api.get(f"{self.path}/inbound-messages", params=params)

    def logged(self, **params: Any) -> list[dict[str, Any]]:
        response = self.log(**params)
        assert response.status_code == 200, response.text
        return response.json()["data"]


@pytest.fixture
def inbox(server: LiveServer) -> Inbox:
    return Inbox(server)


def meeting_start() -> datetime:
    """A weekday morning some days ahead, a different hour each time (inside the indexing horizon)."""
    return dates.at(dates.next_weekday(dates.TUE, after_days=7), 8 + next(_numbers) % 8)


def invitation(
    uid: str, start: datetime, *, method: str = "REQUEST", summary: str = "Project sync", sequence: int = 0
) -> str:
    status = "STATUS:CANCELLED\r\n" if method == "CANCEL" else ""
    return (
        "BEGIN:VCALENDAR\r\n"
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
        "VERSION:2.0\r\n"
        f"METHOD:{method}\r\n"
        "BEGIN:VEVENT\r\n"
        f"DTSTART:{dates.ical_utc(start)}\r\n"
        f"DTEND:{dates.ical_utc(start + timedelta(hours=1))}\r\n"
        f"DTSTAMP:{dates.ical_utc(dates.now())}\r\n"
        f"ORGANIZER;CN=Alice:mailto:{ORGANIZER}\r\n"
        f"UID:{uid}\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.com\r\n"
        f"SUMMARY:{summary}\r\n"
        f"SEQUENCE:{sequence}\r\n"
        f"{status}"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )


def new_uid() -> str:
    return f"{secrets.token_hex(8)}@google.com"


def mail(ics: str | None, *, sender: str = ORGANIZER, subject: str = "Invitation: Project sync") -> bytes:
    """A message as Google Calendar shapes it: text, HTML and the calendar (alternatives), then invite.ics."""
    message = EmailMessage()
    message["From"] = f"Sender <{sender}>"
    message["To"] = "calendar@example.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@mail.example.com>"
    message.set_content(f"{subject}\n")
    if ics is not None:
        method = next(line[7:] for line in ics.splitlines() if line.startswith("METHOD:"))
        message.add_alternative(f"<p>{subject}</p>", subtype="html")
        message.add_alternative(ics, subtype="calendar", params={"method": method})
        message.add_attachment(
            ics.encode(), maintype="application", subtype="ics", filename="invite.ics", cte="base64"
        )
    return message.as_bytes()


def postmark_body(ics: str, *, sender: str = ORGANIZER, message_id: str | None = None) -> dict[str, Any]:
    """An inbound webhook as Postmark posts it: the .ics as a base64 attachment."""
    return {
        "From": sender,
        "FromName": "Alice",
        "FromFull": {"Email": sender, "Name": "Alice", "MailboxHash": ""},
        "To": "calendar@example.com",
        "ToFull": [{"Email": "calendar@example.com", "Name": "", "MailboxHash": ""}],
        "Subject": "Invitation: Planning",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "Date": "Thu, 5 Apr 2012 16:59:01 +0200",
        "MailboxHash": "",
        "TextBody": "You have been invited to Planning",
        "HtmlBody": "<p>You have been invited to <b>Planning</b></p>",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [
            {"Name": "X-Spam-Status", "Value": "No"},
            {"Name": "Message-ID", "Value": message_id or f"<{secrets.token_hex(8)}@mail.example.com>"},
        ],
        "Attachments": [
            {
                "Name": "invite.ics",
                "Content": base64.b64encode(ics.encode()).decode(),
                "ContentType": "text/calendar; method=REQUEST; charset=UTF-8",
                "ContentLength": len(ics.encode()),
            }
        ],
    }


def post_json(inbox: Inbox, body: Any) -> requests.Response:
    return requests.post(inbox.url, json=body, timeout=30)


# --- applied and logged --------------------------------------------------------------------------


def test_a_posted_invitation_creates_the_event_and_a_redelivery_changes_nothing(inbox: Inbox) -> None:
    start = meeting_start()
    uid = new_uid()
    raw = mail(invitation(uid, start, summary="Quarterly planning"))
    assert inbox.url.startswith(inbox.server.url + "/inbound/")

    first = inbox.deliver(raw)
    assert first["outcome"] == "created" and first["duplicate"] is False
    assert (first["via"], first["from"], first["method"], first["uids"]) == (
        "http",
        ORGANIZER,
        "REQUEST",
        [uid],
    )
    assert first["calendarId"] == inbox.calendar_id and first["id"].startswith("inm_")
    assert first["actions"] == [{"uid": uid, "recurrenceId": None, "outcome": "created", "reason": None}]
    [event] = inbox.events(start)
    assert (event["uid"], event["title"], event["status"]) == (uid, "Quarterly planning", "confirmed")
    assert event["start"] == dates.api_utc(start)

    again = inbox.deliver(raw)
    assert again["duplicate"] is True
    assert {k: v for k, v in again.items() if k != "duplicate"} == {
        k: v for k, v in first.items() if k != "duplicate"
    }
    assert inbox.events(start) == [event]
    [entry] = inbox.logged()
    assert entry == {k: v for k, v in first.items() if k != "duplicate"}


def test_a_postmark_webhook_with_the_ics_attached_creates_the_event(inbox: Inbox) -> None:
    start = meeting_start()
    uid = new_uid()
    body = postmark_body(invitation(uid, start, summary="Planning"), message_id="<planning-1@example.com>")
    response = post_json(inbox, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["outcome"], answer["from"], answer["subject"]) == (
        "created",
        ORGANIZER,
        "Invitation: Planning",
    )
    assert answer["messageId"] == "<planning-1@example.com>"  # the original's, not the webhook's id
    assert [e["title"] for e in inbox.events(start)] == ["Planning"]

    # The same mail arriving by webhook again is the same message.
    assert post_json(inbox, body).json()["duplicate"] is True
    assert len(inbox.logged()) == 1


def test_a_strangers_cancel_is_rejected_and_the_organizers_is_applied(inbox: Inbox) -> None:
    start = meeting_start()
    uid = new_uid()
    inbox.deliver(mail(invitation(uid, start)))

    spoofed = inbox.deliver(
        mail(invitation(uid, start, method="CANCEL", sequence=1), sender="mallory@evil.test")
    )
    assert spoofed["outcome"] == "rejected" and spoofed["method"] == "CANCEL"
    assert "mallory@evil.test" in spoofed["reason"] and ORGANIZER in spoofed["reason"]
    assert [e["status"] for e in inbox.events(start)] == ["confirmed"]

    cancelled = inbox.deliver(mail(invitation(uid, start, method="CANCEL", sequence=1)))
    assert cancelled["outcome"] == "cancelled"
    assert [e["status"] for e in inbox.events(start)] == ["cancelled"]  # kept, marked cancelled


def test_allowed_senders_decide_who_may_add_events(inbox: Inbox) -> None:
    assert inbox.calendar()["inboundAllowedSenders"] is None  # anyone, until set

    refused = inbox.api.patch(inbox.path, json={"inboundAllowedSenders": ["partner.org", "not an address"]})
    assert refused.status_code == 400
    assert [d["path"] for d in refused.json()["details"]] == [["inboundAllowedSenders", "1"]]
    wrong_type = inbox.api.patch(inbox.path, json={"inboundAllowedSenders": "partner.org"})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["details"][0]["path"][0] == "inboundAllowedSenders"

    patched = inbox.api.patch(inbox.path, json={"inboundAllowedSenders": ["@Partner.org", "Ada@Example.com"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["inboundAllowedSenders"] == ["@partner.org", "ada@example.com"]
    assert inbox.calendar()["inboundAllowedSenders"] == ["@partner.org", "ada@example.com"]

    start = meeting_start()
    stranger = inbox.deliver(mail(invitation(new_uid(), start), sender="someone@elsewhere.test"))
    assert stranger["outcome"] == "rejected" and "allowed senders" in stranger["reason"]
    allowed = inbox.deliver(
        mail(invitation(new_uid(), start, summary="Partner call"), sender="bo@partner.org")
    )
    assert allowed["outcome"] == "created"
    assert [e["title"] for e in inbox.events(start)] == ["Partner call"]

    # null: anyone again; a calendar made with a list starts with it.
    cleared = inbox.api.patch(inbox.path, json={"inboundAllowedSenders": None})
    assert cleared.status_code == 200 and cleared.json()["inboundAllowedSenders"] is None
    made = inbox.api.post("/calendars", json={"name": "Partners", "inboundAllowedSenders": ["partner.org"]})
    assert made.status_code == 201, made.text
    assert made.json()["inboundAllowedSenders"] == ["partner.org"]


# --- refused -------------------------------------------------------------------------------------


def test_a_rotated_inbound_url_is_a_404_like_any_unknown_url(inbox: Inbox) -> None:
    old_url = inbox.url
    rotated = inbox.api.post(f"{inbox.path}/inbound-token")
    assert rotated.status_code == 200
    new_url = rotated.json()["inboundUrl"]
    assert new_url != old_url

    unknown = requests.post(inbox.server.url + "/no/such/page/here", data=b"x", timeout=30)
    gone = inbox.post(mail(invitation(new_uid(), meeting_start())), url=old_url)
    assert gone.status_code == 404 and gone.json() == unknown.json()
    assert inbox.post(b"x", url=inbox.server.url + "/inbound/inb_made_up").status_code == 404
    assert inbox.logged() == []
    assert inbox.post(mail(invitation(new_uid(), meeting_start())), url=new_url).status_code == 200


def test_an_oversize_body_is_a_413_and_nothing_is_logged(inbox: Inbox) -> None:
    ics = invitation(new_uid(), meeting_start(), summary="x" * MAX_MESSAGE_BYTES)
    oversize = mail(ics)
    assert len(oversize) > MAX_MESSAGE_BYTES
    declared = inbox.post(oversize)
    assert declared.status_code == 413 and str(MAX_MESSAGE_BYTES) in declared.json()["message"]

    # No Content-Length (chunked): refused once one byte more than the limit is read.
    chunks = (oversize[i : i + 8192] for i in range(0, len(oversize), 8192))
    streamed = requests.post(inbox.url, data=chunks, headers={"Content-Type": "message/rfc822"}, timeout=30)
    assert streamed.status_code == 413
    assert inbox.logged() == []


def test_malformed_webhook_bodies_are_400s_that_say_where(inbox: Inbox) -> None:
    not_json = inbox.post(b'{"From": "alice@example.com",', "application/json")
    assert not_json.status_code == 400
    assert set(not_json.json()) == {"title", "message", "details"}

    wrong_type = post_json(inbox, {"From": ORGANIZER, "Subject": 5, "Attachments": {}})
    assert wrong_type.status_code == 400
    assert {tuple(d["path"]) for d in wrong_type.json()["details"]} == {("Subject",), ("Attachments",)}
    assert post_json(inbox, ["not", "an", "object"]).status_code == 400

    body = postmark_body(invitation(new_uid(), meeting_start()))
    body["Attachments"].append({"Name": "notes.txt", "Content": "not base64!", "ContentType": "text/plain"})
    bad_base64 = post_json(inbox, body)
    assert bad_base64.status_code == 400
    assert bad_base64.json()["details"][0]["path"] == ["Attachments", "1", "Content"]
    assert "Attachments.1.Content" in bad_base64.json()["message"]

    unsupported = inbox.post(b"<invite/>", "application/xml")
    assert unsupported.status_code == 415
    assert inbox.logged() == []


def test_the_inbound_url_is_rate_limited_per_client_address(inbox: Inbox) -> None:
    response = inbox.post(mail(None, subject="Hello"))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert int(response.headers["X-RateLimit-Limit"]) > 0
    assert "X-RateLimit-Remaining" in response.headers


# --- the log ---------------------------------------------------------------------------------------


def test_someone_elses_log_is_a_404(inbox: Inbox, server: LiveServer) -> None:
    inbox.deliver(mail(invitation(new_uid(), meeting_start())))
    other = new_api(server)
    theirs = other.get(f"{inbox.path}/inbound-messages")
    nothing = other.get("/calendars/cal_doesnotexist/inbound-messages")
    assert theirs.status_code == nothing.status_code == 404
    # The same answer as for no such calendar: nothing tells that it exists.
    assert theirs.json() == {
        **nothing.json(),
        "message": nothing.json()["message"].replace("cal_doesnotexist", inbox.calendar_id),
    }
    assert len(inbox.logged()) == 1


def test_the_log_pages_newest_first_and_filters_by_outcome(inbox: Inbox) -> None:
    start = meeting_start()
    posted = [
        inbox.deliver(mail(invitation(new_uid(), start, summary="One"))),
        inbox.deliver(mail(None, subject="Lunch?")),  # no calendar data
        inbox.deliver(mail(invitation(new_uid(), start, summary="Two"))),
    ]
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    for _ in range(len(posted) + 1):  # bounded: one page more than there are entries
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = inbox.log(**params)
        assert response.status_code == 200, response.text
        pages.append(response.json()["data"])
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [1, 1, 1]
    listed = [page[0] for page in pages]
    assert sorted(e["id"] for e in listed) == sorted(p["id"] for p in posted)
    received = [e["receivedAt"] for e in listed]
    assert received == sorted(received, reverse=True)

    [ignored] = inbox.logged(outcome="ignored")
    assert ignored["id"] == posted[1]["id"] and ignored["subject"] == "Lunch?"
    assert ignored["reason"] and ignored["uids"] == []
    assert {e["id"] for e in inbox.logged(outcome="created")} == {posted[0]["id"], posted[2]["id"]}
    assert inbox.logged(outcome="cancelled") == []
    assert inbox.log(outcome="lost").status_code == 400
    assert inbox.log(limit=0).status_code == 400
    assert inbox.log(cursor="not-a-cursor").status_code == 400


# --- the webhook JSON made into mail (pure) -----------------------------------------------------------

_text = st.text(max_size=30) | st.none()
_webhooks = st.fixed_dictionaries(
    {},
    optional={
        "From": _text,
        "FromFull": st.fixed_dictionaries({}, optional={"Email": _text, "Name": _text}),
        "To": _text,
        "Subject": _text,
        "MessageID": _text,
        "Date": _text,
        "Headers": st.lists(
            st.fixed_dictionaries({"Name": st.text(max_size=20), "Value": st.text(max_size=30)}), max_size=4
        ),
        "TextBody": _text,
        "HtmlBody": _text,
        "Attachments": st.lists(
            st.fixed_dictionaries(
                {"Content": st.sampled_from(["", "QUJD", "AAEC/w==", "not base64!"])},
                optional={"Name": _text, "ContentType": _text},
            ),
            max_size=3,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(_webhooks)
def test_any_webhook_body_makes_one_readable_message_or_names_its_attachment(body: dict[str, Any]) -> None:
    webhook = PostmarkInbound.model_validate(body)
    try:
        raw = to_rfc822(webhook)
    except BadAttachment as exc:
        assert body["Attachments"][exc.index]["Content"] == "not base64!"
        return
    assert raw == to_rfc822(webhook)  # the same JSON, the same bytes: a re-delivery is found by digest
    read = read_mail(raw, "http")
    sender = (body.get("FromFull") or {}).get("Email") or body.get("From")
    if sender and re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)*", sender, re.ASCII):
        assert read.sender == sender.lower()
