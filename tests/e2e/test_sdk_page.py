"""The SDK as a web page gets it: the script-tag build, logging in with a password or a
token, clear errors, a user without a web phone, logging out."""

from __future__ import annotations

import httpx
from playwright.async_api import Browser

from tests.e2e.conftest import PhonePage, WebUser, load_page, new_context, provision_web_user
from tests.support.server import RunningServer

SCRIPT_TAG_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>script tag</title>
<script src="/sdk/callboard.iife.js"></script></head>
<body><script>window.events = []; window.ready = true;</script></body></html>"""


async def test_script_tag_build_logins_errors_and_logout(
    node: RunningServer, users: dict[str, WebUser], admin: httpx.AsyncClient, browser: Browser
) -> None:
    context = await new_context(browser)
    page = PhonePage(await context.new_page(), "page")
    await load_page(page.page, node, SCRIPT_TAG_PAGE)
    assert await page.js("() => typeof Callboard.Client") == "function"
    assert await page.js("() => Callboard.VERSION") == "0.1.0"

    # A wrong password: the server's error, as a CallboardError.
    error = await page.js(
        """(u) => Callboard.Client.login({ username: u, password: 'wrong' }).then(
            () => null, (e) => ({ name: e.name, id: e.id, code: e.code, isError: e instanceof Error,
                                  typed: e instanceof Callboard.CallboardError }))""",
        users["alice"].username,
    )
    assert error == {
        "name": "CallboardError",
        "id": error["id"],
        "code": 401,
        "isError": True,
        "typed": True,
    }
    assert error["id"].startswith("app.")

    # A user's own token (no password), and a user without a web phone: the client works,
    # its phone says why it cannot run.
    nophone = await provision_web_user(admin, "1009", "No Phone", device=False)
    token = (
        await admin.post(f"/api/users/{nophone.user_id}/tokens", json={"usage": "sdk test"})
    ).json()["token"]
    status = await page.js(
        """async (token) => {
            const client = new Callboard.Client({ token });
            window.client = client;
            await client.connect();
            for (let i = 0; i < 100 && client.phone.state !== 'failed'; i++) {
                await new Promise((r) => setTimeout(r, 50));
            }
            return { connection: client.connection, phone: client.phone, user: client.user };
        }""",
        token,
    )
    assert status["connection"] == "connected"
    assert status["user"]["id"] == nophone.user_id
    assert status["phone"]["state"] == "failed" and status["phone"]["owner"] == "here"
    assert "device" in status["phone"]["error"]
    # Click-to-call without any phone to ring is refused with the server's reason.
    refused = await page.js(
        "() => window.client.clickToCall('1001').then(() => null, (e) => [e.id, e.code])"
    )
    assert refused is not None and refused[1] in (400, 404, 409), refused
    await page.js("() => window.client.close()")
    assert await page.js("() => window.client.connection") == "closed"

    # Logging in with a password makes a session; logging out ends it on the server.
    session_token = await page.js(
        """async (u) => {
            const client = await Callboard.Client.login(u);
            const token = client.token;
            await client.logout();
            return token;
        }""",
        {"username": users["bob"].username, "password": users["bob"].password},
    )
    userinfo = await admin.get("/api/userinfo", headers={"X-Webitel-Access": session_token})
    assert userinfo.status_code == 401, userinfo.text
