"""Watching another user's calls over the socket (`subscribe_user_calls`, what
`Cti.Connector.subscribe('user:N')` sends), with real calls between SIPp phones: the
watcher's own numbered stream carries them as `user_call` events, only with the
`calls:read` permission, and only while a socket asked."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import websockets

from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, provision
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = 0

    async def frame(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 15))
        return value

    async def request(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reply, which must be the next frame."""
        self.seq += 1
        await self.ws.send(json.dumps({"seq": self.seq, "action": action, "data": data or {}}))
        reply = await self.frame()
        assert reply.get("seq_reply") == self.seq, reply
        return reply


@contextlib.asynccontextmanager
async def connect(node: RunningServer, token: str) -> AsyncIterator[Socket]:
    async with websockets.connect(node.url.replace("http", "ws") + "/websocket") as ws:
        socket = Socket(ws)
        await ws.send(
            json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": token}})
        )
        socket.seq = 1
        assert (await socket.frame())["event"] == "hello"
        assert (await socket.frame())["status"] == "OK"
        yield socket


async def token_of(admin: httpx.AsyncClient, user_id: str) -> str:
    answer = await admin.post(f"/api/users/{user_id}/tokens", json={"usage": "watch"})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def supervisor(admin: httpx.AsyncClient) -> str:
    licenses = (await admin.get("/api/licenses")).json()["items"]
    answer = await admin.post(
        "/api/users",
        json={
            "name": "Sam Supervisor",
            "username": "sam",
            "roles": [{"id": 2}],
            "license": [{"id": licenses[0]["id"]}],
        },
    )
    assert answer.status_code == 200, answer.text
    user_id: str = answer.json()["id"]
    return user_id


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 15 s: {what}")


async def test_a_supervisor_follows_a_users_calls(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    carol = await provision(admin, "1003", name="Carol")
    sam = await supervisor(admin)
    hub = node.runtime.hub
    server = str(node.sip_address(TransportKind.UDP))
    answering = await sipp.agent(bob.account, bob.password, domain=DOMAIN).answer_calls(
        server=server, calls=2
    )
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
    await caller.register(server)

    async with (
        connect(node, await token_of(admin, sam)) as watcher,
        connect(node, await token_of(admin, carol.user_id)) as plain,
    ):
        # Clear errors: no permission, not a user id, nobody, another domain's user.
        denied = await plain.request("subscribe_user_calls", {"user_id": bob.user_id})
        assert denied["status"] == "FAIL" and denied["error"]["code"] == 403
        bad = await watcher.request("subscribe_user_calls", {"user_id": "bob"})
        assert (bad["error"]["code"], bad["error"]["id"]) == (400, "app.user.bad_id")
        nobody = await watcher.request("subscribe_user_calls", {"user_id": 999999})
        assert (nobody["error"]["code"], nobody["error"]["id"]) == (404, "app.user.not_found")
        other = (await admin.post("/api/domains", json={"name": "other-company.lo"})).json()
        stranger = await admin.post(
            "/api/users", json={"username": "stranger"}, params={"domain_id": other["id"]}
        )
        assert stranger.status_code == 200, stranger.text
        hidden = await watcher.request("subscribe_user_calls", {"user_id": stranger.json()["id"]})
        assert hidden["error"]["code"] == 404
        # One's own calls need no permission (and no watch: they are on one's stream).
        own = await plain.request("subscribe_user_calls", {"user_id": carol.user_id})
        assert own["status"] == "OK" and own["data"]["items"] == []

        # Subscribed (twice is once): Bob's calls come on Sam's stream, as `user_call`.
        for _ in range(2):
            reply = await watcher.request("subscribe_user_calls", {"user_id": bob.user_id})
            assert reply["status"] == "OK"
            assert reply["data"] == {"user_id": int(bob.user_id), "items": []}
        assert (await caller.call(server, bob.extension, duration_ms=200)).ok
        events = [await watcher.frame() for _ in range(4)]
        assert [frame["event"] for frame in events] == ["user_call"] * 4
        calls = [frame["data"]["call"] for frame in events]
        assert [c["event"] for c in calls] == ["ringing", "active", "bridge", "hangup"]
        assert {c["user_id"] for c in calls} == {bob.user_id}
        assert [frame["seq"] for frame in events] == [1, 2, 3, 4]
        ringing = calls[0]["data"]
        assert ringing["direction"] == "inbound" and ringing["from"]["number"] == "1001"
        # Replayed like the rest of the stream after a reconnection.
        replay = await watcher.request("events_since", {"seq": 2})
        assert [item["event"] for item in replay["data"]["items"]] == ["user_call"] * 2
        assert [item["seq"] for item in replay["data"]["items"]] == [3, 4]

        # Unsubscribed: Bob's next call reaches Bob's stream, not Sam's.
        assert (await watcher.request("un_subscribe_user_calls", {"user_id": bob.user_id}))[
            "status"
        ] == "OK"
        bob_seq = hub.last_seq(int(bob.user_id))
        assert (await caller.call(server, bob.extension, duration_ms=200)).ok
        await answering.wait_calls(2)
        await until(lambda: hub.last_seq(int(bob.user_id)) >= bob_seq + 4, "bob's second call")
        assert (await watcher.request("ping"))["data"]["pong"] == 1
        assert hub.last_seq(int(sam)) == 4


async def test_a_live_call_is_in_the_snapshot_and_the_watch_ends_with_the_socket(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    sam = await supervisor(admin)
    server = str(node.sip_address(TransportKind.UDP))
    answering = await sipp.agent(bob.account, bob.password, domain=DOMAIN).answer_calls(
        server=server, calls=1
    )
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
    await caller.register(server)
    # Alice waits for the far end to hang up: the supervisor will.
    call = asyncio.create_task(caller.call(server, bob.extension, scenario="uac_passive.xml"))
    live = node.runtime.live
    await until(
        lambda: [leg.bridged_at is not None for leg in live.of_user(int(bob.user_id))] == [True],
        "bob's leg bridged",
    )
    async with connect(node, await token_of(admin, sam)) as watcher:
        reply = await watcher.request("subscribe_user_calls", {"user_id": bob.user_id})
        [item] = reply["data"]["items"]
        assert item["state"] == "active" and item["direction"] == "inbound"
        assert item["from"]["number"] == "1001"
        # A supervisor may end it (calls:control), and sees it end.
        hung = await watcher.request("call_hangup", {"id": item["id"], "app_id": item["app_id"]})
        assert hung["status"] == "OK"
        ended = await watcher.frame()
        assert ended["event"] == "user_call"
        assert (
            ended["data"]["call"]["event"] == "hangup"
            and ended["data"]["call"]["id"] == (item["id"])
        )
        assert node.runtime.hub.call_watchers(int(bob.user_id)) == {int(sam)}
    assert (await call).ok
    await answering.wait_calls(1)
    await until(
        lambda: not node.runtime.hub.call_watchers(int(bob.user_id)),
        "the watch ended with the socket",
    )
