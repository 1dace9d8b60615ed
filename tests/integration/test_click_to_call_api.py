"""`POST /api/calls` and the socket's `call_invite` on SQLite AND PostgreSQL: clear
errors in the one error shape for bad requests, permissions and tenants, and nothing
rung or left behind when a request fails; and one whole click-to-call, with its history
records, on each database.

(The flows themselves, against SIPp phones, are in test_click_to_call.py.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from callboard.calls.events import LegEnded, LegRinging
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.integration.conftest import EventLog, Phone, call_records, engine, provision
from tests.integration.helpers import answering
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


@pytest.fixture
def node_database_url(database_url: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return database_url


async def _token(admin: httpx.AsyncClient, phone: Phone) -> str:
    return await make_token(admin, phone.user_id)


def _nothing_happened(node: RunningServer, events: EventLog) -> None:
    assert list(events) == [], events.kinds()
    assert engine(node).calls == {}


async def test_bad_requests_get_clear_errors(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    async with client_for(admin, await _token(admin, alice)) as api:

        async def refused(payload: Any, code: int = 400) -> dict[str, Any]:
            return error(await api.post("/api/calls", json=payload), code)

        assert (await refused({}))["id"] == "app.call.originate.no_destination"
        assert (await refused({"destination": ""}))["code"] == 400
        bad = await refused({"destination": "10 02"})
        assert bad["id"] == "app.call.originate.bad_destination"
        assert (await refused({"destination": "<sip:x>"}))["id"] == bad["id"]
        for params, what in (
            ("soon", "params"),
            ({"timeout": "soon"}, "timeout"),
            ({"timeout": True}, "timeout"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": 601}, "timeout"),
            ({"destination_timeout": 31}, "destination_timeout"),
            ({"variables": {"crm": 42}}, "variables.crm"),
            ({"variables": ["a"]}, "variables"),
            ({"variables": {"bad key": "x"}}, "bad key"),
            ({"variables": {"k": "x" * 1025}}, "at most 1024"),
            ({"display": 5551234}, "display"),
            ({"display": "555 1234"}, "caller id number"),
            ({"display_name": 'Evil"\r\nX-Header: 1'}, "caller id name"),
        ):
            body = await refused({"destination": "1002", "params": params})
            assert what in body["detail"], (params, body)
        malformed = await api.post(
            "/api/calls", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert error(malformed, 400)["id"] == "api.request.bad_json"
    _nothing_happened(node, events)


async def test_who_may_call_for_whom(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    """`from` another user needs the permission to control calls (a supervisor has it,
    a user has not); another domain's user, or an unknown one, is a 404."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    supervisor = await make_user(admin, "sue", "1009", role=2)
    in_other = await other_domain(admin)
    stranger = await make_user(admin, "stranger", "1001", params=in_other)

    async with client_for(admin, await _token(admin, bob)) as api:
        denied = await api.post(
            "/api/calls", json={"from": {"id": alice.user_id}, "destination": "1003"}
        )
        assert "control calls" in error(denied, 403)["detail"]
        # Their own user id, as a number or a string, is fine (and then: no phone).
        for own in (int(bob.user_id), bob.user_id):
            mine = await api.post("/api/calls", json={"from": {"id": own}, "destination": "1001"})
            assert error(mine, 409)["id"] == "app.call.originate.no_device"
    async with client_for(admin, await make_token(admin, supervisor["id"])) as api:
        for party in ({"id": alice.user_id}, {"extension": "1001"}):
            allowed = await api.post("/api/calls", json={"from": party, "destination": "1002"})
            body = error(allowed, 409)  # past the permission: alice has no phone
            assert body["id"] == "app.call.originate.no_device" and alice.user_id in body["detail"]
        for party in ({"id": stranger["id"]}, {"id": "999999"}, {"extension": "4711"}):
            missing = await api.post("/api/calls", json={"from": party, "destination": "1002"})
            assert error(missing, 404)["id"] == "app.user.not_found"
        to_stranger = await api.post("/api/calls", json={"to": {"id": stranger["id"]}})
        assert error(to_stranger, 404)["id"] == "app.user.not_found"
    _nothing_happened(node, events)


