"""The Webitel WebSocket protocol over a real node: handshake, errors, and call events
from a real SIP call (the published SDK itself is driven in its own tests)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets

from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, provision
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def _token(admin: httpx.AsyncClient, user_id: str) -> str:
    token: str = (await admin.post(f"/api/users/{user_id}/tokens", json={"usage": "ws"})).json()[
        "token"
    ]
    return token


async def _request(ws: Any, seq: int, action: str, data: dict[str, Any] | None = None) -> None:
    frame: dict[str, Any] = {"seq": seq, "action": action}
    if data is not None:
        frame["data"] = data
    await ws.send(json.dumps(frame))


async def _frame(ws: Any) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(await ws.recv())
    return value


async def test_handshake_errors_and_call_events(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    url = node.url.replace("http", "ws") + "/ws//websocket?application_name=webitel_sdk"
    async with websockets.connect(url) as ws:
        await _request(ws, 1, "subscribe_call")
        assert (await _frame(ws))["error"]["code"] == 401
        await _request(ws, 2, "authentication_challenge", {"token": "wrong"})
        failed = await _frame(ws)
        assert failed["status"] == "FAIL" and failed["seq_reply"] == 2
        await _request(
            ws, 3, "authentication_challenge", {"token": await _token(admin, bob.user_id)}
        )
        hello = await _frame(ws)
        assert hello["event"] == "hello" and hello["data"]["session"]["user_id"] == int(bob.user_id)
        assert await _frame(ws) == {"status": "OK", "seq_reply": 3}
        await _request(ws, 4, "user_default_device", {"name": "webrtc"})
        device = (await _frame(ws))["data"]
        assert device["realm"] == DOMAIN and device["uri"] == f"sip:1002@{DOMAIN}"
        assert device["server"].startswith("wss://") and len(device["ha1"]) == 32
        await _request(ws, 5, "no_such_action")
        assert (await _frame(ws))["error"]["id"] == "api.web_socket_router.bad_action.app_error"

        server = str(node.sip_address(TransportKind.UDP))
        answering = await sipp.agent(bob.account, bob.password, domain=DOMAIN).answer_calls(
            server=server, calls=1
        )
        caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
        await caller.register(server)
        assert (await caller.call(server, bob.extension, duration_ms=200)).ok
        await answering.wait_calls(1)
        events = [await _frame(ws) for _ in range(4)]
        names = [frame["data"]["call"]["event"] for frame in events]
        assert names == ["ringing", "active", "bridge", "hangup"]
        assert [frame["seq"] for frame in events] == [1, 2, 3, 4]
        ringing = events[0]["data"]["call"]["data"]
        assert ringing["direction"] == "inbound" and ringing["from"]["number"] == "1001"
        assert events[3]["data"]["call"]["data"] == {"cause": "NORMAL_CLEARING", "sip": 200}
        # A client that lost the connection asks for what it missed.
        await _request(ws, 6, "events_since", {"seq": 2})
        replay = (await _frame(ws))["data"]
        assert [item["seq"] for item in replay["items"]] == [3, 4] and replay["last_seq"] == 4
