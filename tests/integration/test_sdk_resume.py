"""What the browser SDK relies on to resume its event stream: `subscribe_call` says which
event its snapshot reflects (`last_seq`), and `events_since` continues from there."""

from __future__ import annotations

import httpx
import websockets

from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, provision
from tests.integration.test_webitel_socket import _frame, _request, _token
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def test_snapshot_names_its_last_seq_and_the_stream_resumes_from_it(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    url = node.url.replace("http", "ws") + "/websocket"
    token = await _token(admin, bob.user_id)
    async with websockets.connect(url) as ws:
        await _request(ws, 1, "authentication_challenge", {"token": token})
        await _frame(ws)
        await _frame(ws)
        await _request(ws, 2, "subscribe_call")
        assert (await _frame(ws))["data"] == {"items": [], "last_seq": 0}

    # A call Bob's clients did not see (no socket was open).
    server = str(node.sip_address(TransportKind.UDP))
    answering = await sipp.agent(bob.account, bob.password, domain=DOMAIN).answer_calls(
        server=server, calls=1
    )
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
    await caller.register(server)
    assert (await caller.call(server, bob.extension, duration_ms=200)).ok
    await answering.wait_calls(1)

    async with websockets.connect(url) as ws:
        await _request(ws, 1, "authentication_challenge", {"token": token})
        await _frame(ws)
        await _frame(ws)
        await _request(ws, 2, "subscribe_call")
        snapshot = (await _frame(ws))["data"]
        # The call is over (no live item) and the stream is at its hangup.
        assert snapshot == {"items": [], "last_seq": 4}
        await _request(ws, 3, "events_since", {"seq": 0})
        replay = (await _frame(ws))["data"]
        names = [item["data"]["call"]["event"] for item in replay["items"]]
        assert names == ["ringing", "active", "bridge", "hangup"]
        assert replay["last_seq"] == snapshot["last_seq"]
        await _request(ws, 4, "events_since", {"seq": snapshot["last_seq"]})
        assert (await _frame(ws))["data"] == {"items": [], "last_seq": 4}
