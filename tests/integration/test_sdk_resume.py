"""What the browser SDK relies on to resume its event stream: `subscribe_call` says which
event its snapshot reflects (`last_seq`), and `events_since` continues from there."""

from __future__ import annotations

import httpx
import websockets

from tests.api.helpers import make_token
from tests.integration.conftest import provision
from tests.integration.helpers import registered_call, ws_frame, ws_send
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def test_snapshot_names_its_last_seq_and_the_stream_resumes_from_it(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    url = node.url.replace("http", "ws") + "/websocket"
    token = await make_token(admin, bob.user_id)
    async with websockets.connect(url) as ws:
        await ws_send(ws, 1, "authentication_challenge", {"token": token})
        await ws_frame(ws)
        await ws_frame(ws)
        await ws_send(ws, 2, "subscribe_call")
        assert (await ws_frame(ws))["data"] == {"items": [], "last_seq": 0}

    # A call Bob's clients did not see (no socket was open).
    assert (await registered_call(sipp, node, alice, bob)).ok

    async with websockets.connect(url) as ws:
        await ws_send(ws, 1, "authentication_challenge", {"token": token})
        await ws_frame(ws)
        await ws_frame(ws)
        await ws_send(ws, 2, "subscribe_call")
        snapshot = (await ws_frame(ws))["data"]
        # The call is over (no live item) and the stream is at its hangup.
        assert snapshot == {"items": [], "last_seq": 4}
        await ws_send(ws, 3, "events_since", {"seq": 0})
        replay = (await ws_frame(ws))["data"]
        names = [item["data"]["call"]["event"] for item in replay["items"]]
        assert names == ["ringing", "active", "bridge", "hangup"]
        assert replay["last_seq"] == snapshot["last_seq"]
        await ws_send(ws, 4, "events_since", {"seq": snapshot["last_seq"]})
        assert (await ws_frame(ws))["data"] == {"items": [], "last_seq": 4}
