"""The browser SDK end to end: Debian's Chromium, driven by Playwright, against a real node.

Each test gets a node (HTTP and SIP over WebSocket on free loopback ports), users with
passwords and web devices provisioned over the REST API, and a headless Chromium with
fake audio devices (a beeping microphone). A page served at the node's own origin
(tests/e2e/phone.html, fulfilled by the test) imports the SDK from `/sdk/callboard.js`
and logs in with `POST /api/login`, as an application would.

Everything stays on 127.0.0.1: Chromium runs in a network namespace whose only
interface is `lo` (tests/support/netns.py relays the node's ports into it), and offers
loopback ICE candidates with `--allow-loopback-in-peer-connection`.

Chromium and the SDK build must be installed (`bash scripts/install-test-deps.sh`, then
`bash scripts/setup.sh`): when they are missing these tests fail saying so; they never
skip.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from callboard.sip.transport import TransportKind
from callboard.web.sdk import STATIC as SDK_DIR
from tests.integration.conftest import cheap_password_hashing  # noqa: F401 (a fixture)
from tests.support.netns import LoopbackNamespace
from tests.support.server import DOMAIN as DOMAIN
from tests.support.server import RunningServer, admin_client, node_settings, running_server

CHROMIUM = "/usr/bin/chromium"
PAGE = Path(__file__).resolve().parent / "phone.html"
ARTIFACTS = Path(os.environ.get("CALLBOARD_TEST_ARTIFACTS", "test-artifacts"))
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-quic",
    "--no-pings",
]


class BrowserUnavailable(RuntimeError):
    """Chromium or the SDK build is missing. Install them; never skip."""


@dataclass(frozen=True)
class WebUser:
    user_id: str
    username: str
    password: str
    extension: str
    name: str


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = node_settings(
        tmp_path,
        sip_tcp_port=None,
        sip_tls_port=None,
        sip_wss_port=None,
        sip_provider_port=None,
        ring_timeout=30.0,
    )
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def admin(node: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(node) as client:
        yield client


async def provision_web_user(
    admin: httpx.AsyncClient, extension: str, name: str, *, device: bool = True
) -> WebUser:
    """A licensed user `user<extension>` with a password (to log in from the page) and,
    unless told otherwise, a web device whose account is `web<extension>`."""
    body: dict[str, Any] = {
        "name": name,
        "username": f"user{extension}",
        "password": f"pw-{extension}-Secret",
        "extension": extension,
        "roles": [{"id": 4}],
    }
    licenses = (await admin.get("/api/licenses")).json()["items"]
    body["license"] = [{"id": licenses[0]["id"]}]
    if device:
        response = await admin.post(
            "/api/devices",
            json={
                "name": f"web phone {extension}",
                "account": f"web{extension}",
                "password": f"sip-{extension}-Secret",
            },
        )
        assert response.status_code == 200, response.text
        body["device"] = {"id": response.json()["id"]}
    user = await admin.post("/api/users", json=body)
    assert user.status_code == 200, user.text
    return WebUser(user.json()["id"], f"user{extension}", body["password"], extension, name)


@pytest.fixture
async def users(admin: httpx.AsyncClient) -> dict[str, WebUser]:
    """Alice (1001), Bob (1002) and Carol (1003), each with a web phone."""
    return {
        "alice": await provision_web_user(admin, "1001", "Alice"),
        "bob": await provision_web_user(admin, "1002", "Bob"),
        "carol": await provision_web_user(admin, "1003", "Carol"),
    }


def check_installed() -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        raise BrowserUnavailable(
            f"{CHROMIUM} is missing: run `bash scripts/install-test-deps.sh` "
            "(it installs Debian's chromium package)."
        )
    if not (SDK_DIR / "callboard.js").is_file():
        raise BrowserUnavailable(
            f"the SDK is not built in {SDK_DIR}: run `bash scripts/setup.sh` "
            "(Node.js 20+ and npm build it from web/sdk)."
        )


@pytest.fixture
async def network(node: RunningServer) -> AsyncIterator[LoopbackNamespace]:
    """The browser's network: a loopback-only namespace where the node's HTTP and SIP
    WebSocket ports are relayed (and can be cut, see `LoopbackNamespace.drop`)."""
    port = int(node.url.rsplit(":", 1)[1])
    async with LoopbackNamespace([port, node.sip_address(TransportKind.WS).port]) as namespace:
        yield namespace


@pytest.fixture
async def browser(network: LoopbackNamespace) -> AsyncIterator[Browser]:
    """Headless Chromium with fake audio devices, inside the loopback-only namespace."""
    check_installed()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=network.wrapper(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


class PhonePage:
    """One tab with the test page, and what the test asks of it."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.name = name
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    async def js(self, expression: str, arg: Any = None) -> Any:
        return await self.page.evaluate(expression, arg)

    async def until(self, expression: str, arg: Any = None, *, within: float = 20.0) -> Any:
        """Wait until `expression` (a JS function of `arg`, maybe async: its promise is
        awaited) gives a truthy value, and return that value."""
        deadline = time.monotonic() + within
        while True:
            value = await self.page.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                events = await self.js("() => window.events.slice(-40)")
                raise AssertionError(
                    f"{self.name}: `{expression}` was not true within {within:g} s\n"
                    f"events: {events}\nconsole: {self.console[-30:]}"
                )
            await asyncio.sleep(0.1)

    async def event(self, name: str, **fields: Any) -> dict[str, Any]:
        """The first recorded SDK event `name` with these fields (waiting for it)."""
        found: dict[str, Any] = await self.until(
            "([name, fields]) => window.events.find((e) => e.name === name && "
            "Object.entries(fields).every(([k, v]) => e[k] === v))",
            [name, fields],
        )
        return found

    async def events(self, name: str | None = None) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = await self.js(
            "(name) => window.events.filter((e) => name === null || e.name === name)", name
        )
        return value

    async def audio(self, call_id: str) -> dict[str, Any]:
        value: dict[str, Any] = await self.js("(id) => window.audio(id)", call_id)
        return value

    async def audio_flows(self, call_id: str, *, after: dict[str, Any] | None = None) -> None:
        """Wait until audio arrives on the call: packets and audio energy received (more
        than `after`, a previous reading, when given)."""
        base = after or {"packetsReceived": 0, "energy": 0}
        await self.until(
            """async ([id, base]) => {
                const a = await window.audio(id);
                return a.packetsReceived > base.packetsReceived + 25 && a.energy > base.energy;
            }""",
            [call_id, base],
        )

    async def screenshot(self, name: str) -> Path:
        await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
        path = ARTIFACTS / f"sdk-{name}.png"
        await self.page.screenshot(path=str(path))
        return path


