"""Seed 000, step by step, with its exact request bodies: device, user, token, then use it."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.api.helpers import client_for, error, license_id, ok
from tests.support.server import RunningServer


def _is_ms(value: object) -> bool:
    return isinstance(value, str) and value.isdigit() and len(value) == 13


async def test_seed_000_device_user_token(admin: httpx.AsyncClient, server: RunningServer) -> None:
    admin_ref = {
        "id": str((await admin.get("/api/userinfo")).json()["user_id"]),
        "name": "Administrator",
    }

    device = ok(
        await admin.post(
            "/api/devices",
            json={"name": "device for user 1", "account": "sipUser1", "password": "BNZdVLryFwcB"},
        )
    )
    assert device["id"].isdigit()
    assert device["name"] == "device for user 1"
    assert device["account"] == "sipUser1"
    assert device["password"] == "BNZdVLryFwcB"  # echoed to the request that set it, only
    assert device["user"] == {}
    assert _is_ms(device["created_at"]) and _is_ms(device["updated_at"])
    assert device["created_by"] == admin_ref and device["updated_by"] == admin_ref

    license = await license_id(admin)
    user = ok(
        await admin.post(
            "/api/users",
            json={
                "name": "User1",
                "email": "user1@gmail.com",
                "username": "2020",
                "password": "dl75lfLcOLLL",
                "extension": "2020",
                "roles": [{"id": 4}],
                "device": {"id": device["id"]},
                "license": [{"id": license}],
                "devices": [{"id": device["id"]}],
            },
        )
    )
    assert user["id"].isdigit()
    assert (user["name"], user["email"], user["username"], user["extension"]) == (
        "User1",
        "user1@gmail.com",
        "2020",
        "2020",
    )
    assert user["password"].startswith("$argon2id$") and "dl75lfLcOLLL" not in user["password"]
    assert user["device"] == {"id": device["id"], "name": "device for user 1"}
    assert user["devices"] == [{"id": device["id"], "name": "device for user 1"}]
    assert [entry["id"] for entry in user["license"]] == [license]
    assert user["license"][0]["prod"] == "CALL_CENTER"
    assert int(user["license"][0]["issued_at"]) < int(user["license"][0]["expires_at"])
    assert user["roles"] == [{"id": "4", "name": "user"}]
    assert _is_ms(user["created_at"]) and user["created_by"] == admin_ref

    token = ok(
        await admin.post(
            f"/api/users/{user['id']}/tokens", json={"token": "", "usage": "integration app"}
        )
    )
    assert len(token["token"]) == 26 and token["token"].isalnum()
    assert token["usage"] == "integration app"
    assert token["user"] == {"id": user["id"]}
    assert token["created_by"] == admin_ref and _is_ms(token["created_at"])

    # The token works in each of the three places a client may put it.
    for headers, params in (
        ({"X-Webitel-Access": token["token"]}, {}),
        ({"Authorization": f"Bearer {token['token']}"}, {}),
        ({}, {"access_token": token["token"]}),
    ):
        async with httpx.AsyncClient(base_url=server.url) as client:
            info = ok(await client.get("/api/userinfo", headers=headers, params=params))
        assert info["username"] == "2020" and info["user_id"] == user["id"]
        assert info["domain"] == "callboard.lo" and info["licensed"] is True

    # The device now shows its owner, and the token's owner sees their own device.
    async with client_for(admin, token["token"]) as owner:
        mine = ok(await owner.get(f"/api/devices/{device['id']}"))
        assert mine["user"] == {"id": user["id"], "name": "User1"}
        assert "password" not in mine
        listed = ok(await owner.get("/api/users"))
        assert [item["id"] for item in listed["items"]] == [user["id"]]
        error(
            await owner.post(
                "/api/devices", json={"name": "x", "account": "y", "password": "zzzzzzzz"}
            ),
            403,
        )

    # The token is listed without its secret, and is revoked by DELETE.
    listed_tokens = ok(await admin.get(f"/api/users/{user['id']}/tokens"))
    assert [item["id"] for item in listed_tokens["items"]] == [token["id"]]
    assert "token" not in listed_tokens["items"][0]
    ok(await admin.delete(f"/api/users/{user['id']}/tokens/{token['id']}"))
    async with client_for(admin, token["token"]) as revoked:
        error(await revoked.get("/api/userinfo"), 401)
    assert ok(await admin.get(f"/api/users/{user['id']}/tokens"))["items"] == []


async def test_webitel_sdk_wrapped_user_body(admin: httpx.AsyncClient) -> None:
    """The published SDK's REST client sends `{"user": {...}}` and reads `{"user": {...}}`."""
    body = ok(
        await admin.post(
            "/api/users",
            json={
                "user": {"name": "Wrapped", "username": "wrapped", "extension": "3001"},
                "user_password": "wrapped-passw0rd",
            },
        )
    )
    assert set(body) == {"user"}
    assert body["user"]["username"] == "wrapped" and body["user"]["password"].startswith("$argon2")
    login = await admin.post(
        "/api/login", json={"username": "wrapped", "password": "wrapped-passw0rd"}
    )
    # Created without a license: the password is right, but the user may not log in.
    assert error(login, 403)["id"] == "api.context.permissions.license"


async def test_passwords_and_secrets_are_not_stored_in_clear(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    device = ok(
        await admin.post(
            "/api/devices", json={"name": "d", "account": "acct9", "password": "plain-device-pw"}
        )
    )
    user = ok(
        await admin.post("/api/users", json={"username": "clear", "password": "plain-user-pw"})
    )
    token = ok(await admin.post(f"/api/users/{user['id']}/tokens", json={"usage": "x"}))["token"]
    rows: list[str] = []
    async with server.runtime.db.transaction() as session:
        for table in ("devices", "users", "access_tokens"):
            result = await session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            rows.extend(str(row) for row in result.all())
    dump = " ".join(rows)
    for secret in ("plain-device-pw", "plain-user-pw", token):
        assert secret not in dump
    assert device["id"] in dump
