"""The published `webitel-sdk` client, unmodified, against a real node.

Each test runs the npm package `webitel-sdk@26.4.29` (one `Client` per Node process,
tests/support/webitel.py) against a node with SIP on every transport, and real calls
between SIPp agents and JsSIP web phones. What the SDK does is what an application
built on it would see: its promises, its `subscribeCall` handler's `(action, call)`,
its web phone's registration and SIP sessions.

Every test also checks that the SDK never threw where nobody catches it (the harness
fails on any unhandled rejection or uncaught exception, such as the SDK's
`Unhandled event X` on a call event it does not know); the first test proves that
detector works, against a fake server that sends such an event.

The web phone's media is a stub in Node (see tests/support/webitel/client.mjs): the
signalling is real, media is tested in Chromium.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from callboard.calls.events import LegAnswered, LegEnded, LegRinging
from callboard.sip.location import BindingChange
from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, BindingLog, EventLog, Phone, provision
from tests.integration.helpers import agent, answering, ended, register_web_phone, server_of
from tests.support.jssip import JsSipPhone
from tests.support.server import RunningServer
from tests.support.sipp import Sipp
from tests.support.webitel import WebitelClient, WebitelFailed, WebitelRejected


def endpoint(node: RunningServer) -> str:
    """What an application passes as `endpoint`: the SDK adds `/websocket`."""
    return f"{node.url}/ws"


async def issue_token(admin: httpx.AsyncClient, user_id: str) -> tuple[str, str]:
    """A new access token of the user: (the token, its id)."""
    response = await admin.post(f"/api/users/{user_id}/tokens", json={"usage": "webitel-sdk"})
    assert response.status_code == 200, response.text
    body = response.json()
    return str(body["token"]), str(body["id"])


def leg_of(events: EventLog, phone: Phone) -> LegRinging:
    """The (only) leg of the user's call, as the engine announced it."""
    [leg] = [e for e in events.of(LegRinging) if e.user_id == int(phone.user_id)]
    return leg


def party(phone: Phone, name: str) -> dict[str, str]:
    return {"type": "user", "number": phone.extension, "name": name, "id": phone.user_id}


# -- the harness ------------------------------------------------------------------------------


async def test_an_unhandled_event_fails_the_test() -> None:
    """The SDK throws `Unhandled event update` on a call event named `update`, in an
    async handler nobody awaits: the harness reports it, and `expect()` fails on it."""

    async def server(ws: ServerConnection) -> None:
        async for text in ws:
            request = json.loads(text)
            seq, action = request["seq"], request["action"]
            if action == "authentication_challenge":
                session = {"id": "t", "user_id": 7, "domain_id": 1, "expire": 0, "token": "x"}
                hello = {"sock_id": "sock-fake", "session": {**session, "role_ids": []}}
                await ws.send(json.dumps({"event": "hello", "data": hello, "seq": 0}))
                await ws.send(json.dumps({"status": "OK", "seq_reply": seq}))
            elif action == "subscribe_call":
                await ws.send(json.dumps({"status": "OK", "seq_reply": seq, "data": {"items": []}}))
                call: dict[str, Any] = {
                    "id": "call-1",
                    "event": "ringing",
                    "timestamp": "1",
                    "app_id": "fake",
                    "user_id": "7",
                    "domain_id": "1",
                    "data": {
                        "direction": "inbound",
                        "destination": "7",
                        "from": {"type": "dest", "number": "100", "name": "x", "id": ""},
                    },
                }
                await ws.send(json.dumps({"event": "call", "data": {"call": call}, "seq": 1}))
                update = {**call, "event": "update", "data": {}}
                await ws.send(json.dumps({"event": "call", "data": {"call": update}, "seq": 2}))
            else:
                error = {"id": "bad", "status": "Bad Request", "detail": action, "code": 400}
                await ws.send(json.dumps({"status": "FAIL", "seq_reply": seq, "error": error}))

    async with serve(server, "127.0.0.1", 0) as fake:
        port = fake.sockets[0].getsockname()[1]
        async with WebitelClient("fake") as sdk:
            await sdk.connect(f"http://127.0.0.1:{port}/ws", "x")
            await sdk.subscribe_call()
            await sdk.expect_call("ringing", "call-1")
            with pytest.raises(WebitelFailed, match="Unhandled event update"):
                await sdk.expect_call("hangup", within=5)
            error = await sdk.expect("error")
            assert error["kind"] == "unhandledRejection"
            assert error["error"]["message"] == "Unhandled event update"
            # Taken by expect("error"): leaving the block does not fail.


# -- (a) connect, auth, refusals --------------------------------------------------------------


