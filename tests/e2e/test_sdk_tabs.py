"""Several tabs of one browser: one owns the phone and rings, the others mirror it and
send it commands; when the owner closes, the next tab takes the phone. Plus what the
owning tab does for the person: the desktop notification, mute, the audio devices."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.e2e.conftest import (
    DOMAIN,
    PhonePage,
    WebUser,
    new_context,
    open_phone,
    registered,
    wait_until,
)
from tests.support.server import RunningServer


async def _bindings(node: RunningServer, account: str) -> int:
    assert node.telephony is not None
    return len(await node.telephony.location.lookup(f"sip:{account}@{DOMAIN}"))


async def _audio_energy(listener: PhonePage, call_id: str, *, silent: bool) -> float:
    """Wait for a window of 50 packets received on `call_id` whose audio energy is nil
    (`silent`) or clearly not (the fake microphone beeps twice a second); its energy.
    The first windows after a change may still carry audio sent before it."""
    for _ in range(10):
        start = await listener.audio(call_id)
        await listener.until(
            "async ([id, n]) => (await window.audio(id)).packetsReceived > n + 50",
            [call_id, start["packetsReceived"]],
        )
        energy = float((await listener.audio(call_id))["energy"] - start["energy"])
        if (energy < 1e-6) if silent else (energy > 1e-3):
            return energy
    raise AssertionError(f"{listener.name}: no {'silent' if silent else 'loud'} window")


async def test_one_tab_rings_the_others_mirror_and_command_it(
    node: RunningServer, users: dict[str, WebUser], browser: Browser
) -> None:
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice")
    bob_browser = await new_context(browser)
    await bob_browser.grant_permissions(["notifications"], origin=node.url)
    first = await open_phone(bob_browser, node, users["bob"], "bob-tab-1")
    await registered(first)
    second = await open_phone(bob_browser, node, users["bob"], "bob-tab-2")
    await registered(alice)
    # The second tab mirrors the first one's phone; only one phone is registered.
    await second.until(
        "() => window.client.phone.state === 'registered' && "
        "window.client.phone.owner === 'other-tab'"
    )
    assert await first.js("() => window.client.isLeader") is True
    assert await second.js("() => window.client.isLeader") is False
    assert await _bindings(node, "web1002") == 1

    # The first tab is in the background: the call raises a desktop notification there.
    await first.js(
        "() => Object.defineProperty(document, 'visibilityState', "
        "{ configurable: true, get: () => 'hidden' })"
    )
    alice_call = await alice.js("async () => (await window.client.call('1002')).id")
    in_first = (await first.event("incoming"))["id"]
    in_second = (await second.event("incoming"))["id"]
    assert in_first == in_second
    await first.until("() => window.client.ringtone.playing")
    await second.until("(id) => window.client.getCall(id).ringsHere", in_second)
    notes = await first.until("() => window.notifications.length > 0 && window.notifications")
    assert notes == [{"title": "Incoming call", "body": "Alice 1001"}]
    await second.screenshot("second-tab-mirrors-ringing")
    # The second tab does not ring and shows no notification.
    assert (await second.js("() => window.client.ringtone"))["playing"] is False
    assert await second.events("ringtone") == []
    assert await second.js("() => window.notifications") == []

    # The second tab answers: the first tab's phone does it, and carries the audio.
    await second.js("(id) => window.client.getCall(id).answer()", in_second)
    await first.event("connected", id=in_first)
    await second.event("connected", id=in_second)
    await first.until("() => !window.client.ringtone.playing")
    await alice.audio_flows(alice_call)
    await first.audio_flows(in_first)
    assert await second.js("(id) => window.client.getCall(id).onPhone", in_second) is True
    assert await second.js("(id) => window.client.getCall(id).getStats()", in_second) is None

    # Mute from the second tab: Alice hears silence; unmute: the beeps again.
    await second.js("(id) => window.client.getCall(id).mute()", in_second)
    await second.until("(id) => window.client.getCall(id).muted", in_second)
    assert await first.js("(id) => window.client.getCall(id).muted", in_first) is True
    await _audio_energy(alice, alice_call, silent=True)
    await second.js("(id) => window.client.getCall(id).unmute()", in_second)
    await second.until("(id) => !window.client.getCall(id).muted", in_second)
    await _audio_energy(alice, alice_call, silent=False)

    # The microphone, chosen from the second tab, changes in the call at once.
    devices = await second.js("() => window.client.devices()")
    labels = {device["label"]: device["id"] for device in devices["microphones"]}
    assert "Fake Audio Input 2" in labels, labels
    assert devices["speakers"], "fake audio outputs are listed"
    await second.js("(id) => window.client.setMicrophone(id)", labels["Fake Audio Input 2"])
    await first.until(
        "async (id) => (await window.audio(id)).localTrack === 'Fake Audio Input 2'", in_first
    )
    await second.js("(id) => window.client.setSpeaker(id)", devices["speakers"][0]["id"])
    await alice.audio_flows(alice_call, after=await alice.audio(alice_call))

    # The second tab hangs up: every tab, and Alice, see the end.
    await second.js("(id) => window.client.getCall(id).hangup()", in_second)
    for phone, leg in ((alice, alice_call), (first, in_first), (second, in_second)):
        assert (await phone.event("ended", id=leg))["cause"] == "NORMAL_CLEARING"

    # The first tab closes: the second takes the phone, registers, and rings.
    await first.page.close()
    await second.until("() => window.client.isLeader")
    await second.until(
        "() => window.client.phone.state === 'registered' && window.client.phone.owner === 'here'"
    )
    await wait_until(lambda: _one_binding(node), "one binding of Bob's phone")
    again = await alice.js("async () => (await window.client.call('1002')).id")
    await second.until("() => window.client.ringtone.playing")
    ringing = await second.until(
        "() => window.client.calls.find((c) => c.ringsHere && c.state === 'ringing')?.id"
    )
    await second.js("(id) => window.client.getCall(id).answer()", ringing)
    await second.audio_flows(ringing)
    await alice.js("(id) => window.client.getCall(id).hangup()", again)
    assert (await second.event("ended", id=ringing))["cause"] == "NORMAL_CLEARING"


async def _one_binding(node: RunningServer) -> bool:
    return await _bindings(node, "web1002") == 1
