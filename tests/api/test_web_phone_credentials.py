"""What `user_default_device` hands a browser, on SQLite and PostgreSQL: ephemeral SIP
credentials for tokens that expire (login sessions, widget tokens), the device's own for
tokens that never do (integration tokens); and the directory (DirectoryView, on the
real database) accepting them as the device, until they stop being valid.

The SIP side with real peers (JsSIP, SIPp) is tests/integration/test_ephemeral_sip.py;
the widget in Chromium is tests/e2e/test_widget.py."""

from __future__ import annotations

import hashlib
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from callboard.compat.webitel import socket as webitel_socket
from callboard.directory import ephemeral
from callboard.store.models import User
from tests.api.helpers import make_token, make_user, ok
from tests.api.test_agent_socket import connect
from tests.support.server import RunningServer

DOMAIN = "callboard.lo"
DEVICE_PASSWORD = "device-passw0rd"
USER_PASSWORD = "s3cret-passw0rd"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324


async def web_user(
    admin: httpx.AsyncClient, server: RunningServer, username: str, extension: str
) -> dict[str, Any]:
    """A user whose web phone registers as device `web<extension>`; the node says where
    web phones register (these API tests run no SIP listener)."""
    server.runtime.web_phone_url = "ws://127.0.0.1:5066"
    device = ok(
        await admin.post(
            "/api/devices",
            json={"name": "web", "account": f"web{extension}", "password": DEVICE_PASSWORD},
        )
    )
    return await make_user(admin, username, extension, device={"id": device["id"]})


async def login(anonymous: httpx.AsyncClient, username: str) -> dict[str, Any]:
    return ok(
        await anonymous.post("/api/login", json={"username": username, "password": USER_PASSWORD})
    )


async def device_settings(server: RunningServer, token: str) -> dict[str, Any]:
    async with connect(server, token) as socket:
        answer: dict[str, Any] = await socket.ok("user_default_device", {"name": "webrtc"})
        return answer


async def test_a_login_session_gets_credentials_that_expire_with_it(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, server: RunningServer
) -> None:
    await web_user(admin, server, "alice", "1001")
    session = await login(anonymous, "alice")
    before = time.time()
    settings = await device_settings(server, session["access_token"])

    expires_at = int(session["expires_at"]) // 1000
    assert settings["authorization_user"] == f"{expires_at}:web1001"
    assert settings["expires_at"] == expires_at * 1000
    assert 0 < settings["expires_in"] <= expires_at - before + 1
    # The same phone settings as ever, but for the secret.
    assert settings["realm"] == DOMAIN and settings["uri"] == f"sip:1001@{DOMAIN}"
    assert settings["extension"] == "1001" and settings["server"] == "ws://127.0.0.1:5066"
    permanent = md5(f"web1001:{DOMAIN}:{DEVICE_PASSWORD}")
    assert settings["ha1"] != permanent and len(settings["ha1"]) == 32
    assert permanent not in str(settings)

    # The directory, on the real database, takes the username as the device.
    found = await server.runtime.directory.credentials(DOMAIN, settings["authorization_user"])
    assert found is not None
    assert found.ha1_md5 == settings["ha1"] and found.expires_at == expires_at
    assert (found.device.account, found.device.extension) == ("web1001", "1001")
    # Asked again, the same credentials (nothing stored, everything derived).
    again = await device_settings(server, session["access_token"])
    assert {**again, "expires_in": None} == {**settings, "expires_in": None}


