"""Calls between browsers through the SDK: real JsSIP in Chromium, real audio (fake
microphones), through a real node. What each side sees is the SDK's own events."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.e2e.conftest import DOMAIN, WebUser, new_context, open_phone, registered
from tests.support.server import RunningServer


async def test_call_with_audio_hold_dtmf_transfer_and_hangup(
    node: RunningServer, users: dict[str, WebUser], browser: Browser
) -> None:
    """Alice calls Bob; Bob's page rings and answers; audio flows both ways; hold and
    unhold change the media direction; DTMF reaches the server and Bob's phone; Bob
    transfers Alice to Carol, who answers and talks with her; Carol hangs up and both
    sides see the end."""
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice")
    bob = await open_phone(await new_context(browser), node, users["bob"], "bob")
    carol = await open_phone(await new_context(browser), node, users["carol"], "carol")
    for phone in (alice, bob, carol):
        await registered(phone)

    call_id = await alice.js("async () => (await window.client.call('1002')).id")
    incoming = await bob.event("incoming")
    assert incoming["direction"] == "inbound" and incoming["state"] == "ringing"
    bob_call = incoming["id"]
    await bob.until("(id) => window.client.getCall(id).ringsHere", bob_call)
    # The ringtone plays, and can be heard (the test browser allows autoplay).
    ringtone = await bob.js("() => window.client.ringtone")
    assert ringtone == {"playing": True, "audible": True, "calls": [bob_call]}
    peer = await bob.js("(id) => window.client.getCall(id).peer", bob_call)
    assert peer["number"] == "1001" and peer["name"] == "Alice"
    await bob.screenshot("incoming-call")

    await bob.js("(id) => window.client.getCall(id).answer()", bob_call)
    await bob.event("connected", id=bob_call)
    await alice.event("connected", id=call_id)
    assert (await bob.js("() => window.client.ringtone"))["playing"] is False

    # Audio both ways: packets and audio energy received on each side, over loopback.
    await alice.audio_flows(call_id)
    await bob.audio_flows(bob_call)
    for phone, leg in ((alice, call_id), (bob, bob_call)):
        stats = await phone.audio(leg)
        assert stats["pair"] == ["127.0.0.1", "127.0.0.1"], stats
        assert stats["direction"] == "sendrecv"
    await alice.screenshot("connected-call")

    # Hold: both phones are re-offered `inactive`; unhold: `sendrecv` again.
    await alice.js("(id) => window.client.getCall(id).hold()", call_id)
    await alice.event("held", id=call_id)
    for phone, leg in ((alice, call_id), (bob, bob_call)):
        await phone.until("async (id) => (await window.audio(id)).direction === 'inactive'", leg)
    await alice.js("(id) => window.client.getCall(id).unhold()", call_id)
    await alice.event("resumed", id=call_id)
    for phone, leg in ((alice, call_id), (bob, bob_call)):
        await phone.until("async (id) => (await window.audio(id)).direction === 'sendrecv'", leg)
    before = await bob.audio(bob_call)
    await bob.audio_flows(bob_call, after=before)

    # DTMF: the server reports the digits on Alice's call; Bob's phone gets them (INFO).
    await alice.js("(id) => window.client.getCall(id).sendDtmf('42#')", call_id)
    await alice.until("(id) => window.client.getCall(id).digits === '42#'", call_id)
    await bob.until(
        "() => window.events.filter((e) => e.name === 'dtmfReceived').map((e) => e.digit)"
        ".join('') === '42#'"
    )

    # Bob transfers Alice to Carol: Bob's call ends; Carol's phone rings with Alice.
    await bob.js("(id) => window.client.getCall(id).transfer('1003')", bob_call)
    ended = await bob.event("ended", id=bob_call)
    assert ended["cause"] == "BLIND_TRANSFER"
    carol_incoming = await carol.event("incoming")
    carol_call = carol_incoming["id"]
    peer = await carol.js("(id) => window.client.getCall(id).peer", carol_call)
    assert peer["number"] == "1001"
    before = await alice.audio(call_id)
    await carol.js("(id) => window.client.getCall(id).answer()", carol_call)
    await carol.event("connected", id=carol_call)
    await alice.until("(id) => window.client.getCall(id).peer.number === '1003'", call_id)
    await carol.audio_flows(carol_call)
    await alice.audio_flows(call_id, after=before)
    assert (await carol.audio(carol_call))["pair"] == ["127.0.0.1", "127.0.0.1"]

    # Carol hangs up: both see the end, with the cause.
    await carol.js("(id) => window.client.getCall(id).hangup()", carol_call)
    alice_end = await alice.event("ended", id=call_id)
    carol_end = await carol.event("ended", id=carol_call)
    assert alice_end["cause"] == carol_end["cause"] == "NORMAL_CLEARING"
    assert await alice.js("() => window.client.calls.length") == 0
    await alice.screenshot("after-transfer")

    # The phones stay registered, one binding each (the device account is the AOR).
    assert node.telephony is not None
    for extension in ("1001", "1002", "1003"):
        bindings = await node.telephony.location.lookup(f"sip:web{extension}@{DOMAIN}")
        assert len(bindings) == 1


async def test_click_to_call_rings_my_phone_first_then_the_destination(
    node: RunningServer, users: dict[str, WebUser], browser: Browser
) -> None:
    """Click-to-call from the page (`call_invite`): the server rings Alice's own web phone
    first, which answers by itself (the click was her go-ahead); then Bob's phone rings,
    and once he answers they talk. Then the same without auto-answer: Alice picks up."""
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice")
    bob = await open_phone(await new_context(browser), node, users["bob"], "bob")
    await registered(alice)
    await registered(bob)

    leg = await alice.js(
        "() => window.client.clickToCall('1002', { variables: { ticket: 'T-7' } })"
    )
    ringing = await alice.event("ringing", id=leg)
    assert ringing["direction"] == "outbound"
    await alice.event("connected", id=leg)
    call = await alice.js("(id) => window.client.getCall(id).toJSON()", leg)
    assert call["destination"] == "1002" and call["variables"] == {"ticket": "T-7"}
    bob_call = (await bob.event("incoming"))["id"]
    assert (await bob.js("(id) => window.client.getCall(id).peer", bob_call))["number"] == "1001"
    await bob.js("(id) => window.client.getCall(id).answer()", bob_call)
    await bob.event("connected", id=bob_call)
    await alice.audio_flows(leg)
    await bob.audio_flows(bob_call)
    await alice.js("(id) => window.client.getCall(id).hangup()", leg)
    assert (await bob.event("ended", id=bob_call))["cause"] == "NORMAL_CLEARING"
    assert (await alice.event("ended", id=leg))["cause"] == "NORMAL_CLEARING"

    # Without auto-answer, Alice's phone rings (it is her call to pick up) and the
    # destination is not called until she does.
    second = await alice.js("() => window.client.clickToCall('1002', { autoAnswer: false })")
    await alice.until("(id) => window.client.getCall(id)?.ringsHere", second)
    assert (await alice.js("() => window.client.ringtone"))["playing"] is True
    assert await bob.js("() => window.client.calls.length") == 0
    await alice.js("(id) => window.client.getCall(id).answer()", second)
    bob_second = await bob.until("() => window.client.calls.find((c) => c.state === 'ringing')?.id")
    await bob.js("(id) => window.client.getCall(id).answer()", bob_second)
    await alice.audio_flows(second)
    await bob.js("(id) => window.client.getCall(id).hangup()", bob_second)
    assert (await alice.event("ended", id=second))["cause"] == "NORMAL_CLEARING"


async def test_reject_and_cancel(
    node: RunningServer, users: dict[str, WebUser], browser: Browser
) -> None:
    """Bob declines Alice's call: she hears busy. Alice calls again and gives up while it
    rings: Bob's phone stops ringing and both see why."""
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice")
    bob = await open_phone(await new_context(browser), node, users["bob"], "bob")
    await registered(alice)
    await registered(bob)

    first = await alice.js("async () => (await window.client.call('1002')).id")
    declined = (await bob.event("incoming"))["id"]
    await bob.until("(id) => window.client.getCall(id).ringsHere", declined)
    await bob.js("(id) => window.client.getCall(id).reject()", declined)
    mine = await alice.until(
        "(id) => { const c = window.client.getCall(id); return c.ended && c.toJSON(); }", first
    )
    assert mine["cause"] == "USER_BUSY" and mine["sipCode"] == 486
    assert mine.get("answeredAt") is None
    assert (await bob.event("ended", id=declined))["cause"] == "USER_BUSY"
    assert (await bob.js("() => window.client.ringtone"))["playing"] is False

    second = await alice.js("async () => (await window.client.call('1002')).id")
    cancelled = await bob.until(
        "(first) => window.client.calls.find((c) => c.id !== first && c.ringsHere)?.id", declined
    )
    await bob.until("() => window.client.ringtone.playing")
    await alice.js("(id) => window.client.getCall(id).hangup()", second)
    assert (await bob.event("ended", id=cancelled))["cause"] == "ORIGINATOR_CANCEL"
    assert (await alice.event("ended", id=second))["cause"] == "ORIGINATOR_CANCEL"
    await bob.until("() => !window.client.ringtone.playing")
    assert await bob.js("() => window.client.calls.length") == 0
