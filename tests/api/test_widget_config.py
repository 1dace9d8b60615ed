"""`POST /api/webrtc/get-widget-config` (seed 003's server-to-server method), the CORS
headers browsers need to call the API from a CRM's origin, and the login by e-mail
address the `Cti.Connector` facade uses; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select, update

from callboard.clock import now_ms
from callboard.store.models import AccessToken, User
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.support.server import RunningServer

METHOD = "/api/webrtc/get-widget-config"


async def user_with_phone(
    admin: httpx.AsyncClient, username: str, extension: str, **fields: Any
) -> dict[str, Any]:
    device = ok(
        await admin.post(
            "/api/devices",
            json={"name": f"{username}'s phone", "account": extension, "password": "pw-12345678"},
        )
    )
    return await make_user(
        admin,
        username,
        extension,
        device={"id": device["id"]},
        devices=[{"id": device["id"]}],
        **fields,
    )


async def widget_rows(server: RunningServer, user_id: str) -> list[AccessToken]:
    async with server.runtime.db.transaction() as session:
        rows = await session.scalars(
            select(AccessToken).where(
                AccessToken.user_id == int(user_id), AccessToken.kind == "widget"
            )
        )
        return list(rows)


async def test_widget_config_for_an_internal_number(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    alice = await user_with_phone(admin, "alice", "1001", name="Alice Agent")
    before = now_ms()
    answer = ok(await admin.post(METHOD, json={"internalNumber": 1001}))
    # New-Tel's envelope, so that seed 003's PHP works by changing the URL and the header.
    assert answer["status"] == "success" and set(answer["data"]) == {"widgetConfig"}
    config = answer["data"]["widgetConfig"]
    assert config["server"] == server.url
    assert config["domain"] == "callboard.lo"
    assert config["user"] == {"id": alice["id"], "name": "Alice Agent", "extension": "1001"}
    assert before + 3600_000 <= config["expiresAt"] <= now_ms() + 3600_000
    token = config["token"]

    # The token is alice's: it opens her session, and nobody else's.
    async with client_for(admin, token) as browser:
        me = ok(await browser.get("/api/userinfo"))
        assert (me["user_id"], me["extension"]) == (alice["id"], "1001")
        assert int(me["expires_at"]) == config["expiresAt"]
        # A widget token is no integration token: it is not listed with them.
        assert ok(await admin.get(f"/api/users/{alice['id']}/tokens"))["items"] == []

    # Stored as a hash only, with its expiry.
    [row] = await widget_rows(server, alice["id"])
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.usage)
    assert row.expires_at == config["expiresAt"]

    # `extension` and a string work too, with a shorter life.
    again = ok(await admin.post(METHOD, json={"extension": "1001", "ttl": 60}))
    assert again["data"]["widgetConfig"]["expiresAt"] <= now_ms() + 60_000
    assert again["data"]["widgetConfig"]["token"] != token


async def test_expired_widget_tokens_are_refused_then_deleted(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    alice = await user_with_phone(admin, "alice", "1001")
    first = ok(await admin.post(METHOD, json={"internalNumber": "1001"}))
    token = first["data"]["widgetConfig"]["token"]
    async with server.runtime.db.transaction() as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.kind == "widget")
            .values(expires_at=now_ms() - 1000)
        )
    async with client_for(admin, token) as browser:
        assert error(await browser.get("/api/userinfo"), 401)["id"] == "app.session.not_found"
    # The next issue sweeps the user's expired widget tokens away.
    ok(await admin.post(METHOD, json={"internalNumber": "1001"}))
    rows = await widget_rows(server, alice["id"])
    assert len(rows) == 1 and rows[0].expires_at is not None and rows[0].expires_at > now_ms()


async def test_who_may_ask_and_clear_errors(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    alice = await user_with_phone(admin, "alice", "1001")
    await user_with_phone(admin, "bob", "1002")
    await make_user(admin, "nophone", "1005")
    gone = await user_with_phone(admin, "gone", "1006")
    async with server.runtime.db.transaction() as session:
        await session.execute(update(User).where(User.id == int(gone["id"])).values(enabled=False))
    await user_with_phone(admin, "unlicensed", "1007", licensed=False)

    assert error(await admin.post(METHOD, json={"internalNumber": "1999"}), 404)["id"] == (
        "app.user.not_found"
    )
    assert error(await admin.post(METHOD, json={"internalNumber": "1005"}), 409)["id"] == (
        "app.widget.no_device"
    )
    assert error(await admin.post(METHOD, json={"internalNumber": "1006"}), 409)["id"] == (
        "app.widget.user_disabled"
    )
    assert error(await admin.post(METHOD, json={"internalNumber": "1007"}), 403)["id"] == (
        "api.context.permissions.license"
    )
    for body in ({}, {"internalNumber": "abc"}, {"internalNumber": True}, {"ttl": 5}):
        assert error(await admin.post(METHOD, json=body), 400)
    assert error(await admin.post(METHOD, json={"internalNumber": "1001", "ttl": 10}), 400)
    assert error(await admin.post(METHOD, json={"internalNumber": "1001", "ttl": 86400}), 400)
    assert error(await admin.post(METHOD, content=b"{not json"), 400)

    # A user may ask for their own number, never for someone else's (not even to learn
    # whether it exists).
    token = await make_token(admin, alice["id"])
    async with client_for(admin, token) as alice_client:
        own = ok(await alice_client.post(METHOD, json={"internalNumber": "1001"}))
        assert own["data"]["widgetConfig"]["user"]["id"] == alice["id"]
        for number in ("1002", "1999"):
            denied = error(await alice_client.post(METHOD, json={"internalNumber": number}), 403)
            assert denied["id"] == "api.context.permissions.app_error"
    async with httpx.AsyncClient(base_url=admin.base_url) as nobody:
        assert error(await nobody.post(METHOD, json={"internalNumber": "1001"}), 401)


async def test_another_domains_number_is_not_found(admin: httpx.AsyncClient) -> None:
    await user_with_phone(admin, "alice", "1001")
    in_other = await other_domain(admin)
    boss = await make_user(admin, "boss", role=1, params=in_other)
    async with client_for(admin, await make_token(admin, boss["id"], params=in_other)) as them:
        assert error(await them.post(METHOD, json={"internalNumber": "1001"}), 404)
        assert error(
            await them.post(METHOD, json={"internalNumber": "1001"}, params={"domain_id": "1"}),
            403,
        )


async def test_the_method_is_documented(admin: httpx.AsyncClient) -> None:
    spec = ok(await admin.get("/api/openapi.json"))
    operation = spec["paths"][METHOD]["post"]
    assert "server to server" in operation["description"].lower()
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "404", "409"}


async def test_browsers_on_other_origins_may_call_the_api(
    anonymous: httpx.AsyncClient,
) -> None:
    preflight = await anonymous.options(
        "/api/login",
        headers={
            "Origin": "https://crm.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-webitel-access",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-webitel-access" in allowed and "content-type" in allowed
    # No cookies are involved: credentials are never allowed.
    assert "access-control-allow-credentials" not in preflight.headers
    answer = await anonymous.get("/api/health", headers={"Origin": "https://crm.example.com"})
    assert answer.headers["access-control-allow-origin"] == "*"


async def test_login_with_an_email_address(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    alice = await make_user(
        admin, "alice", "1001", password="alice-passw0rd", email="Alice.Smith@Example.com"
    )
    for username in ("alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM", "alice"):
        session = ok(
            await anonymous.post(
                "/api/login", json={"username": username, "password": "alice-passw0rd"}
            )
        )
        assert session["user_id"] == alice["id"]
    # With the domain named, the address is looked up there.
    ok(
        await anonymous.post(
            "/api/login",
            json={
                "username": "alice.smith@example.com",
                "password": "alice-passw0rd",
                "domain": "callboard.lo",
            },
        )
    )
    wrong = error(
        await anonymous.post(
            "/api/login", json={"username": "alice.smith@example.com", "password": "nope"}
        ),
        401,
    )
    unknown = error(
        await anonymous.post(
            "/api/login", json={"username": "nobody@example.com", "password": "alice-passw0rd"}
        ),
        401,
    )
    assert wrong == unknown

    # An address two users share names nobody: it logs nobody in.
    in_other = await other_domain(admin)
    await make_user(
        admin,
        "asmith",
        password="alice-passw0rd",
        email="alice.smith@example.com",
        params=in_other,
    )
    assert error(
        await anonymous.post(
            "/api/login",
            json={"username": "alice.smith@example.com", "password": "alice-passw0rd"},
        ),
        401,
    )
    # Naming the domain settles it.
    there = ok(
        await anonymous.post(
            "/api/login",
            json={
                "username": "alice.smith@example.com",
                "password": "alice-passw0rd",
                "domain": "other-company.lo",
            },
        )
    )
    assert there["domain"] == "other-company.lo"
