"""The SDK's web phone with ephemeral SIP credentials, in Chromium: a login session
gets credentials that expire (never the device's own HA1), and the SDK renews them
before they do, re-registering with the new ones while a call goes on undisturbed.

The node here hands out credentials that last 65 s, so that the SDK renews them every
few seconds (with 60 s left); by default they last as long as the token, 12 h at most.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import Browser

from callboard.calls.directory import DeviceCredentials
from callboard.directory import ephemeral
from tests.e2e.conftest import WebUser, new_context, open_phone, registered, wait_until
from tests.support.server import RunningServer

Lookup = Callable[[str, str], Awaitable[DeviceCredentials | None]]


def spy_on_usernames(node: RunningServer) -> list[tuple[str, bool]]:
    """Every username the SIP side authenticates with, and whether it was accepted."""
    directory = node.runtime.directory
    seen: list[tuple[str, bool]] = []
    lookup: Lookup = directory.credentials

    async def credentials(domain: str, username: str) -> DeviceCredentials | None:
        found = await lookup(domain, username)
        seen.append((username, found is not None))
        return found

    directory.credentials = credentials  # type: ignore[method-assign]
    return seen


async def test_credentials_are_renewed_during_a_call(
    node: RunningServer, users: dict[str, WebUser], browser: Browser
) -> None:
    node.runtime.directory.web_phone_lifetime = 65
    seen = spy_on_usernames(node)
    alice = await open_phone(await new_context(browser), node, users["alice"], "alice")
    bob = await open_phone(await new_context(browser), node, users["bob"], "bob")
    await registered(alice)
    await registered(bob)

    call_id = await alice.js("async () => (await window.client.call('1002')).id")
    incoming = await bob.event("incoming")
    await bob.js("(id) => window.client.getCall(id).answer()", incoming["id"])
    await alice.event("connected", id=call_id)
    await alice.audio_flows(call_id)

    def alices() -> list[ephemeral.EphemeralName]:
        names = [ephemeral.parse_username(username) for username, _ in seen]
        return sorted({n for n in names if n is not None and n.account == "web1001"}, key=str)

    # Renewed at least twice while the call is up: three usernames, each accepted.
    await wait_until(lambda: len(alices()) >= 3, "Alice's phone renewed its credentials twice")
    assert all(accepted for _, accepted in seen), seen
    # Only ephemeral usernames: the device's own account was never used.
    assert {username.split(":")[-1] for username, _ in seen} == {"web1001", "web1002"}
    assert all(ephemeral.parse_username(username) is not None for username, _ in seen)

    # The call went on: still connected, audio still flowing both ways.
    before = await alice.audio(call_id)
    await alice.audio_flows(call_id, after=before)
    before = await bob.audio(incoming["id"])
    await bob.audio_flows(incoming["id"], after=before)
    assert await alice.events("ended") == []
    assert await alice.js("() => window.client.phone.state") == "registered"
    assert [e["state"] for e in await alice.events("phone") if e["state"] == "failed"] == []

    await alice.js("(id) => window.client.getCall(id).hangup()", call_id)
    await alice.event("ended", id=call_id)
    await bob.event("ended", id=incoming["id"])
