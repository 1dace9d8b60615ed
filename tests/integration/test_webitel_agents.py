"""The agent session with the published `webitel-sdk` (26.4.29, unmodified, in Node), and
agent events sharing one numbered stream with the events of real SIP calls.

Seed 000's app does `await client.agentSession()` after connecting (and catches the
rejection of a user who is not an agent); the SDK's `Agent` then goes online, pauses and
goes offline, and its state follows the server's `agent_status` events.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets

from tests.api.helpers import make_token
from tests.integration.conftest import provision
from tests.integration.helpers import registered_call, ws_frame, ws_send
from tests.support.server import RunningServer
from tests.support.sipp import Sipp
from tests.support.webitel import WebitelClient, WebitelRejected

AGENTS = "/api/call_center/agents"


def endpoint(node: RunningServer) -> str:
    """What an application passes as `endpoint`: the SDK adds `/websocket`."""
    return f"{node.url}/ws"


async def make_agent(admin: httpx.AsyncClient, user_id: str, **fields: Any) -> int:
    response = await admin.post(AGENTS, json={"user": {"id": user_id}, **fields})
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


async def test_the_sdk_agent_goes_online_pauses_and_goes_offline(
    node: RunningServer, admin: httpx.AsyncClient
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    agent_id = await make_agent(admin, alice.user_id, allow_channels=["call", "chat"])
    token = await make_token(admin, alice.user_id)
    async with WebitelClient("alice") as sdk:
        await sdk.connect(endpoint(node), token)
        session = await sdk.agent_session()  # cc_agent_session, then cc_agent_tasks
        assert session["agentId"] == agent_id and session["status"] == "offline"
        assert [c["channel"] for c in session["channels"]] == ["call", "chat"]
        assert session["isSupervisor"] is False and session["tasks"] == []
        await sdk.subscribe_agents_status({"agent_id": agent_id})

        await sdk.agent_online(["call"], on_demand=False)
        online = await sdk.expect("agent_status")
        assert online["status"]["status"] == "online" and online["status"]["agent_id"] == agent_id
        # The SDK applied it to its agent (it iterates `channels` for online).
        assert online["agent"]["status"] == "online"
        assert [c["channel"] for c in online["agent"]["channels"]] == ["call", "chat"]
        assert [c["state"] for c in online["agent"]["channels"]] == ["waiting", "waiting"]
        waiting = await sdk.agent_waiting("call")
        assert isinstance(waiting["result"]["timestamp"], int)

        paused = await sdk.agent_pause("lunch")
        assert paused["result"] is None
        pause = await sdk.expect("agent_status")
        assert pause["agent"]["status"] == "pause" and pause["agent"]["statusPayload"] == "lunch"
        # The same pause again: the SDK's pause() resolves with the server's error.
        refused = await sdk.agent_pause("lunch")
        assert refused["result"]["id"] == "app.agent.set_pause.payload"
        assert refused["agent"]["status"] == "pause"

        await sdk.agent_offline()
        offline = await sdk.expect("agent_status")
        assert offline["agent"]["status"] == "offline" and offline["agent"]["statusPayload"] is None
        with pytest.raises(WebitelRejected) as twice:
            await sdk.agent_offline()
        assert twice.value.error["raw"]["id"] == "app.agent.set_logout.agent_logged_out"

        # A supervisor's change over REST reaches the SDK's agent too.
        response = await admin.patch(
            f"{AGENTS}/{agent_id}/status", json={"status": "online", "channels": ["chat"]}
        )
        assert response.status_code == 200, response.text
        remote = await sdk.expect("agent_status")
        assert remote["agent"]["status"] == "online"
        now = await sdk.agent()
        assert now is not None and now["status"] == "online"
        assert [e["status"]["status"] for e in sdk.find("agent_status")] == [
            "online",
            "pause",
            "offline",
            "online",
        ]


async def test_a_user_who_is_not_an_agent(node: RunningServer, admin: httpx.AsyncClient) -> None:
    """Seed 000: `try { await client.agentSession() } catch { 'this user not agent' }`."""
    bob = await provision(admin, "1002", name="Bob")
    token = await make_token(admin, bob.user_id)
    async with WebitelClient("bob") as sdk:
        await sdk.connect(endpoint(node), token)
        with pytest.raises(WebitelRejected) as refused:
            await sdk.agent_session()
        assert refused.value.error["raw"]["id"] == "app.agent.not_found"
        assert refused.value.error["raw"]["code"] == 404
        assert await sdk.agent() is None
        # The connection is fine: calls still work.
        assert await sdk.subscribe_call() == {"items": [], "calls": []}


async def test_agent_and_call_events_share_the_users_sequence(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    bobs = await make_agent(admin, bob.user_id)
    token = await make_token(admin, bob.user_id)
    url = node.url.replace("http", "ws") + "/ws/websocket"
    async with websockets.connect(url) as ws:
        await ws_send(ws, 1, "authentication_challenge", {"token": token})
        assert (await ws_frame(ws))["event"] == "hello"
        await ws_frame(ws)
        await ws_send(ws, 2, "cc_agent_online", {"agent_id": bobs})
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 2}
        assert (await ws_frame(ws))["event"] == "agent_status"

        assert (await registered_call(sipp, node, alice, bob)).ok
        calls = [await ws_frame(ws) for _ in range(4)]
        assert [f["data"]["call"]["event"] for f in calls] == [
            "ringing",
            "active",
            "bridge",
            "hangup",
        ]
        await ws_send(ws, 3, "cc_agent_pause", {"payload": "wrap-up"})
        assert await ws_frame(ws) == {"status": "OK", "seq_reply": 3}
        paused = await ws_frame(ws)
        assert paused["event"] == "agent_status" and paused["data"]["status"] == "pause"
        assert [f["seq"] for f in calls] + [paused["seq"]] == [2, 3, 4, 5, 6]

        await ws_send(ws, 4, "events_since", {"seq": 0})
        replay = (await ws_frame(ws))["data"]
        assert [(item["event"], item["seq"]) for item in replay["items"]] == [
            ("agent_status", 1),
            ("call", 2),
            ("call", 3),
            ("call", 4),
            ("call", 5),
            ("agent_status", 6),
        ]
        assert replay["items"][1:5] == calls and replay["items"][5] == paused
