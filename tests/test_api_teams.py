"""Teams and memberships on the real server (issue #10 item 5): another user hosts an event type only as
an accepted member of its team, every host sees the booking, and nobody else's busy time is read."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import requests

from caldee_dav import db
from caldee_dav.models import EventType
from tests import dates
from tests.conftest import LiveServer
from tests.scheduling_fixtures import Api, local_times, make_event_type, make_schedule, new_api

MONDAY_DATE = dates.next_weekday(dates.MON, after_days=2)
MONDAY = MONDAY_DATE.isoformat()
TUESDAY = (MONDAY_DATE + timedelta(days=1)).isoformat()


def hosts_with_hours(server: LiveServer, count: int) -> list[Api]:
    """``count`` users, each open 09:00-17:00 every day (UTC)."""
    apis = [new_api(server) for _ in range(count)]
    for api in apis:
        make_schedule(api, "UTC")
    return apis


def busy_at_ten(api: Api) -> None:
    """A private event in the user's own calendar, Monday 10:00-11:00."""
    api.calendar().save_event(
        dtstart=dates.at(MONDAY_DATE, 10),
        dtend=dates.at(MONDAY_DATE, 11),
        summary="Private",
        uid=f"private-{api.account.slug}",
    )


def created(response: requests.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def new_team(owner: Api) -> dict[str, Any]:
    return created(owner.post("/teams", json={"name": f"Team of {owner.account.slug}"}))


def invite(owner: Api, team: dict[str, Any], user: Api, **fields: Any) -> dict[str, Any]:
    body = {"user": user.account.email, **fields}
    return created(owner.post(f"/teams/{team['id']}/memberships", json=body))


def accept(user: Api, team: dict[str, Any], membership: dict[str, Any]) -> None:
    created(user.post(f"/teams/{team['id']}/memberships/{membership['id']}/accept"), 200)


def booking_ids(api: Api) -> list[str]:
    response = api.get("/bookings")
    assert response.status_code == 200, response.text
    return [b["id"] for b in response.json()["data"]]


def test_the_attack_from_the_issue_is_refused_and_stores_nothing(live_server: LiveServer) -> None:
    bob, alice = hosts_with_hours(live_server, 2)
    busy_at_ten(alice)
    attacks = [
        ({"kind": "collective", "hosts": [bob.account.slug, alice.account.slug]}, ["hosts", "1"]),
        ({"kind": "round_robin", "hosts": [alice.account.slug]}, ["hosts", "0"]),
    ]
    for fields, path in attacks:
        response = bob.post("/event-types", json={"name": "Sneaky", "durationsMin": [60], **fields})
        assert response.status_code == 400, response.text
        assert [(d["path"], d["code"]) for d in response.json()["details"]] == [(path, "team_required")]
    # A team of bob's own that alice never joined does not make her a host either.
    team = new_team(bob)
    body = {"name": "Sneaky", "kind": "collective", "hosts": [bob.account.slug, alice.account.slug]}
    response = bob.post("/event-types", json={**body, "teamId": team["id"]})
    assert response.status_code == 400
    assert [(d["path"], d["code"]) for d in response.json()["details"]] == [
        (["hosts", "1"], "not_team_member")
    ]
    assert bob.get("/event-types").json()["data"] == []
    assert booking_ids(alice) == [] and alice.calendar().event_by_uid(f"private-{alice.account.slug}")
    assert [e.icalendar_component["UID"] for e in alice.calendar().events()] == [
        f"private-{alice.account.slug}"
    ]


def test_invited_member_who_accepts_hosts_and_sees_the_booking(live_server: LiveServer) -> None:
    bob, alice = hosts_with_hours(live_server, 2)
    team = new_team(bob)
    membership = invite(bob, team, alice)
    assert membership["accepted"] is False and membership["invitedBy"]["slug"] == bob.account.slug
    invitations = alice.get("/me/invitations").json()["data"]
    assert [(i["id"], i["team"]["id"], i["role"]) for i in invitations] == [
        (membership["id"], team["id"], "member")
    ]
    accept(alice, team, membership)
    assert alice.get("/me/invitations").json()["data"] == []
    assert [t["id"] for t in alice.get("/teams").json()["data"]] == [team["id"]]

    hosts = [bob.account.slug, alice.account.slug]
    event_type = make_event_type(bob, kind="collective", hosts=hosts, teamId=team["id"])
    assert event_type["teamId"] == team["id"]
    booking = created(bob.book(event_type["id"], f"{MONDAY}T11:00:00Z"))
    assert sorted(booking["hostIds"]) == sorted([bob.account.user_id, alice.account.user_id])
    for api in (bob, alice):
        assert booking_ids(api) == [booking["id"]]
        assert created(api.get(f"/bookings/{booking['id']}"), 200)["id"] == booking["id"]
        assert str(api.calendar().event_by_uid(booking["uid"]).icalendar_component["UID"]) == booking["uid"]
    # A host may cancel it, as its owner may: everyone sees it canceled.
    assert created(alice.delete(f"/bookings/{booking['id']}"), 200)["status"] == "canceled"
    assert created(bob.get(f"/bookings/{booking['id']}"), 200)["status"] == "canceled"


def test_pending_or_declined_member_cannot_host(live_server: LiveServer) -> None:
    bob, alice = hosts_with_hours(live_server, 2)
    team = new_team(bob)
    membership = invite(bob, team, alice)
    body = {"name": "Pair", "kind": "collective", "durationsMin": [60], "teamId": team["id"]}
    hosts = [bob.account.slug, alice.account.slug]
    response = bob.post("/event-types", json={**body, "hosts": hosts})
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == ["hosts", "1"]
    # Only alice decides: bob cannot accept for her.
    response = bob.post(f"/teams/{team['id']}/memberships/{membership['id']}/accept")
    assert response.status_code == 403
    assert alice.post(f"/teams/{team['id']}/memberships/{membership['id']}/decline").status_code == 204
    assert alice.get("/me/invitations").json()["data"] == []
    assert bob.post("/event-types", json={**body, "hosts": hosts}).status_code == 400
    assert bob.get("/event-types").json()["data"] == []


def test_team_availability_reads_a_members_busy_time_only_after_acceptance(live_server: LiveServer) -> None:
    bob, alice = hosts_with_hours(live_server, 2)
    busy_at_ten(alice)
    team = new_team(bob)
    event_type = make_event_type(bob, kind="collective", hosts=[bob.account.slug], teamId=team["id"])
    assert "10:00" in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    membership = invite(bob, team, alice)
    with_alice = {"hosts": [bob.account.slug, alice.account.slug]}
    assert bob.patch(f"/event-types/{event_type['id']}", json=with_alice).status_code == 400
    assert "10:00" in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    accept(alice, team, membership)
    assert bob.patch(f"/event-types/{event_type['id']}", json=with_alice).status_code == 200
    assert "10:00" not in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)


