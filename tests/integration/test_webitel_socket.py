"""The Webitel WebSocket protocol over a real node: handshake, errors, and call events
from a real SIP call (the published SDK itself is driven in its own tests)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import websockets

from callboard.calls.events import Direction, LegRinging, Party, PartyKind
from callboard.compat.webitel import socket as webitel_socket
from tests.api.helpers import make_token
from tests.integration.conftest import DOMAIN, provision
from tests.integration.helpers import registered_call, registered_pair, server_of, ws_frame, ws_send
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def test_handshake_errors_and_call_events(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    url = node.url.replace("http", "ws") + "/ws//websocket?application_name=webitel_sdk"
    async with websockets.connect(url) as ws:
        # The client offers permessage-deflate, as browsers do; small frames are sent plain.
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws_send(ws, 1, "subscribe_call")
        assert (await ws_frame(ws))["error"]["code"] == 401
        await ws_send(ws, 2, "authentication_challenge", {"token": "wrong"})
        failed = await ws_frame(ws)
        assert failed["status"] == "FAIL" and failed["seq_reply"] == 2
        await ws_send(
            ws, 3, "authentication_challenge", {"token": await make_token(admin, bob.user_id)}
        )
        hello = await ws_frame(ws)
        assert hello["event"] == "hello" and hello["data"]["session"]["user_id"] == int(bob.user_id)
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 3}
        await ws_send(ws, 4, "user_default_device", {"name": "webrtc"})
        device = (await ws_frame(ws))["data"]
        assert device["realm"] == DOMAIN and device["uri"] == f"sip:1002@{DOMAIN}"
        assert device["server"].startswith("wss://") and len(device["ha1"]) == 32
        await ws_send(ws, 5, "no_such_action")
        assert (await ws_frame(ws))["error"]["id"] == "api.web_socket_router.bad_action.app_error"

        assert (await registered_call(sipp, node, alice, bob)).ok
        events = [await ws_frame(ws) for _ in range(4)]
        names = [frame["data"]["call"]["event"] for frame in events]
        assert names == ["ringing", "active", "bridge", "hangup"]
        assert [frame["seq"] for frame in events] == [1, 2, 3, 4]
        ringing = events[0]["data"]["call"]["data"]
        assert ringing["direction"] == "inbound" and ringing["from"]["number"] == "1001"
        assert events[3]["data"]["call"]["data"] == {"cause": "NORMAL_CLEARING", "sip": 200}
        # A client that lost the connection asks for what it missed.
        await ws_send(ws, 6, "events_since", {"seq": 2})
        replay = (await ws_frame(ws))["data"]
        assert [item["seq"] for item in replay["items"]] == [3, 4] and replay["last_seq"] == 4


async def test_call_control_over_the_socket(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    """Hold, unhold, DTMF and hangup sent as the SDK sends them drive the real SIP legs."""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    caller, answering = await registered_pair(sipp, node, alice, bob)
    url = node.url.replace("http", "ws") + "/ws/websocket"
    async with websockets.connect(url) as ws, websockets.connect(url) as other:
        await ws_send(
            ws, 1, "authentication_challenge", {"token": await make_token(admin, bob.user_id)}
        )
        await ws_frame(ws)
        await ws_frame(ws)
        await ws_send(
            other, 1, "authentication_challenge", {"token": await make_token(admin, alice.user_id)}
        )
        await ws_frame(other)
        await ws_frame(other)
        # Alice waits for the far end to hang up; Bob's app will.
        call = asyncio.create_task(
            caller.call(server_of(node, "udp"), bob.extension, scenario="uac_passive.xml")
        )
        names = [(await ws_frame(ws))["data"]["call"] for _ in range(3)]
        assert [c["event"] for c in names] == ["ringing", "active", "bridge"]
        leg = names[0]["id"]

        await ws_send(ws, 2, "call_hold", {"id": leg, "app_id": names[0]["app_id"]})
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 2}
        assert (await ws_frame(ws))["data"]["call"]["event"] == "hold"
        await ws_send(ws, 3, "call_unhold", {"id": leg, "app_id": names[0]["app_id"]})
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 3}
        assert (await ws_frame(ws))["data"]["call"]["event"] == "active"

        # Alice's leg: DTMF goes to Bob's phone; Bob may not touch Alice's leg.
        alice_frames = [(await ws_frame(other))["data"]["call"] for _ in range(3)]
        alice_leg = alice_frames[0]["id"]
        await ws_send(other, 2, "call_dtmf", {"id": alice_leg, "app_id": "x", "dtmf": "7"})
        assert await ws_frame(other) == {"status": "OK", "seq_reply": 2}
        dtmf = (await ws_frame(other))["data"]["call"]
        assert (dtmf["event"], dtmf["data"]) == ("dtmf", {"digit": "7"})
        await ws_send(ws, 4, "call_hangup", {"id": alice_leg, "app_id": "x"})
        assert (await ws_frame(ws))["error"]["code"] == 404

        await ws_send(ws, 5, "call_hangup", {"id": leg, "app_id": names[0]["app_id"]})
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 5}
        hangup = (await ws_frame(ws))["data"]["call"]
        assert hangup["event"] == "hangup" and hangup["data"]["cause"] == "NORMAL_CLEARING"
        assert (await call).ok
        await answering.wait_calls(1)
        await ws_send(ws, 6, "call_hold", {"id": leg, "app_id": "x"})
        assert (await ws_frame(ws))["error"]["id"] == "app.call.not_found"


async def test_revoked_token_closes_its_socket(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    bob = await provision(admin, "1002", name="Bob")
    created = (await admin.post(f"/api/users/{bob.user_id}/tokens", json={"usage": "ws"})).json()
    url = node.url.replace("http", "ws") + "/ws/websocket"
    async with websockets.connect(url) as ws:
        await ws_send(ws, 1, "authentication_challenge", {"token": created["token"]})
        assert (await ws_frame(ws))["event"] == "hello"
        await ws_frame(ws)
        revoked = await admin.delete(f"/api/users/{bob.user_id}/tokens/{created['id']}")
        assert revoked.status_code == 200
        error = await ws_frame(ws)
        assert error["event"] == "error" and error["data"]["error"]["id"] == "app.session.revoked"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_every_tab_of_a_user_gets_every_event(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    """Two sockets of one user (browser tabs) each get every event, the same frame with
    the same seq; the tab that sent a request still gets its reply before the events it
    caused, while the other tab gets them at once. (Each event is encoded once for all
    the sockets that get it.)"""
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    caller, answering = await registered_pair(sipp, node, alice, bob)
    token = await make_token(admin, bob.user_id)
    url = node.url.replace("http", "ws") + "/ws/websocket"
    async with websockets.connect(url) as tab, websockets.connect(url) as other:
        for socket in (tab, other):
            await ws_send(socket, 1, "authentication_challenge", {"token": token})
            assert (await ws_frame(socket))["event"] == "hello"
            assert await ws_frame(socket) == {"status": "OK", "seq_reply": 1}
        call = asyncio.create_task(
            caller.call(server_of(node, "udp"), bob.extension, scenario="uac_passive.xml")
        )
        first = [await ws_frame(tab) for _ in range(3)]
        assert [f["data"]["call"]["event"] for f in first] == ["ringing", "active", "bridge"]
        assert [await ws_frame(other) for _ in range(3)] == first
        leg = first[0]["data"]["call"]["id"]

        await ws_send(tab, 2, "call_hold", {"id": leg, "app_id": "x"})
        assert await ws_frame(tab) == {"status": "OK", "seq_reply": 2}
        held = await ws_frame(tab)
        assert held["data"]["call"]["event"] == "hold" and held["seq"] == 4
        assert await ws_frame(other) == held

        await ws_send(other, 2, "call_hangup", {"id": leg, "app_id": "x"})
        assert await ws_frame(other) == {"status": "OK", "seq_reply": 2}
        hangup = await ws_frame(other)
        assert hangup["data"]["call"]["event"] == "hangup" and hangup["seq"] == 5
        assert await ws_frame(tab) == hangup
        assert (await call).ok
        await answering.wait_calls(1)


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(
    node: RunningServer, admin: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen tab (it stops reading, so its TCP window and the server's send buffer
    fill) is dropped once QUEUE_LIMIT frames wait for it: publishing never waits for it,
    the server closes its connection, and a healthy tab of the same user gets every
    event, in order."""
    monkeypatch.setattr(webitel_socket, "QUEUE_LIMIT", 20)
    bob = await provision(admin, "1002", name="Bob")
    token = await make_token(admin, bob.user_id)
    url = node.url.replace("http", "ws") + "/ws/websocket"
    host, port = node.url.removeprefix("http://").split(":")
    frozen_socket = socket.socket()
    frozen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frozen_socket.connect((host, int(port)))
    count, note = 1000, "x" * 16_000  # 16 MB: more than any send and receive buffers
    async with (
        websockets.connect(url, sock=frozen_socket, max_queue=1) as frozen,
        websockets.connect(url, max_size=None) as healthy,
    ):
        for ws in (frozen, healthy):
            await ws_send(ws, 1, "authentication_challenge", {"token": token})
            assert (await ws_frame(ws))["event"] == "hello"
            assert await ws_frame(ws) == {"status": "OK", "seq_reply": 1}

        async def read_all() -> list[int]:
            seqs: list[int] = []
            while len(seqs) < count:
                frame = await ws_frame(healthy)
                assert frame["data"]["call"]["data"]["payload"]["note"] == note
                seqs.append(frame["seq"])
            return seqs

        reading = asyncio.create_task(read_all())
        for n in range(count):
            node.runtime.hub.publish(int(bob.user_id), _ringing(int(bob.user_id), n, note))
            if n % 10 == 9:
                await asyncio.sleep(0.005)  # the writers run between bursts
        assert await reading == list(range(1, count + 1))

        got = 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(frozen.recv(), 10)
                got += 1
        # Closed by the server, without waiting to flush a close frame to a client that
        # does not read (the connection is cut), or with 1011 if that frame got through.
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1011
        assert got < count


def _ringing(user_id: int, n: int, note: str) -> LegRinging:
    bob = Party("1002", "Bob", PartyKind.USER, user_id)
    return LegRinging(
        leg_id=f"leg-{n}",
        call_id=f"call-{n}",
        domain_id=1,
        user_id=user_id,
        timestamp=n,
        direction=Direction.INBOUND,
        caller=Party("1001", "Alice"),
        callee=bob,
        destination="1002",
        sip_call_id=f"sip-{n}",
        variables={"note": note},
    )
