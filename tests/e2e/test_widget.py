"""The embeddable widget (seed 003) in Chromium: the page's server (here, the test) asks
`POST /api/webrtc/get-widget-config` for each user's internal number, renders the config
into a page with one `<link>` and one `<script>`, and the users call each other with the
widget's own buttons: dial pad, incoming pop-up, hold, mute, DTMF, transfer, hang-up,
and the call log. Audio flows both ways (WebRTC statistics)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, WebSocket
from sqlalchemy import select, update

from callboard.clock import now_ms
from callboard.store.models import AccessToken, Device
from tests.e2e.conftest import ARTIFACTS, PhonePage, WebUser, new_context
from tests.support.server import RunningServer

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A CRM with a phone</title>
<link href="/sdk/widget.css" rel="stylesheet">
</head>
<body>
<h1>ACME CRM</h1><p>Customer records would be here.</p>
<script>
window.callboardWidgetConfig = Object.assign(__CONFIG__, {
  // Loopback only: the tests' browsers live in a namespace with just `lo`.
  sdk: { iceCandidateFilter: (candidate) => candidate.split(' ')[4] === '127.0.0.1' },
});
window.events = [];
window.ready = true;
</script>
<script async src="/sdk/widget.js"></script>
</body></html>"""

#: A summary of the widget's current call's WebRTC statistics.
AUDIO = """async () => {
  const call = window.CallboardWidget.client.calls[0];
  const report = call ? await call.getStats() : null;
  const result = { packetsReceived: 0, energy: 0 };
  if (report) report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      result.packetsReceived += s.packetsReceived || 0;
      result.energy += s.totalAudioEnergy || 0;
    }
  });
  return result;
}"""