def test_personal_event_type_never_reads_another_users_calendar(live_server: LiveServer) -> None:
    # A row written before teams existed may still name another user as a host: it no longer counts.
    bob, alice = hosts_with_hours(live_server, 2)
    busy_at_ten(alice)
    event_type = make_event_type(bob, kind="collective", hosts=[bob.account.slug])
    with db.write_unit(db.engine_for(live_server.database_url)) as session:
        row = session.get(EventType, event_type["id"])
        assert row is not None
        row.host_ids = [bob.account.user_id, alice.account.user_id]
    assert "10:00" in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    booking = created(bob.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    assert booking["hostIds"] == [bob.account.user_id]
    assert booking_ids(alice) == []
    assert [str(e.icalendar_component["UID"]) for e in alice.calendar().events()] == [
        f"private-{alice.account.slug}"
    ]


def test_non_member_gets_404_and_members_their_role(live_server: LiveServer) -> None:
    bob, alice, carol, dave = hosts_with_hours(live_server, 4)
    team = new_team(bob)
    accept(alice, team, invite(bob, team, alice))  # a plain member
    pending = invite(bob, team, dave)  # invited, not yet accepted
    event_type = make_event_type(bob, kind="collective", hosts=[bob.account.slug], teamId=team["id"])
    booking = created(bob.book(event_type["id"], f"{MONDAY}T09:00:00Z"))
    base = f"/teams/{team['id']}"
    for outsider in (carol, dave):
        assert outsider.get(base).status_code == 404
        assert outsider.get(f"{base}/memberships").status_code == 404
        assert outsider.patch(base, json={"name": "Mine"}).status_code == 404
        assert outsider.delete(base).status_code == 404
        assert outsider.post(f"{base}/memberships", json={"user": carol.account.slug}).status_code == 404
        assert outsider.get("/teams").json()["data"] == []
        assert outsider.get(f"/bookings/{booking['id']}").status_code == 404
        assert outsider.get(f"/event-types/{event_type['id']}").status_code == 404
        response = outsider.post("/event-types", json={"name": "X", "teamId": team["id"]})
        assert response.status_code == 404 and response.json()["details"][0]["path"] == ["teamId"]
    assert carol.post(f"{base}/memberships/{pending['id']}/accept").status_code == 404
    # A plain member sees the team and its members but manages nothing.
    assert created(alice.get(base), 200)["role"] == "member"
    members = alice.get(f"{base}/memberships").json()["data"]
    assert {(m["user"]["slug"], m["role"], m["accepted"]) for m in members} == {
        (bob.account.slug, "owner", True),
        (alice.account.slug, "member", True),
        (dave.account.slug, "member", False),
    }
    assert alice.patch(base, json={"name": "Mine"}).status_code == 403
    assert alice.post(f"{base}/memberships", json={"user": carol.account.slug}).status_code == 403
    assert alice.delete(f"{base}/memberships/{pending['id']}").status_code == 403
    assert alice.get(f"/event-types/{event_type['id']}").status_code == 404


def test_admins_manage_the_teams_event_types_and_the_last_owner_stays(live_server: LiveServer) -> None:
    bob, alice, carol = hosts_with_hours(live_server, 3)
    team = new_team(bob)
    base = f"/teams/{team['id']}"
    accept(alice, team, invite(bob, team, alice, role="admin"))
    event_type = make_event_type(bob, kind="round_robin", hosts=[bob.account.slug], teamId=team["id"])
    assert [e["id"] for e in alice.get("/event-types").json()["data"]] == [event_type["id"]]
    renamed = alice.patch(f"/event-types/{event_type['id']}", json={"name": "Support"})
    assert created(renamed, 200)["name"] == "Support"
    # An admin invites, but only an owner makes owners.
    assert (
        alice.post(f"{base}/memberships", json={"user": carol.account.slug, "role": "owner"}).status_code
        == 403
    )
    assert bob.delete(base).status_code == 409  # the team still owns an event type
    own = created(bob.get(base), 200)["membershipId"]
    assert bob.delete(f"{base}/memberships/{own}").status_code == 409  # the last owner
    accept(carol, team, invite(bob, team, carol, role="owner"))
    assert bob.delete(f"{base}/memberships/{own}").status_code == 204
    assert bob.get(base).status_code == 404
    # A team without event types can be deleted by its owner; its invitations go with it.
    spare = new_team(carol)
    invite(carol, spare, bob)
    assert carol.delete(f"/teams/{spare['id']}").status_code == 204
    assert bob.get("/me/invitations").json()["data"] == []


def test_a_host_who_leaves_is_no_longer_offered(live_server: LiveServer) -> None:
    bob, alice = hosts_with_hours(live_server, 2)
    busy_at_ten(alice)
    team = new_team(bob)
    membership = invite(bob, team, alice)
    accept(alice, team, membership)
    hosts = [bob.account.slug, alice.account.slug]
    event_type = make_event_type(bob, kind="collective", hosts=hosts, teamId=team["id"])
    assert "10:00" not in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    assert alice.delete(f"/teams/{team['id']}/memberships/{membership['id']}").status_code == 204
    assert "10:00" in local_times(bob.slots(event_type["id"], MONDAY, TUESDAY), MONDAY)
    booking = created(bob.book(event_type["id"], f"{MONDAY}T10:00:00Z"))
    assert booking["hostIds"] == [bob.account.user_id]
    assert booking_ids(alice) == []


def test_two_teams_taking_one_slug_at_once_get_one_201_and_409s(live_server: LiveServer) -> None:
    """Both requests pass the slug check before either writes; the unique index decides, as a 409."""
    api = new_api(live_server)
    slug = f"race-{dates.today():%Y%m%d}-{id(api) % 10000}"
    statuses: list[int] = []

    def create() -> None:
        statuses.append(api.post("/teams", json={"name": "Race", "slug": slug}).status_code)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [201, 409, 409, 409, 409, 409]


def test_owners_change_roles_and_a_team_keeps_an_owner(live_server: LiveServer) -> None:
    bob, alice, carol = hosts_with_hours(live_server, 3)
    team = new_team(bob)
    base = f"/teams/{team['id']}/memberships"
    alices = invite(bob, team, alice)
    accept(alice, team, alices)
    accept(carol, team, invite(bob, team, carol, role="admin"))
    own = created(bob.get(f"/teams/{team['id']}"), 200)["membershipId"]

    # An admin cannot change roles, nor can a member; neither can anyone outside the team see it.
    assert carol.patch(f"{base}/{alices['id']}", json={"role": "admin"}).status_code == 403
    assert alice.patch(f"{base}/{alices['id']}", json={"role": "owner"}).status_code == 403
    stranger = hosts_with_hours(live_server, 1)[0]
    assert stranger.patch(f"{base}/{alices['id']}", json={"role": "owner"}).status_code == 404
    bad = bob.patch(f"{base}/{alices['id']}", json={"role": "boss"})
    assert bad.status_code == 400 and bad.json()["details"][0]["path"] == ["role"]

    # The owner makes alice an admin: she can now invite.
    assert created(bob.patch(f"{base}/{alices['id']}", json={"role": "admin"}), 200)["role"] == "admin"
    assert invite(alice, team, stranger)["role"] == "member"
    # The last owner cannot step down; once alice is an owner too, he can.
    assert bob.patch(f"{base}/{own}", json={"role": "member"}).status_code == 409
    assert created(bob.patch(f"{base}/{alices['id']}", json={"role": "owner"}), 200)["role"] == "owner"
    assert created(bob.patch(f"{base}/{own}", json={"role": "member"}), 200)["role"] == "member"
    assert bob.patch(f"{base}/{alices['id']}", json={"role": "member"}).status_code == 403
