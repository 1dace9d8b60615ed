"""Logins, sessions, licenses and the rate limit on failed authentication."""

from __future__ import annotations

import asyncio

import httpx

from tests.api.helpers import client_for, error, make_user, ok


async def test_login_session_logout(admin: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    user = await make_user(admin, "carol", "1003", password="carol-passw0rd")
    session = ok(
        await anonymous.post("/api/login", json={"username": "carol", "password": "carol-passw0rd"})
    )
    assert session["token_type"] == "Bearer" and session["user_id"] == user["id"]
    async with client_for(anonymous, session["access_token"]) as carol:
        assert ok(await carol.get("/api/userinfo"))["username"] == "carol"
        assert (await carol.post("/api/logout")).status_code == 204
        assert error(await carol.get("/api/userinfo"), 401)["id"] == "app.session.not_found"
    # `user@domain` works as the username.
    ok(
        await anonymous.post(
            "/api/login", json={"username": "carol@callboard.lo", "password": "carol-passw0rd"}
        )
    )
    assert error(
        await anonymous.post(
            "/api/login", json={"username": "carol@nowhere.lo", "password": "carol-passw0rd"}
        ),
        401,
    )


async def test_wrong_password_and_unknown_user_look_the_same(
    anonymous: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "dave", password="dave-passw0rd")
    wrong = error(
        await anonymous.post("/api/login", json={"username": "dave", "password": "nope"}), 401
    )
    unknown = error(
        await anonymous.post("/api/login", json={"username": "nobody", "password": "nope"}), 401
    )
    assert wrong == unknown


async def test_missing_and_bad_tokens(anonymous: httpx.AsyncClient) -> None:
    assert error(await anonymous.get("/api/users"), 401)["id"] == "app.session.required"
    assert error(await anonymous.get("/api/users", headers={"X-Webitel-Access": "x" * 26}), 401)
    assert error(await anonymous.get("/api/users", headers={"Authorization": "Bearer nope"}), 401)


async def test_login_rate_limited_per_account(
    anonymous: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "erin", password="erin-passw0rd")
    for _ in range(5):
        error(
            await anonymous.post("/api/login", json={"username": "erin", "password": "wrong"}), 401
        )
    blocked = await anonymous.post(
        "/api/login", json={"username": "erin", "password": "erin-passw0rd"}
    )
    assert error(blocked, 429)["id"] == "app.auth.rate_limited"
    assert int(blocked.headers["Retry-After"]) > 0
    # Another account from the same source is not blocked by erin's failures.
    await make_user(admin, "frank", password="frank-passw0rd")
    ok(await anonymous.post("/api/login", json={"username": "frank", "password": "frank-passw0rd"}))


async def test_login_rate_limited_per_source(anonymous: httpx.AsyncClient) -> None:
    for index in range(20):
        error(
            await anonymous.post("/api/login", json={"username": f"guess{index}", "password": "x"}),
            401,
        )
    assert error(
        await anonymous.post("/api/login", json={"username": "admin", "password": "x"}), 429
    )
    # Token guessing from that source is blocked as well.
    assert error(await anonymous.get("/api/users", headers={"X-Webitel-Access": "guess"}), 429)


async def test_license_required_and_expiry_enforced(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await make_user(admin, "nolicense", licensed=False, password="nolicense-pw")
    denied = error(
        await anonymous.post(
            "/api/login", json={"username": "nolicense", "password": "nolicense-pw"}
        ),
        403,
    )
    assert denied["id"] == "api.context.permissions.license"

    short = ok(await admin.post("/api/licenses", json={"prod": "CALL_CENTER", "limit": 1}))
    user = await make_user(
        admin, "grace", licensed=False, password="grace-passw0rd", license=[{"id": short["id"]}]
    )
    session = ok(
        await anonymous.post("/api/login", json={"username": "grace", "password": "grace-passw0rd"})
    )
    # One seat only: a second user cannot take it.
    assert (
        error(
            await admin.patch(
                f"/api/users/{(await make_user(admin, 'heidi', licensed=False))['id']}",
                json={"license": [{"id": short["id"]}]},
            ),
            409,
        )["id"]
        == "app.license.no_seats"
    )

    assert (await admin.delete(f"/api/licenses/{short['id']}")).status_code == 204
    assert error(
        await anonymous.post(
            "/api/login", json={"username": "grace", "password": "grace-passw0rd"}
        ),
        403,
    )
    async with client_for(anonymous, session["access_token"]) as grace:
        assert (
            error(await grace.get("/api/userinfo"), 403)["id"] == "api.context.permissions.license"
        )
    licenses = {item["id"]: item for item in ok(await admin.get("/api/licenses"))["items"]}
    assert licenses[short["id"]]["valid"] is False and licenses[short["id"]]["used"] == 1
    assert user["id"]


async def test_session_expires(
    admin: httpx.AsyncClient, anonymous: httpx.AsyncClient, server: object
) -> None:
    from tests.support.server import RunningServer

    assert isinstance(server, RunningServer)
    server.runtime.auth.limits = type(server.runtime.auth.limits)(session_ttl_seconds=1)
    await make_user(admin, "ivan", password="ivan-passw0rd")
    session = ok(
        await anonymous.post("/api/login", json={"username": "ivan", "password": "ivan-passw0rd"})
    )
    async with client_for(anonymous, session["access_token"]) as ivan:
        ok(await ivan.get("/api/userinfo"))
        await asyncio.sleep(1.1)
        assert error(await ivan.get("/api/userinfo"), 401)