async def test_an_integration_token_gets_the_devices_own_credentials(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    user = await web_user(admin, server, "alice", "1001")
    settings = await device_settings(server, await make_token(admin, user["id"]))
    assert settings["authorization_user"] == "web1001"
    assert settings["ha1"] == md5(f"web1001:{DOMAIN}:{DEVICE_PASSWORD}")
    assert "expires_at" not in settings and "expires_in" not in settings


async def test_a_widget_token_gets_credentials_for_its_lifetime(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    await web_user(admin, server, "alice", "1001")
    config = ok(
        await admin.post(
            "/api/webrtc/get-widget-config", json={"internalNumber": "1001", "ttl": 600}
        )
    )["data"]["widgetConfig"]
    settings = await device_settings(server, config["token"])
    expiry = config["expiresAt"] // 1000
    assert settings["authorization_user"] == f"{expiry}:web1001"
    assert settings["expires_in"] <= 600
    assert settings["ha1"] != md5(f"web1001:{DOMAIN}:{DEVICE_PASSWORD}")


async def test_the_directory_refuses_them_once_the_device_or_user_changed(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, server: RunningServer
) -> None:
    alice = await web_user(admin, server, "alice", "1001")
    await web_user(admin, server, "bob", "1002")
    directory = server.runtime.directory
    settings = await device_settings(server, (await login(anonymous, "alice"))["access_token"])
    username = settings["authorization_user"]
    assert (await directory.credentials(DOMAIN, username)) is not None

    # Another domain's device of the same account name is another device: presented
    # there, the username must prove another HA1.
    other = ok(await admin.post("/api/domains", json={"name": "other.lo"}))
    namesake = {"name": "web", "account": "web1001", "password": DEVICE_PASSWORD}
    in_other = {"domain_id": str(other["id"])}
    device = ok(await admin.post("/api/devices", json=namesake, params=in_other))
    await make_user(
        admin, "alice", "1001", licensed=False, device={"id": device["id"]}, params=in_other
    )
    elsewhere = await directory.credentials("other.lo", username)
    assert elsewhere is not None and elsewhere.device.domain == "other.lo"
    assert elsewhere.ha1_md5 != settings["ha1"]
    # An expired one (issued with an expiry already past, through the derivation).
    web = await directory.web_device(int(alice["id"]))
    assert web is not None
    key = server.runtime.secrets.derive(ephemeral.KEY_PURPOSE)
    past = ephemeral.issue(key, web, int(time.time()) - 1)
    assert await directory.credentials(DOMAIN, past.username) is None

    # A new password for the device: the old credentials derive another HA1.
    device_id = alice["device"]["id"]
    ok(await admin.patch(f"/api/devices/{device_id}", json={"password": "another-passw0rd"}))
    changed = await directory.credentials(DOMAIN, username)
    assert changed is not None and changed.ha1_md5 != settings["ha1"]

    # A disabled user's device takes none.
    async with server.runtime.db.transaction() as session:
        await session.execute(update(User).where(User.id == int(alice["id"])).values(enabled=False))
    directory.invalidate()
    assert await directory.credentials(DOMAIN, username) is None

    # A deleted device takes none.
    async with server.runtime.db.transaction() as session:
        await session.execute(update(User).where(User.id == int(alice["id"])).values(enabled=True))
    directory.invalidate()
    assert await directory.credentials(DOMAIN, username) is not None
    ok(await admin.delete(f"/api/devices/{device_id}"))
    assert await directory.credentials(DOMAIN, username) is None


async def test_a_socket_whose_token_has_expired_gets_no_credentials(
    admin: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    server: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An open socket outlives its token; it can no longer get SIP credentials."""
    await web_user(admin, server, "alice", "1001")
    session = await login(anonymous, "alice")
    async with connect(server, session["access_token"]) as socket:
        assert "expires_in" in await socket.ok("user_default_device", {"name": "webrtc"})
        # The socket's clock moves past the token's expiry (no waiting).
        after = int(session["expires_at"]) / 1000 + 1
        monkeypatch.setattr(webitel_socket, "time", SimpleNamespace(time=lambda: after))
        refused = await socket.fail("user_default_device", {"name": "webrtc"})
        assert (refused["id"], refused["code"]) == ("app.session.expired", 401)
        # The connection itself goes on.
        assert await socket.ok("subscribe_call") is not None