async def test_no_registered_device_over_rest_and_the_socket(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    await provision(admin, "1002", name="Bob")
    token = await _token(admin, alice)
    async with client_for(admin, token) as api:
        rest = error(await api.post("/api/calls", json={"destination": "1002"}), 409)
    assert rest["id"] == "app.call.originate.no_device"
    assert rest["detail"] == f"user {alice.user_id} has no registered device to ring"

    url = node.url.replace("http", "ws") + "/ws/websocket"
    async with websockets.connect(url) as ws:

        async def request(seq: int, action: str, data: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps({"seq": seq, "action": action, "data": data}))
            while True:
                frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("seq_reply") == seq:
                    return frame

        assert (await request(1, "authentication_challenge", {"token": token}))["status"] == "OK"
        failed = await request(2, "call_invite", {"destination": "1002", "params": {"timeout": 20}})
        assert failed["status"] == "FAIL" and failed["error"] == {
            "id": "app.call.originate.no_device",
            "status": "Conflict",
            "detail": rest["detail"],
            "code": 409,
        }
        bad = await request(3, "call_invite", {"params": {}})
        assert bad["status"] == "FAIL" and bad["error"]["code"] == 400
        assert "destination" in bad["error"]["detail"]
    _nothing_happened(node, events)


async def test_unknown_unreachable_and_own_destinations(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """Refused before anything rings: the user's phone never hears of them."""
    alice = await provision(admin, "1001", name="Alice")
    await provision(admin, "1002", name="Bob")  # not registered
    user = await answering(sipp, node, alice, scenario="uas_answer_offer.xml")
    async with client_for(admin, await _token(admin, alice)) as api:
        unknown = error(await api.post("/api/calls", json={"destination": "9999"}), 400)
        assert unknown["id"] == "app.call.originate.unknown_destination"
        away = error(await api.post("/api/calls", json={"destination": "1002"}), 409)
        assert away["id"] == "app.call.originate.destination_unavailable"
        assert "480" in away["detail"]
        own = error(await api.post("/api/calls", json={"destination": "1001"}), 400)
        assert own["id"] == "app.call.originate.own_number"
    assert (await user.stop()).received("INVITE ") == []
    _nothing_happened(node, events)


async def test_a_click_to_call_and_its_history(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """`to: {id}` names the destination user; both legs are stored with the variables."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    user = await answering(sipp, node, alice, scenario="uas_offer_hangup.xml", duration_ms=200)
    destination = await answering(sipp, node, bob)
    async with client_for(admin, await _token(admin, alice)) as api:
        created = ok(
            await api.post(
                "/api/calls",
                json={"to": {"id": bob.user_id}, "params": {"variables": {"lead": "L-1"}}},
            )
        )
    await user.wait_calls(1)
    await destination.wait_calls(1)
    await user.stop()
    await destination.stop()
    ended = await events.wait_for(LegEnded, 2)
    legs = {e.leg_id: e for e in events.of(LegRinging)}
    assert set(legs) == {e.leg_id for e in ended} and created["id"] in legs
    records = {r.id: r for r in await call_records(node)}
    mine = records[created["id"]]
    [theirs] = [r for r in records.values() if r.parent_id == created["id"]]
    assert (mine.direction, mine.from_number, mine.to_number) == ("outbound", "1001", "1002")
    assert (theirs.direction, theirs.user_id) == ("inbound", int(bob.user_id))
    assert mine.variables == theirs.variables == {"lead": "L-1"}
    assert mine.cause == theirs.cause == "NORMAL_CLEARING"
    assert mine.hangup_by == "caller" and theirs.answered_at is not None
