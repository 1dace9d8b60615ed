"""The demo CRM page at `/demo` in Chromium, as a newcomer uses it in two windows: log
in, click a colleague's number (click-to-call), and see the caller's own web phone ring
first and then the colleague's, with a screen pop of the matching contact, the live
calls and the call history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser
from sqlalchemy import select

from callboard.store.models import CallRecord
from tests.e2e.conftest import ARTIFACTS, PhonePage, WebUser, new_context
from tests.support.server import RunningServer

#: The page's test hook: loopback ICE candidates only (the namespace has just `lo`).
LOOPBACK = """window.demoConnectorOptions = {
  sdk: { iceCandidateFilter: (candidate) => candidate.split(' ')[4] === '127.0.0.1' },
};"""


#: Whether the live calls table shows the call `id` in `status`.
LIVE_ROW = (
    "([id, status]) => document.querySelector(`#calls tr[data-id='${id}']`)"
    "?.dataset.status === status"
)


class DemoPage(PhonePage):
    async def cti(self, name: str, **fields: Any) -> dict[str, Any]:
        """The first connector event `name` whose call has these fields."""
        found: dict[str, Any] = await self.until(
            "([name, fields]) => window.demo.events.find((e) => e.name === name &&"
            " Object.entries(fields).every(([k, v]) => e.call && e.call[k] === v))",
            [name, fields],
        )
        return found

    async def text(self, selector: str) -> str:
        value: str = await self.page.inner_text(selector)
        return value

    async def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"demo-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_demo(browser: Browser, node: RunningServer, user: WebUser) -> DemoPage:
    context = await new_context(browser)
    await context.add_init_script(LOOPBACK)
    page = await context.new_page()
    demo = DemoPage(page, user.username)
    # The page records the connector's events in window.demo.events; PhonePage's
    # diagnostics read window.events.
    await context.add_init_script("window.events = [];")
    await page.goto(f"{node.url}/demo")
    await page.wait_for_selector("#login-form")
    await page.fill("#username", user.username)
    await page.fill("#password", user.password)
    await page.click("#login-form button[type=submit]")
    await demo.until("() => document.getElementById('status').textContent === 'Available'")
    await demo.until(
        "() => [...document.querySelectorAll('#contacts tr')]"
        ".some((r) => r.dataset.kind === 'colleague')"
    )
    return demo


async def test_click_to_call_between_two_demo_windows(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    alice = await open_demo(browser, node, users["alice"])
    bob = await open_demo(browser, node, users["bob"])
    assert await alice.text("#me") == "Alice · 1001"
    contacts = await alice.js(
        "() => [...document.querySelectorAll('#contacts tr')].map((r) =>"
        " [r.dataset.kind, ...[...r.cells].map((c) => c.textContent)])"
    )
    # The domain's other users, then the sample customers; every number is a link.
    assert ["colleague", "Bob", "Colleague", "1002"] in contacts
    assert ["colleague", "Carol", "Colleague", "1003"] in contacts
    assert any(row[0] == "customer" and row[2] == "Acme Corp" for row in contacts)
    assert not any(row[3] == "1001" for row in contacts)
    await alice.shot("contacts")

    # Alice clicks Bob's number: her own web phone rings first and answers...
    await alice.page.click("a.c2c[data-number='1002']")
    initial = await alice.cti("INITIAL")
    accepted = await alice.cti("ACCEPTED", id=initial["call"]["id"])
    ringing_out = await alice.cti("RINGING")
    alice_leg = ringing_out["call"]["id"]
    # ...then Bob's rings, and his screen pop shows who calls: his colleague Alice.
    ringing_in = await bob.cti("RINGING", direction="INBOUND")
    bob_leg = ringing_in["call"]["id"]
    order = await alice.js("() => window.demo.events.map((e) => e.name)")
    assert order.index("INITIAL") < order.index("ACCEPTED") < order.index("RINGING")
    assert accepted["call"]["status"] == "ACCEPTED"
    await bob.until("() => !document.getElementById('pop').hidden")
    assert await bob.text("#pop-title") == "Incoming call"
    assert await bob.text("#pop-name") == "Alice"
    assert await bob.text("#pop-company") == "Colleague"
    assert await bob.text("#pop-number") == "1001"
    assert await alice.text("#pop-name") == "Bob"
    await bob.shot("screen-pop")

    await bob.page.click("#pop-answer")
    await bob.cti("CONNECTED", id=bob_leg)
    await alice.cti("CONNECTED", id=alice_leg)
    for demo, leg in ((alice, alice_leg), (bob, bob_leg)):
        await demo.until(LIVE_ROW, [leg, "CONNECTED"])
    assert await bob.text("#pop-title") == "In call with"
    await alice.shot("live-call")

    # The server saw it the same way: Bob's leg was made from Alice's, after it answered.
    node_calls = node.runtime.live.of_user(int(users["bob"].user_id))
    assert [leg.ringing.parent_id for leg in node_calls] == [alice_leg]

    # Alice hangs up from the screen pop; both windows see the end and the history.
    await alice.page.click("#pop-hangup")
    await alice.cti("HUNGUP", id=alice_leg)
    await bob.cti("HUNGUP", id=bob_leg)
    await alice.until("() => document.getElementById('pop').hidden")
    await alice.until("() => document.querySelector('#calls tr.empty') !== null")
    assert node.telephony is not None
    await node.telephony.history.flush()
    async with node.runtime.db.transaction() as session:
        records = set((await session.scalars(select(CallRecord.id))).all())
    assert {alice_leg, bob_leg} <= records
    await alice.page.click("#refresh")
    await alice.until(
        "(id) => document.querySelector(`#history tr[data-id='${id}']`) !== null", alice_leg
    )
    row = await alice.js(
        "(id) => [...document.querySelector(`#history tr[data-id='${id}']`).cells]"
        ".map((c) => c.textContent)",
        alice_leg,
    )
    assert row[1] == "outbound" and "1002" in row[3] and row[5] == "answered"
    await alice.shot("history")