class WidgetPage(PhonePage):
    async def click(self, action: str) -> None:
        await self.page.click(f"#callboard-widget [data-action='{action}']")

    async def state(self, call: str) -> None:
        """Wait until the widget shows its call in `call` (`none` when there is none)."""
        await self.until(
            "(state) => document.getElementById('callboard-widget')?.dataset.call === state", call
        )

    async def audio_received(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        base = base or {"packetsReceived": 0, "energy": 0}
        await self.until(
            f"async (base) => {{ const a = await ({AUDIO})();"
            " return a.packetsReceived > base.packetsReceived + 25 && a.energy > base.energy; }",
            base,
        )
        value: dict[str, Any] = await self.js(AUDIO)
        return value

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"widget-{name}.png"
        await self.page.screenshot(path=str(path))
        return path


async def widget_page(
    browser: Browser, node: RunningServer, admin: httpx.AsyncClient, user: WebUser
) -> WidgetPage:
    """What the page's server does: get the config (server to server), render the page."""
    answer = await admin.post(
        "/api/webrtc/get-widget-config", json={"internalNumber": user.extension}
    )
    assert answer.status_code == 200, answer.text
    config = answer.json()["data"]["widgetConfig"]
    page = await (await new_context(browser)).new_page()
    widget = WidgetPage(page, user.username)
    await page.goto(f"{node.url}/api/health")
    await page.set_content(PAGE.replace("__CONFIG__", json.dumps(config)))
    await widget.until(
        "() => document.getElementById('callboard-widget')?.dataset.phone === 'registered'"
    )
    status = await widget.js(
        "() => document.querySelector('#callboard-widget .cbw-status').textContent"
    )
    assert status == "Ready"
    return widget


async def test_a_call_between_two_widgets(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    alice = await widget_page(browser, node, admin, users["alice"])
    bob = await widget_page(browser, node, admin, users["bob"])
    carol = await widget_page(browser, node, admin, users["carol"])
    who = await alice.js("() => document.querySelector('#callboard-widget .cbw-who').textContent")
    assert who == "Alice · 1001"
    await alice.shot("idle")

    # Alice dials 1002 on the dial pad.
    for key in "1002":
        await alice.click(f"key-{key}")
    assert await alice.js("() => document.querySelector('.cbw-number').value") == "1002"
    await alice.click("call")
    await alice.state("ringing")

    # Bob's widget pops up the incoming call, with Alice's name and number.
    await bob.state("ringing")
    assert await bob.js("() => !document.querySelector('.cbw-incoming').hidden") is True
    peer = await bob.js("() => document.querySelector('.cbw-incoming-peer').textContent")
    assert peer == "Alice 1001"
    await bob.shot("incoming-call")
    await bob.click("answer")
    await bob.state("active")
    await alice.state("active")
    assert await bob.js("() => document.querySelector('.cbw-incoming').hidden") is True

    # Audio both ways.
    await alice.audio_received()
    before = await bob.audio_received()
    await alice.shot("in-call")

    # Mute: Alice's microphone track stops; unmute brings it back.
    sender = (
        "() => window.CallboardWidget.client.calls[0].peerConnection.getSenders()"
        ".find((s) => s.track && s.track.kind === 'audio').track.enabled"
    )
    await alice.click("mute")
    await alice.until(f"() => !({sender})()")
    assert await alice.js("() => document.querySelector('.cbw-mute').textContent") == "Unmute"
    await alice.click("mute")
    await alice.until(f"() => ({sender})()")

    # Hold and resume.
    await alice.click("hold")
    await alice.state("held")
    assert await alice.js("() => document.querySelector('.cbw-hold').textContent") == "Resume"
    await alice.click("hold")
    await alice.state("active")
    await bob.audio_received(before)

    # DTMF from the keypad: the server reports the digits on Alice's call.
    await alice.click("keypad")
    for key in "4#":
        await alice.click(f"key-{key}")
    await alice.until("() => window.CallboardWidget.client.calls[0].digits === '4#'")

    # Bob transfers Alice to Carol: Bob's call ends, Carol's widget rings.
    await bob.click("transfer")
    await bob.page.fill(".cbw-transfer-number", "1003")
    await bob.click("transfer-go")
    await bob.state("none")
    await carol.state("ringing")
    await carol.click("answer")
    await carol.state("active")
    await alice.until(
        "() => document.querySelector('#callboard-widget .cbw-peer').textContent === 'Carol 1003'"
    )
    await carol.audio_received()

    # Carol hangs up: both widgets are back to the dial pad, and the calls are logged.
    await carol.click("hangup")
    await carol.state("none")
    await alice.state("none")
    log = await alice.js(
        "() => [...document.querySelectorAll('.cbw-log-item')].map((i) => i.textContent)"
    )
    assert len(log) == 1 and "1003" in log[0]
    bob_log = await bob.js(
        "() => [...document.querySelectorAll('.cbw-log-item')].map((i) => i.textContent)"
    )
    assert len(bob_log) == 1 and "1001" in bob_log[0]
    await alice.shot("after-call")


async def test_a_declined_call_and_an_expired_config(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    alice = await widget_page(browser, node, admin, users["alice"])
    bob = await widget_page(browser, node, admin, users["bob"])
    await alice.page.fill(".cbw-number", "1002")
    await alice.page.press(".cbw-number", "Enter")
    await bob.state("ringing")
    await bob.click("decline")
    await bob.state("none")
    await alice.state("none")
    ended = await alice.js("() => document.querySelector('.cbw-log-meta').textContent")
    assert "user busy" in ended

    # A config whose token expired before the page used it (here: moved into the past on
    # the server), and a token the server never issued: the widget says so, no phone.
    answer = await admin.post("/api/webrtc/get-widget-config", json={"internalNumber": "1003"})
    config = answer.json()["data"]["widgetConfig"]
    async with node.runtime.db.transaction() as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == hashlib.sha256(config["token"].encode()).hexdigest())
            .values(expires_at=now_ms() - 1000)
        )
    for name, given in (("expired", config), ("unknown", {**config, "token": "not-a-token"})):
        page = await (await new_context(browser)).new_page()
        stale = WidgetPage(page, name)
        await page.goto(f"{node.url}/api/health")
        await page.set_content(PAGE.replace("__CONFIG__", json.dumps(given)))
        await stale.until(
            "() => document.querySelector('#callboard-widget .cbw-message')?.textContent"
            " === 'Session expired: reload the page.'"
        )
        assert await stale.js(
            "() => document.getElementById('callboard-widget').dataset.phone"
        ) == ("off")


async def test_the_browser_never_gets_the_devices_sip_secret(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    """Issue 5: no long-lived secret reaches the browser. Everything the widget's page
    receives (its config, every WebSocket frame: the API's and SIP's) is recorded; the
    devices' stored HA1s appear nowhere. Its phone registers with ephemeral credentials
    that end with the widget's token, and calls work as ever."""
    pages: list[tuple[WebUser, WidgetPage, dict[str, Any], list[str], list[str]]] = []
    for user in (users["alice"], users["bob"]):
        answer = await admin.post(
            "/api/webrtc/get-widget-config", json={"internalNumber": user.extension, "ttl": 900}
        )
        assert answer.status_code == 200, answer.text
        config = answer.json()["data"]["widgetConfig"]
        page = await (await new_context(browser)).new_page()
        received: list[str] = []
        sent: list[str] = []

        def record(ws: WebSocket, received: list[str] = received, sent: list[str] = sent) -> None:
            ws.on("framereceived", lambda payload: received.append(_text(payload)))
            ws.on("framesent", lambda payload: sent.append(_text(payload)))

        page.on("websocket", record)
        widget = WidgetPage(page, user.username)
        await page.goto(f"{node.url}/api/health")
        await page.set_content(PAGE.replace("__CONFIG__", json.dumps(config)))
        await widget.until(
            "() => document.getElementById('callboard-widget')?.dataset.phone === 'registered'"
        )
        pages.append((user, widget, config, received, sent))

    async with node.runtime.db.transaction() as session:
        devices = list(await session.scalars(select(Device)))
    secrets = [ha1 for device in devices for ha1 in (device.ha1_md5, device.ha1_sha256)]
    for user, widget, config, received, sent in pages:
        everything = json.dumps(config) + "".join(received)
        assert not [ha1 for ha1 in secrets if ha1 in everything], widget.name
        # What the phone was given: a username that carries the token's expiry, and its HA1.
        [device] = [
            json.loads(line)["data"]
            for frame in received
            for line in frame.splitlines()
            if '"authorization_user"' in line
        ]
        account = f"web{user.extension}"
        assert device["authorization_user"] == f"{config['expiresAt'] // 1000}:{account}"
        assert device["expires_at"] == config["expiresAt"] // 1000 * 1000
        assert 0 < device["expires_in"] <= 900
        assert device["ha1"] not in secrets and len(device["ha1"]) == 32
        # JsSIP sent it unchanged in its REGISTER.
        registers = [f for f in sent if f.startswith("REGISTER ") and "Authorization:" in f]
        assert registers and f'username="{device["authorization_user"]}"' in registers[0]

    # And the phone works: Alice calls Bob, audio both ways, Bob hangs up.
    alice, bob = pages[0][1], pages[1][1]
    await alice.page.fill(".cbw-number", "1002")
    await alice.page.press(".cbw-number", "Enter")
    await bob.state("ringing")
    await bob.click("answer")
    await alice.state("active")
    await alice.audio_received()
    await bob.audio_received()
    await bob.click("hangup")
    await alice.state("none")


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode()
