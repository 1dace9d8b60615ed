"""The agent over the webitel-sdk WebSocket, frame by frame, on SQLite and PostgreSQL:
`cc_agent_session`, `cc_agent_tasks`, `cc_agent_online`/`pause`/`offline`/`waiting`,
`cc_agent_subscribe_status`, and the `agent_status` events on the users' numbered
streams (the published SDK itself is driven in tests/integration/test_webitel_agents.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import websockets

from tests.api.helpers import client_for, make_token, make_user, ok, other_domain
from tests.support.server import RunningServer

AGENTS = "/api/call_center/agents"


class Socket:
    """One webitel-sdk style connection: numbered requests, frames read in order."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = 0

    async def send(self, action: str, data: dict[str, Any] | None = None) -> int:
        self.seq += 1
        frame: dict[str, Any] = {"seq": self.seq, "action": action}
        if data is not None:
            frame["data"] = data
        await self.ws.send(json.dumps(frame))
        return self.seq

    async def frame(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        return value

    async def request(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send and return the reply, which must be the next frame."""
        seq = await self.send(action, data)
        reply = await self.frame()
        assert reply.get("seq_reply") == seq, reply
        return reply

    async def ok(self, action: str, data: dict[str, Any] | None = None) -> Any:
        reply = await self.request(action, data)
        assert reply["status"] == "OK", reply
        return reply.get("data")

    async def fail(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.request(action, data)
        assert reply["status"] == "FAIL", reply
        error: dict[str, Any] = reply["error"]
        assert set(error) == {"id", "status", "detail", "code"} and error["detail"], error
        return error

    async def event(self) -> dict[str, Any]:
        frame = await self.frame()
        assert "event" in frame and "seq_reply" not in frame, frame
        return frame


@contextlib.asynccontextmanager
async def connect(server: RunningServer, token: str) -> AsyncIterator[Socket]:
    url = server.url.replace("http", "ws") + "/ws/websocket?application_name=webitel_sdk"
    async with websockets.connect(url) as ws:
        socket = Socket(ws)
        seq = await socket.send("authentication_challenge", {"token": token})
        assert (await socket.frame())["event"] == "hello"
        assert await socket.frame() == {"status": "OK", "seq_reply": seq}
        yield socket


async def wait_until(condition: Any, what: str) -> None:
    """Wait (up to 10 s) for something the server does after a socket closed."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 10 s: {what}")


async def test_agent_session_and_status_over_the_socket(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    user = await make_user(admin, "alice", "1001", role=3)
    token = await make_token(admin, user["id"])
    async with connect(server, token) as ws, connect(server, token) as tab:
        # Not an agent yet: a clear error, which seed 000's app catches.
        missing = await ws.fail("cc_agent_session")
        assert (missing["id"], missing["code"]) == ("app.agent.not_found", 404)
        assert "not an agent" in missing["detail"]

        created = ok(await admin.post(AGENTS, json={"user": {"id": user["id"]}}))
        agent_id = int(created["id"])
        session = await ws.ok("cc_agent_session")
        assert session["agent_id"] == agent_id and session["status"] == "offline"
        assert isinstance(session["status_duration"], int) and session["status_duration"] >= 0
        assert session["last_status_change"] == int(created["last_status_change"])
        assert [(c["channel"], c["state"]) for c in session["channels"]] == [("call", "waiting")]
        assert session["is_supervisor"] is False and session["is_admin"] is False
        assert session["team"] is None and session["supervisor"] is None
        assert await ws.ok("cc_agent_tasks", {"agent_id": agent_id}) == {"items": []}

        # The reply comes first, then the event; every socket of the user gets it, with
        # the user's own sequence number.
        reply = await ws.request(
            "cc_agent_online", {"agent_id": agent_id, "channels": ["call"], "on_demand": False}
        )
        assert reply == {"status": "OK", "seq_reply": ws.seq}
        online = await ws.event()
        assert online["event"] == "agent_status" and online["seq"] == 1
        data = online["data"]
        assert (data["agent_id"], data["user_id"], data["status"]) == (
            agent_id,
            int(user["id"]),
            "online",
        )
        assert [c["channel"] for c in data["channels"]] == ["call"]
        assert data["channels"][0]["state"] == "waiting" and data["on_demand"] is False
        assert await tab.event() == online

        await ws.ok("cc_agent_pause", {"agent_id": agent_id, "payload": "lunch"})
        paused = await ws.event()
        assert (paused["seq"], paused["data"]["status"]) == (2, "pause")
        assert paused["data"]["status_payload"] == "lunch"
        assert [c["channel"] for c in paused["data"]["channels"]] == ["call"]  # kept
        assert paused["data"]["channels"][0]["joined_at"] == paused["data"]["timestamp"]
        assert await tab.event() == paused

        # Refusals: a FAIL reply, and no event.
        again = await ws.fail("cc_agent_pause", {"agent_id": agent_id, "payload": "lunch"})
        assert again["id"] == "app.agent.set_pause.payload"
        not_online = await ws.fail("cc_agent_waiting", {"agent_id": agent_id, "channel": "call"})
        assert not_online["id"] == "app.agent.waiting.not_online"
        for data_sent, error_id in (
            ({"agent_id": agent_id, "channels": ["fax"]}, "app.agent.channel.unknown"),
            ({"agent_id": agent_id, "channels": "call"}, "app.agent.bad_request"),
            ({"agent_id": "seven"}, "app.agent.bad_id"),
        ):
            assert (await ws.fail("cc_agent_online", data_sent))["id"] == error_id

        # Without agent_id, it is the caller's own agent (and without channels, all of
        # the agent's allow_channels).
        await ws.ok("cc_agent_online")
        resumed = await ws.event()
        assert resumed["seq"] == 3 and resumed["data"]["status"] == "online"
        waiting = await ws.ok("cc_agent_waiting", {"agent_id": agent_id, "channel": "call"})
        assert isinstance(waiting["timestamp"], int) and waiting["timestamp"] > 0
        off_channel = await ws.fail("cc_agent_waiting", {"channel": "chat"})
        assert off_channel["id"] == "app.agent.channel.not_online"

        # A change made over REST reaches the sockets the same way.
        ok(await admin.patch(f"{AGENTS}/{agent_id}/status", json={"status": "offline"}))
        offline = await ws.event()
        assert (offline["seq"], offline["data"]["status"]) == (4, "offline")
        twice = await ws.fail("cc_agent_offline", {"agent_id": agent_id})
        assert twice["id"] == "app.agent.set_logout.agent_logged_out"

        assert [(await tab.event())["seq"] for _ in range(2)] == [3, 4]

        # A reconnecting client replays what it missed, agent events included.
        replay = await tab.ok("events_since", {"seq": 1})
        assert [(i["event"], i["seq"]) for i in replay["items"]] == [
            ("agent_status", 2),
            ("agent_status", 3),
            ("agent_status", 4),
        ]
        assert replay["items"][0] == paused and replay["items"][2] == offline
        assert replay["last_seq"] == 4


async def test_watching_other_agents(admin: httpx.AsyncClient, server: RunningServer) -> None:
    bob = await make_user(admin, "bob", "1002", role=3)
    carol = await make_user(admin, "carol", "1003", role=3)
    sup = await make_user(admin, "sup", "1009", role=2)
    bobs = int(ok(await admin.post(AGENTS, json={"user": {"id": bob["id"]}}))["id"])
    carols = int(ok(await admin.post(AGENTS, json={"user": {"id": carol["id"]}}))["id"])
    hub = server.runtime.hub

    async with connect(server, await make_token(admin, sup["id"])) as supervisor:
        # The supervisor is no agent, yet watches Bob; twice asked is once watched.
        await supervisor.ok("cc_agent_subscribe_status", {"agent_id": bobs})
        await supervisor.ok("cc_agent_subscribe_status", {"agent_id": str(bobs)})
        assert hub.watchers(bobs, 1) == {int(sup["id"])}
        async with connect(server, await make_token(admin, bob["id"])) as agent:
            await agent.ok("cc_agent_online", {"agent_id": bobs})
            mine = await agent.event()
            theirs = await supervisor.event()
            assert theirs["data"] == mine["data"] and theirs["data"]["agent_id"] == bobs
            assert (mine["seq"], theirs["seq"]) == (1, 1)  # each user's own numbering

            # An agent may not watch, nor set the status of, another agent.
            refused = await agent.fail("cc_agent_subscribe_status", {"agent_id": carols})
            assert (refused["id"], refused["code"]) == ("api.context.permissions.app_error", 403)
            refused = await agent.fail("cc_agent_pause", {"agent_id": carols})
            assert refused["code"] == 403
            refused = await agent.fail("cc_agent_tasks", {"agent_id": carols})
            assert refused["code"] == 403
            needs_id = await agent.fail("cc_agent_subscribe_status")
            assert needs_id["id"] == "app.agent.bad_request"
            # Own agent: accepted (its events reach its user anyway), nothing added.
            await agent.ok("cc_agent_subscribe_status", {"agent_id": bobs})
            assert hub.watchers(bobs, 1) == {int(sup["id"])}

        # Every agent of the domain; the supervisor may also set their status.
        await supervisor.ok("cc_agent_subscribe_status")
        await supervisor.ok("cc_agent_pause", {"agent_id": carols, "payload": "training"})
        carol_paused = await supervisor.event()
        assert carol_paused["data"]["agent_id"] == carols and carol_paused["seq"] == 2
        assert (await supervisor.fail("cc_agent_session"))["id"] == "app.agent.not_found"
        gone = await supervisor.fail("cc_agent_subscribe_status", {"agent_id": 424242})
        assert gone["code"] == 404

    # Closing the socket ends its watches: later changes reach nobody else.
    await wait_until(lambda: hub.watchers(bobs, 1) == frozenset(), "the watches ended")
    seq_before = hub.last_seq(int(sup["id"]))
    async with client_for(admin, await make_token(admin, bob["id"])) as as_bob:
        ok(await as_bob.patch(f"{AGENTS}/{bobs}/status", json={"status": "offline"}))
    assert hub.last_seq(int(sup["id"])) == seq_before
    assert hub.last_seq(int(bob["id"])) == 2


async def test_another_domains_agent_is_not_found(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    dave = await make_user(admin, "dave", "1004", role=3)
    daves = int(ok(await admin.post(AGENTS, json={"user": {"id": dave["id"]}}))["id"])
    in_other = await other_domain(admin, "other.lo")
    boss = await make_user(admin, "boss", role=1, params=in_other)
    async with connect(server, await make_token(admin, boss["id"], params=in_other)) as them:
        for action in ("cc_agent_online", "cc_agent_tasks", "cc_agent_subscribe_status"):
            error = await them.fail(action, {"agent_id": daves})
            assert (error["id"], error["code"]) == ("app.agent.not_found", 404), action
    assert ok(await admin.get(f"{AGENTS}/{daves}"))["status"] == "offline"
