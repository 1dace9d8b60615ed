"""A network loss, survived: the SDK reconnects by itself, replays every event it missed
(in order, once), and its phone registers again and takes calls."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser

from callboard.compat.webitel.events import event_frame
from callboard.sip.transport import TransportKind
from tests.e2e.conftest import (
    DOMAIN,
    WebUser,
    new_context,
    open_phone,
    provision_web_user,
    registered,
    wait_until,
)
from tests.support.jssip import JsSipPhone, ha1
from tests.support.netns import LoopbackNamespace
from tests.support.server import RunningServer

#: Fast retries, so that the test does not wait out the production backoff.
FAST = {"reconnect": {"minDelay": 200, "maxDelay": 1000}, "sipRecovery": {"min": 1, "max": 2}}


async def desk_phone(admin: httpx.AsyncClient, user: WebUser) -> tuple[str, str]:
    """A second device (a desk phone's account) for `user`; (account, password)."""
    account, password = f"desk{user.extension}", f"desk-{user.extension}-Secret"
    device = await admin.post(
        "/api/devices", json={"name": "desk phone", "account": account, "password": password}
    )
    assert device.status_code == 200, device.text
    current = (await admin.get(f"/api/users/{user.user_id}")).json()
    devices = [{"id": d["id"]} for d in current.get("devices", [])] + [{"id": device.json()["id"]}]
    updated = await admin.patch(f"/api/users/{user.user_id}", json={"devices": devices})
    assert updated.status_code == 200, updated.text
    return account, password


async def test_network_loss_replays_missed_events_and_registers_again(
    node: RunningServer,
    users: dict[str, WebUser],
    admin: httpx.AsyncClient,
    browser: Browser,
    network: LoopbackNamespace,
) -> None:
    """Alice and Bob talk; the browsers' network goes away (every connection cut, new ones
    refused). The server ends the call (a web phone's WebSocket closed), and while Bob is
    offline Dave calls him and talks to his desk phone. When the network is back, Bob's
    page shows all of it, from the server's numbered stream, with nothing lost; his web
    phone registers again and takes Alice's next call, with audio."""
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice", **FAST)
    bob = await open_phone(await new_context(browser), node, users["bob"], "bob", **FAST)
    await registered(alice)
    await registered(bob)
    dave_user = await provision_web_user(admin, "1004", "Dave")
    desk_account, desk_password = await desk_phone(admin, users["bob"])
    ws = f"ws://{node.sip_address(TransportKind.WS)}"

    async with JsSipPhone("bob-desk") as desk, JsSipPhone("dave") as dave:
        await desk.register(
            uri=f"sip:{desk_account}@{DOMAIN}",
            ws_url=ws,
            authorization_user=desk_account,
            ha1=ha1(desk_account, DOMAIN, desk_password),
            realm=DOMAIN,
        )
        await desk.expect("registered")
        await dave.register(
            uri=f"sip:1004@{DOMAIN}",
            ws_url=ws,
            authorization_user="web1004",
            ha1=ha1("web1004", DOMAIN, "sip-1004-Secret"),
            realm=DOMAIN,
        )
        await dave.expect("registered")

        # Alice calls Bob; his web phone answers (his desk phone stops ringing).
        first = await alice.js("async () => (await window.client.call('1002')).id")
        bob_first = (await bob.event("incoming"))["id"]
        await bob.until("(id) => window.client.getCall(id).ringsHere", bob_first)
        await bob.js("(id) => window.client.getCall(id).answer()", bob_first)
        await alice.event("connected", id=first)
        await desk.expect("newRTCSession", direction="incoming")
        assert (await desk.expect("failed"))["cause"] == "Canceled"
        await bob.audio_flows(bob_first)
        seq_before = await bob.js("() => window.client.lastSeq")

        # The network goes away.
        network.down = True
        network.drop()
        await bob.until("() => window.client.connection === 'reconnecting'")
        await alice.until("() => window.client.connection === 'reconnecting'")
        bob_id = int(users["bob"].user_id)
        hub = node.runtime.hub
        # The server ended the call whose web phones are gone...
        await wait_until(lambda: node.runtime.live.of_user(bob_id) == [], "Bob's call ended")
        # ...and Dave calls Bob, whose desk phone answers; Dave hangs up.
        await dave.call(f"sip:1002@{DOMAIN}")
        await desk.expect("newRTCSession", direction="incoming")
        await desk.answer()
        await dave.expect("confirmed")
        await dave.hangup()
        await desk.expect("ended")
        await wait_until(lambda: node.runtime.live.of_user(bob_id) == [], "Dave's call ended")
        missed = hub.since(bob_id, seq_before)
        assert missed, "events happened while Bob was offline"
        assert await bob.js("() => window.client.lastSeq") == seq_before

        # The network comes back: the SDK reconnects and replays.
        network.down = False
        await bob.until("() => window.client.connection === 'connected'")
        await bob.until("(seq) => window.client.lastSeq === seq", hub.last_seq(bob_id))

    # Every call event of Bob's stream reached the page, in order, and no resync was needed.
    stream = [event_frame(e, node.runtime.node_id) for e in hub.since(bob_id, 0) or []]
    expected = [
        [f["data"]["call"]["id"], f["data"]["call"]["event"]]
        for f in stream
        if f is not None and f["event"] == "call"
    ]
    seen = await bob.js("() => window.wire")
    assert seen == expected
    assert await bob.events("resync") == []
    ended = await bob.js("(id) => window.client.getCall(id).toJSON()", bob_first)
    assert ended["state"] == "ended" and ended["cause"] == "DESTINATION_OUT_OF_ORDER"
    dave_calls = [e for e in await bob.events("ended") if e["id"] != bob_first]
    assert len(dave_calls) == 1 and dave_calls[0]["cause"] == "NORMAL_CLEARING"
    dave_call = await bob.js("(id) => window.client.getCall(id).toJSON()", dave_calls[0]["id"])
    assert dave_call["peer"]["number"] == "1004" and dave_call["answeredAt"] is not None
    assert dave_user.extension == "1004"

    # Bob's web phone registered again (a new binding), and takes Alice's next call.
    await registered(bob)
    await registered(alice)
    assert node.telephony is not None
    await wait_until(lambda: _bound(node, "web1002"), "Bob's web phone registered again", within=30)
    second = await alice.js("async () => (await window.client.call('1002')).id")
    bob_second = await bob.until(
        "() => { const calls = window.events.filter((e) => e.name === 'incoming');"
        " return calls.length === 3 && calls[2].id; }"
    )
    await bob.until("(id) => window.client.getCall(id).ringsHere", bob_second)
    await bob.js("(id) => window.client.getCall(id).answer()", bob_second)
    await alice.audio_flows(second)
    await bob.audio_flows(bob_second)
    await bob.js("(id) => window.client.getCall(id).hangup()", bob_second)
    assert (await alice.event("ended", id=second))["cause"] == "NORMAL_CLEARING"
    await bob.screenshot("after-network-loss")


async def _bound(node: RunningServer, account: str) -> bool:
    assert node.telephony is not None
    return bool(await node.telephony.location.lookup(f"sip:{account}@{DOMAIN}"))