async def load_page(page: Page, node: RunningServer, html: str | None = None) -> None:
    """Put the test page (or `html`) in a tab at the node's origin.

    The tab first loads a real page of the node, then gets the test page's content:
    Chromium's Local Network Access checks treat a page that Playwright fulfils itself
    as public, and block its requests to 127.0.0.1; a page the node served is local.
    """
    await page.goto(f"{node.url}/api/health")
    await page.set_content(html if html is not None else PAGE.read_text())
    await page.wait_for_function("() => window.ready === true", timeout=20_000)


async def open_phone(
    context: BrowserContext, node: RunningServer, user: WebUser, name: str, **options: Any
) -> PhonePage:
    """A tab at the node's origin with the test page, logged in as `user`."""
    page = await context.new_page()
    phone = PhonePage(page, name)
    await load_page(page, node)
    user_info = await phone.js(
        "(options) => window.start(options)",
        {"username": user.username, "password": user.password, **options},
    )
    assert user_info["id"] == user.user_id
    return phone


async def new_context(browser: Browser) -> BrowserContext:
    """A browser profile (its own storage, locks and tabs: another person's browser)."""
    return await browser.new_context()


async def registered(phone: PhonePage) -> None:
    await phone.until("() => window.client && window.client.phone.state === 'registered'")


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, *, within: float = 20.0
) -> None:
    """Poll a server-side condition (e.g. the registrar's bindings)."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within:g} s: {what}")
        await asyncio.sleep(0.05)
