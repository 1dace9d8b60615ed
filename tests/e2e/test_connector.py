"""The `Cti.Connector` facade (seed 004) in Chromium, as an app written for VoIPstudio's
connector uses it: `/sdk/cti-connector.js` in a page of another origin, `new
Cti.Connector({onMessage})`, and only the connector's methods and events.

A click-to-call between two users rings the caller's web phone first (INITIAL, then
ACCEPTED once it answered by itself), then the callee (RINGING on both sides); the
callee answers; audio flows both ways; a hold shows as ON_HOLD; a supervisor who
subscribed to the callee sees the same call; the callee transfers it to a third user;
`terminate` ends it and everyone sees HUNGUP (the value of `Cti.EVENT.HANGUP`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext

from tests.e2e.conftest import PhonePage, WebUser, new_context
from tests.support.server import RunningServer

PAGE = Path(__file__).resolve().parent / "connector.html"
LOOPBACK = "(c) => c.split(' ')[4] === '127.0.0.1'"


async def open_app(context: BrowserContext, node: RunningServer, name: str) -> PhonePage:
    """The test app in a tab at `http://localhost:<port>`, loading the connector from
    `http://127.0.0.1:<port>`: the API is another origin (CORS), and the connector's
    server is where its script came from."""
    page = await context.new_page()
    app = PhonePage(page, name)
    port = node.url.rsplit(":", 1)[1]
    await page.goto(f"http://localhost:{port}/api/health")
    await page.set_content(
        PAGE.read_text().replace("__CONNECTOR__", f"{node.url}/sdk/cti-connector.js")
    )
    await page.wait_for_function("() => window.ready === true", timeout=20_000)
    return app


async def login(app: PhonePage, *args: str, **options: Any) -> None:
    assert await app.js("(options) => window.start(options)", options) is False
    await app.js("(args) => window.connector.login(...args)", list(args))
    await app.event("LOGGED_IN")
    await app.event("READY")


async def cti(app: PhonePage, method: str, *args: Any) -> None:
    await app.js("([method, args]) => window.connector[method](...args)", [method, list(args)])


async def test_click_to_call_audio_hold_supervisor_transfer_and_hangup(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    alice_user, bob_user, carol_user = users["alice"], users["bob"], users["carol"]
    answer = await admin.patch(
        f"/api/users/{alice_user.user_id}", json={"email": "alice@example.com"}
    )
    assert answer.status_code == 200, answer.text
    sam = await admin.post(
        "/api/users",
        json={
            "name": "Sam Supervisor",
            "username": "sam",
            "password": "pw-sam-Secret",
            "roles": [{"id": 2}],
            "license": [{"id": (await admin.get("/api/licenses")).json()["items"][0]["id"]}],
        },
    )
    assert sam.status_code == 200, sam.text

    alice = await open_app(await new_context(browser), node, "alice")
    bob = await open_app(await new_context(browser), node, "bob")
    carol = await open_app(await new_context(browser), node, "carol")
    supervisor = await open_app(await new_context(browser), node, "sam")
    await login(alice, "alice@example.com", alice_user.password)  # the e-mail address
    await login(bob, bob_user.username, bob_user.password)
    await login(carol, carol_user.username, carol_user.password)
    await login(supervisor, "sam", "pw-sam-Secret", phone=False)
    ready = await alice.event("READY")
    assert (
        ready["raw"]["message"] == "Connection with SIP server has been successfully established."
    )
    assert await alice.js("() => window.connector.isConnected()") is True
    # Each connector follows its own user from the start.
    own = await alice.event("SUBSCRIBED")
    assert own["raw"]["uri"] == f"{alice_user.user_id}@callboard.lo"

    # The supervisor follows Bob; a plain user may not; queues do not exist yet.
    await cti(supervisor, "subscribe", f"user:{bob_user.user_id}")
    subscribed = await supervisor.until(
        "() => window.events.filter((e) => e.name === 'SUBSCRIBED')[1]"
    )
    assert subscribed["raw"]["uri"] == f"{bob_user.user_id}@callboard.lo"
    assert await supervisor.js("() => window.connector.getSubscriptionURIs()") == [
        f"{await supervisor.js('() => window.connector.user.id')}@callboard.lo",
        f"{bob_user.user_id}@callboard.lo",
    ]
    await cti(alice, "subscribe", f"user:{bob_user.user_id}")
    denied = await alice.event("ERROR")
    assert "calls:read" in denied["raw"]["message"]
    await cti(supervisor, "subscribe", "queue:12")
    assert "queue" in (await supervisor.event("ERROR"))["raw"]["message"]

    # Click-to-call: Alice's own (web) phone rings first and answers by itself...
    await cti(alice, "call", "1002")
    initial = await alice.event("INITIAL")
    assert initial["raw"]["call"]["id"].startswith("initial-")
    assert initial["raw"]["call"] == {
        "id": initial["raw"]["call"]["id"],
        "destination": "1002",
        "direction": "OUTBOUND",
        "status": "INITIAL",
    }
    accepted = await alice.event("ACCEPTED")
    assert accepted["raw"]["call"]["id"] == initial["raw"]["call"]["id"]
    # ...then Bob's rings: RINGING on both sides, with the real call.
    alice_ringing = await alice.event("RINGING")
    call_id = alice_ringing["id"]
    assert alice_ringing["raw"]["call"] == {
        "id": call_id,
        "cid": call_id,
        "cause": "",
        "destination": "1002",
        "destinationName": "Bob",
        "direction": "OUTBOUND",
        "source": "1001",
        "sourceName": "Alice",
        "status": "RINGING",
    }
    bob_ringing = await bob.event("RINGING")
    bob_call = bob_ringing["id"]
    raw = bob_ringing["raw"]["call"]
    assert (raw["direction"], raw["source"], raw["sourceName"], raw["destination"]) == (
        "INBOUND",
        "1001",
        "Alice",
        "1002",
    )
    # Bob's phone was called only once Alice's had answered (the server's own clock: the
    # two pages hear of the two, a millisecond apart, in either order).
    alice_leg = (await admin.get(f"/api/calls/active/{call_id}")).json()
    bob_leg = (await admin.get(f"/api/calls/active/{bob_call}")).json()
    assert int(alice_leg["answered_at"]) <= int(bob_leg["created_at"])
    watched = await supervisor.event("RINGING")
    assert watched["id"] == bob_call and watched["direction"] == "INBOUND"
    await bob.screenshot("connector-ringing")

    await cti(bob, "answer")
    await bob.event("CONNECTED", id=bob_call)
    connected = await alice.event("CONNECTED", id=call_id)
    assert connected["raw"]["call"]["destination"] == "1002"
    await supervisor.event("CONNECTED", id=bob_call)
    await alice.audio_flows(call_id)
    await bob.audio_flows(bob_call)

    # A hold made elsewhere (here: the REST API) shows as ON_HOLD, then CONNECTED again.
    held = await admin.patch(f"/api/calls/active/{call_id}/hold")
    assert held.status_code == 200, held.text
    await alice.event("ON_HOLD", id=call_id)
    resumed = await admin.patch(f"/api/calls/active/{call_id}/unhold")
    assert resumed.status_code == 200, resumed.text
    await alice.until(
        "(id) => window.events.filter((e) => e.name === 'CONNECTED' && e.id === id).length === 2",
        call_id,
    )
    assert await alice.js("(id) => window.connector.calls[id].status", call_id) == "CONNECTED"

    # Bob transfers Alice to Carol: Bob's call is over; Carol rings and answers.
    await cti(bob, "transfer", bob_call, "1003")
    bob_end = await bob.event("HUNGUP", id=bob_call)
    assert bob_end["raw"]["call"]["status"] == "HANGUP"
    assert bob_end["raw"]["call"]["cause"] == "BLIND_TRANSFER"
    assert (await supervisor.event("HUNGUP", id=bob_call))["raw"]["call"]["status"] == "HANGUP"
    carol_ringing = await carol.event("RINGING")
    carol_call = carol_ringing["id"]
    assert carol_ringing["raw"]["call"]["source"] == "1001"
    await cti(carol, "answer")
    await carol.event("CONNECTED", id=carol_call)
    await alice.until(
        "(id) => window.events.some((e) => e.name === 'CONNECTED' && e.id === id"
        " && e.raw.call.destination === '1003')",
        call_id,
    )
    before = await alice.audio(call_id)
    await alice.audio_flows(call_id, after=before)
    await carol.audio_flows(carol_call)

    # Carol ends it: HUNGUP (the value of Cti.EVENT.HANGUP) on both sides.
    assert await carol.js("() => Cti.EVENT.HANGUP") == "HUNGUP"
    await cti(carol, "terminate", carol_call)
    await carol.event("HUNGUP", id=carol_call)
    ended = await alice.event("HUNGUP", id=call_id)
    assert ended["raw"]["call"]["cause"] == "NORMAL_CLEARING"
    # A call that ended is no longer terminated: INFO, as upstream.
    await cti(alice, "terminate", call_id)
    info = await alice.event("INFO")
    assert info["raw"]["message"] == "Call with STATUS: HANGUP cannot be terminated."
    await alice.screenshot("connector-after-call")


async def test_logins_errors_reload_and_logout(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    alice_user = users["alice"]
    context = await new_context(browser)
    app = await open_app(context, node, "alice")
    assert await app.js("() => window.start({})") is False
    # Before logging in, and with wrong credentials: ERROR with a message.
    await cti(app, "call", "1002")
    assert (await app.event("ERROR"))["raw"]["message"] == "Connector need to be connected first."
    await cti(app, "login", alice_user.username, "wrong-password")
    await app.until("() => window.events.filter((e) => e.name === 'ERROR').length === 2")
    wrong = (await app.events("ERROR"))[1]
    assert wrong["raw"]["message"] == "wrong username or password"
    await cti(app, "login")
    await app.until("() => window.events.filter((e) => e.name === 'ERROR').length === 3")
    # No second factor on Callboard: TWO_FACTOR_AUTH never comes.
    await cti(app, "twoFactorAuth", "123456", "nonce")
    await app.until("() => window.events.filter((e) => e.name === 'ERROR').length === 4")
    assert "not enabled" in (await app.events("ERROR"))[3]["raw"]["message"]

    await cti(app, "login", alice_user.username, alice_user.password)
    await app.event("READY")
    errors = len(await app.events("ERROR"))
    for method, args, message in (
        ("call", ["1001"], "You are unable to call to yourself."),
        ("call", ["12ab"], "Extension number: 12ab has invalid format"),
        ("answer", [], "No ringing inbound calls to answer."),
        ("terminate", ["nope"], "Call with ID: nope could not be found."),
    ):
        await cti(app, method, *args)
        errors += 1
        await app.until(
            "(n) => window.events.filter((e) => e.name === 'ERROR').length === n", errors
        )
        assert (await app.events("ERROR"))[-1]["raw"]["message"] == message
    # A number nothing can reach (no trunk): refused at once, ERROR with why, as upstream
    # answers a 400 of its API.
    await cti(app, "call", "+44 20 7946 0958")
    assert (await app.event("INITIAL"))["raw"]["call"]["destination"] == "442079460958"
    errors += 1
    await app.until("(n) => window.events.filter((e) => e.name === 'ERROR').length === n", errors)
    assert "442079460958" in (await app.events("ERROR"))[-1]["raw"]["message"]
    assert await app.events("TWO_FACTOR_AUTH") == []

    # A reload: the page's connector reconnects with the kept session, no login asked.
    app2 = await open_app(context, node, "alice-reloaded")
    assert await app2.js("() => window.start({})") is False
    await app2.event("LOGGED_IN")
    await app2.event("READY")
    assert await app2.js("() => window.connector.isConnected()") is True
    stored = await app2.js("() => JSON.parse(localStorage.getItem('callboard.cti'))")
    assert set(stored) == {"server", "token"} and alice_user.password not in str(stored)
    await app.page.close()

    # Logging out ends the session on the server too.
    await cti(app2, "logout")
    out = await app2.event("LOGGED_OUT")
    assert out["raw"]["message"] == "User has been successfully logged out."
    assert await app2.js("() => window.connector.isConnected()") is False
    assert await app2.js("() => localStorage.getItem('callboard.cti')") is None
    revoked = await admin.get("/api/userinfo", headers={"X-Webitel-Access": stored["token"]})
    assert revoked.status_code == 401
    await cti(app2, "logout")
    assert (await app2.event("ERROR"))["raw"]["message"] == "Connector is not connected."