async def test_connect_and_auth_give_the_session(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    token, token_id = await issue_token(admin, alice.user_id)
    async with WebitelClient("alice") as sdk:
        reply = await sdk.connect(endpoint(node), token)
        await sdk.expect("connected")
        assert reply["auth"] is None  # auth() resolves with undefined, as with the engine
        session = await sdk.session_info()
        assert session == reply["session"]
        assert session["user_id"] == int(alice.user_id)
        assert session["id"] == token_id and session["token"] == token
        assert reply["instanceId"] and reply["canUseCC"] is True
        subscribed = await sdk.subscribe_call()
        assert subscribed == {"items": [], "calls": []}
        await sdk.disconnect()
        # The SDK closes with 1000, which emits no `disconnected`.
        await asyncio.sleep(0.1)
        assert sdk.find("disconnected") == [] and sdk.find("client_error") == []


async def test_wrong_revoked_and_unlicensed_tokens_are_refused(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    revoked, revoked_id = await issue_token(admin, alice.user_id)
    response = await admin.delete(f"/api/users/{alice.user_id}/tokens/{revoked_id}")
    assert response.status_code == 200, response.text
    user = await admin.post(
        "/api/users",
        json={"name": "No Licence", "username": "nolicence", "roles": [{"id": 4}]},
    )
    assert user.status_code == 200, user.text
    unlicensed, _ = await issue_token(admin, user.json()["id"])

    async def refusal(name: str, token: str) -> WebitelRejected:
        async with WebitelClient(name) as sdk:
            with pytest.raises(WebitelRejected) as refused:
                await sdk.connect(endpoint(node), token)
            assert refused.value.stage == "auth"
            # auth() emits the Client's `error` and closes the socket itself, with 1000:
            # no `disconnected` event.
            await sdk.expect("client_error")
            assert sdk.find("disconnected") == []
            return refused.value

    wrong_one, revoked_one, unlicensed_one = await asyncio.gather(
        refusal("wrong", "not-a-token-at-all"),
        refusal("revoked", revoked),
        refusal("unlicensed", unlicensed),
    )
    for refused in (wrong_one, revoked_one):
        # The SDK rejects with the server's error object as is.
        assert refused.error["class"] is None
        assert refused.error["raw"]["id"] == "app.session.not_found"
        assert refused.error["raw"]["code"] == 401
    # api.context.permissions.license becomes the SDK's own LicencePermissionError.
    assert unlicensed_one.error["class"] == "LicencePermissionError"
    assert unlicensed_one.error["id"] == "api.context.permissions.license"
    assert unlicensed_one.error["message"]  # the server's detail


# -- (b) call events of real SIP calls --------------------------------------------------------


async def test_the_sdk_user_is_called(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    token, _ = await issue_token(admin, bob.user_id)
    async with WebitelClient("bob") as sdk:
        await sdk.connect(endpoint(node), token)
        await sdk.subscribe_call()

        callee = await answering(sipp, node, bob, duration_ms=200)
        caller = agent(sipp, alice)
        await caller.register(server_of(node, "udp"))
        assert (await caller.call(server_of(node, "udp"), bob.extension, duration_ms=300)).ok
        await callee.wait_calls(1)

        ringing = await sdk.expect_call("ringing")
        call_id = ringing["id"]
        await sdk.expect_call("destroy", call_id)
        assert sdk.actions(call_id) == ["ringing", "active", "bridge", "hangup", "destroy"]
        ours, theirs = leg_of(events, bob), leg_of(events, alice)
        assert call_id == ours.leg_id

        assert ringing["direction"] == "inbound" and ringing["state"] == "ringing"
        assert ringing["from"] == party(alice, "Alice")
        assert ringing["to"] == party(bob, "Bob")
        assert ringing["destination"] == "1002"
        assert ringing["answeredAt"] == 0 and ringing["sip"] is False

        active = await sdk.expect_call("active", call_id)
        assert active["state"] == "active" and active["answeredAt"] > 0
        bridge = await sdk.expect_call("bridge", call_id)
        assert bridge["bridgedId"] == theirs.leg_id
        assert bridge["from"] == party(alice, "Alice")  # an inbound call's `to` of bridge

        hangup = await sdk.expect_call("hangup", call_id)
        engine_end = ended(events)[call_id]
        assert hangup["state"] == "hangup"
        assert hangup["hangupCause"] == "NORMAL_CLEARING" == engine_end.cause.value
        assert hangup["hangupSipCode"] == 200 == engine_end.sip_code
        assert await sdk.all_calls() == []  # destroyed: out of the SDK's store


async def test_the_sdk_user_calls(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """The SDK's user is the caller, the callee hangs up."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    token, _ = await issue_token(admin, alice.user_id)
    async with WebitelClient("alice") as sdk:
        await sdk.connect(endpoint(node), token)
        await sdk.subscribe_call()

        # This time the callee ends the call.
        callee = await answering(sipp, node, bob, "udp", "uas_hangup.xml", duration_ms=300)
        caller = agent(sipp, alice)
        await caller.register(server_of(node, "udp"))
        result = await caller.call(
            server_of(node, "udp"), bob.extension, scenario="uac_bye_from_callee.xml"
        )
        assert result.ok
        await callee.wait_calls(1)

        ringing = await sdk.expect_call("ringing")
        call_id = ringing["id"]
        await sdk.expect_call("destroy", call_id)
        assert sdk.actions(call_id) == ["ringing", "active", "bridge", "hangup", "destroy"]
        ours, theirs = leg_of(events, alice), leg_of(events, bob)
        assert call_id == ours.leg_id

        assert ringing["direction"] == "outbound" and ringing["destination"] == "1002"
        active = await sdk.expect_call("active", call_id)
        assert active["answeredAt"] > 0
        bridge = await sdk.expect_call("bridge", call_id)
        assert bridge["bridgedId"] == theirs.leg_id
        assert bridge["to"] == party(bob, "Bob")  # an outbound call's `to` of bridge

        hangup = await sdk.expect_call("hangup", call_id)
        engine_end = ended(events)[call_id]
        assert engine_end.record.hangup_by == "callee"
        assert hangup["hangupCause"] == "NORMAL_CLEARING" == engine_end.cause.value
        assert hangup["hangupSipCode"] == 200 == engine_end.sip_code

        # An outbound call's ringing: `from` is the user, `to` the party called (the SDK
        # shows `to` as the number of an outbound call; the engine sends the same).
        assert ringing["from"] == party(alice, "Alice")
        assert ringing["to"] == party(bob, "Bob")


# -- (c) the SDK's web phone ------------------------------------------------------------------


async def test_the_web_phone_registers_and_answers(
    node: RunningServer,
    admin: httpx.AsyncClient,
    events: EventLog,
    bindings: BindingLog,
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    token, _ = await issue_token(admin, bob.user_id)
    async with (
        WebitelClient("bob", insecure_tls=True) as sdk,
        JsSipPhone("alice", insecure_tls=True) as other,
    ):
        await sdk.connect(endpoint(node), token, register_web_device=True)
        # user_default_device -> JsSIP over the node's wss:// SIP WebSocket, with the ha1.
        await sdk.expect("phone_connected", connected=True)
        await sdk.expect("phone_registered", registered=True)
        binding = (await bindings.wait_for(BindingChange.ADDED, f"sip:1002@{DOMAIN}")).binding
        assert binding.transport is TransportKind.WSS
        assert binding.user_agent == "Webitel-Phone/3.13.8"
        await sdk.subscribe_call()

        await register_web_phone(other, node, alice)
        their_session = await other.call(f"sip:1002@{DOMAIN}")

        # The WS ringing and the SIP INVITE reach the SDK, linked by X-Webitel-Uuid.
        ringing = await sdk.expect_call("ringing")
        call_id = ringing["id"]
        assert call_id == leg_of(events, bob).leg_id
        assert ringing["direction"] == "inbound" and ringing["from"]["number"] == "1001"
        invite = await sdk.expect("sip_session", incoming=True)
        assert invite["callId"] == call_id
        linked = await sdk.wait_linked(call_id)
        assert linked["sipCallId"] == call_id and linked["state"] == "ringing"
        await other.expect("progress", session=their_session)  # JsSIP's 180

        answered = await sdk.answer(call_id, {})
        # JsSIP was asked to answer (the SDK's promise then never settles, by design).
        assert answered["sip"] is True and answered["outcome"] == "pending"
        await other.expect("confirmed", session=their_session)
        await sdk.expect("sip_state", session=invite["session"], state="confirmed")
        active = await sdk.expect_call("active", call_id)
        assert active["answeredAt"] > 0 and active["sip"] is True
        bridge = await sdk.expect_call("bridge", call_id)
        assert bridge["bridgedId"] == leg_of(events, alice).leg_id
        await events.wait_for(LegAnswered, where=lambda e: e.leg_id == call_id)

        # 500 ms after an inbound call's first `active` the SDK sends its state in an
        # INFO (application/json, syncRequested): the node must answer it.
        info = await sdk.expect("sip_info", originator="local", within=5)
        assert info["contentType"] == "application/json"
        assert json.loads(info["body"]) == {
            "videoMuted": False,
            "audioMuted": False,
            "hold": False,
            "syncRequested": True,
        }
        assert info["status"] == 200

        await other.hangup(their_session)
        hangup = await sdk.expect_call("hangup", call_id)
        assert hangup["hangupCause"] == "NORMAL_CLEARING" and hangup["hangupSipCode"] == 200
        await sdk.expect_call("destroy", call_id)
        ended_sip = await sdk.expect("sip_state", session=invite["session"], state="ended")
        assert ended_sip["originator"] == "remote"  # the node's BYE
        # The server's events, and the SDK's own media actions from the answered session.
        actions = sdk.actions(call_id)
        local = {"peerStream", "localStream"}
        assert [a for a in actions if a not in local] == [
            "ringing",
            "active",
            "bridge",
            "hangup",
            "destroy",
        ], actions
        assert local <= set(actions), actions
        await events.wait_for(LegEnded, where=lambda e: e.leg_id == call_id)


async def test_a_call_from_the_web_phone_is_linked_by_sip_id(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    token, _ = await issue_token(admin, bob.user_id)
    async with (
        WebitelClient("bob", insecure_tls=True) as sdk,
        JsSipPhone("alice", insecure_tls=True) as other,
    ):
        await register_web_phone(other, node, alice)
        await sdk.connect(endpoint(node), token, register_web_device=True)
        await sdk.expect("phone_registered", registered=True)
        await sdk.subscribe_call()

        await sdk.call("1001")  # client.call(): the SDK's JsSIP sends the INVITE
        outgoing = await sdk.expect("sip_session", incoming=False)
        ringing = await sdk.expect_call("ringing")
        call_id = ringing["id"]
        assert call_id == leg_of(events, bob).leg_id
        # The WS ringing carries the SIP Call-ID as sip_id, a prefix of JsSIP's session
        # id (Call-ID + From tag): that is how the SDK finds its session.
        assert ringing["sipId"] and outgoing["session"].startswith(ringing["sipId"])
        assert ringing["sip"] is True and ringing["sipSession"] == outgoing["session"]
        assert ringing["direction"] == "outbound" and ringing["destination"] == "1001"

        incoming = await other.expect("newRTCSession", direction="incoming")
        assert incoming["x_webitel_uuid"] == leg_of(events, alice).leg_id
        await other.answer(incoming["session"])
        await sdk.expect("sip_state", session=outgoing["session"], state="confirmed")
        assert (await sdk.expect_call("active", call_id))["answeredAt"] > 0
        bridge = await sdk.expect_call("bridge", call_id)
        assert bridge["to"] == party(alice, "Alice")

        await other.hangup(incoming["session"])
        hangup = await sdk.expect_call("hangup", call_id)
        assert hangup["hangupCause"] == "NORMAL_CLEARING" and hangup["hangupSipCode"] == 200
        await sdk.expect_call("destroy", call_id)
        await sdk.expect("sip_state", session=outgoing["session"], state="ended")


# -- (e) a second Client after a disconnect ---------------------------------------------------


async def test_a_new_client_rebuilds_a_live_call(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    """The SDK does not reconnect by itself: an application makes a new Client with the
    same token. Its `subscribe_call` brings the call in progress back, active, and the
    rebuilt call follows the live one to its end. (JsSIP phones place the call, so it
    ends when the test says, not after a timer.)"""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    token, _ = await issue_token(admin, bob.user_id)
    async with (
        JsSipPhone("alice", insecure_tls=True) as alice_phone,
        JsSipPhone("bob", insecure_tls=True) as bob_phone,
    ):
        await register_web_phone(alice_phone, node, alice)
        await register_web_phone(bob_phone, node, bob)

        async with WebitelClient("bob-first") as first:
            await first.connect(endpoint(node), token)
            await first.subscribe_call()
            session = await alice_phone.call(f"sip:1002@{DOMAIN}")
            incoming = await bob_phone.expect("newRTCSession", direction="incoming")
            await bob_phone.answer(incoming["session"])
            ringing = await first.expect_call("ringing")
            call_id = ringing["id"]
            await first.expect_call("bridge", call_id)
            await first.disconnect()
        assert first.find("disconnected") == []

        async with WebitelClient("bob-second") as second:
            await second.connect(endpoint(node), token)
            subscribed = await second.subscribe_call()
            [item] = subscribed["items"]
            assert item["id"] == call_id and item["state"] == "active"
            assert item["direction"] == "inbound" and item["from"] == party(alice, "Alice")
            [rebuilt] = subscribed["calls"]
            assert rebuilt["id"] == call_id and rebuilt["state"] == "active"
            assert rebuilt["answeredAt"] == item["answered_at"] > 0
            assert rebuilt["direction"] == "inbound" and rebuilt["destination"] == "1002"
            assert rebuilt["from"] == party(alice, "Alice")
            assert second.calls() == []  # rebuilt quietly: the handler got nothing yet

            await alice_phone.hangup(session)
            hangup = await second.expect_call("hangup", call_id)
            assert hangup["hangupCause"] == "NORMAL_CLEARING" and hangup["hangupSipCode"] == 200
            await second.expect_call("destroy", call_id)
            assert second.actions(call_id) == ["hangup", "destroy"]
            await bob_phone.expect("ended", session=incoming["session"])
    assert call_id in ended(events)
