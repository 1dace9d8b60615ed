"""Tenants: another domain's objects are 404, never leaked, never changeable."""

from __future__ import annotations

import httpx

from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain


async def test_domain_admins_see_only_their_domain(admin: httpx.AsyncClient) -> None:
    mine_device = ok(
        await admin.post(
            "/api/devices", json={"name": "a-phone", "account": "shared", "password": "pppppppp"}
        )
    )
    mine_user = await make_user(admin, "alice", "1001")

    in_other = await other_domain(admin)
    boss = await make_user(admin, "boss", role=1, params=in_other)
    boss_token = await make_token(admin, boss["id"], params=in_other)

    async with client_for(admin, boss_token) as them:
        assert ok(await them.get("/api/userinfo"))["domain"] == "other-company.lo"
        # The same account and extension are free in another domain.
        theirs = ok(
            await them.post(
                "/api/devices",
                json={"name": "b-phone", "account": "shared", "password": "pppppppp"},
            )
        )
        await make_user(them, "alice", "1001")

        for path in (f"/api/users/{mine_user['id']}", f"/api/devices/{mine_device['id']}"):
            assert error(await them.get(path), 404)
            assert error(await them.patch(path, json={"name": "stolen"}), 404)
            assert error(await them.delete(path), 404)
        assert error(await them.get(f"/api/users/{mine_user['id']}/tokens"), 404)
        assert error(await them.post(f"/api/users/{mine_user['id']}/tokens", json={}), 404)
        # Referring to the other domain's device is as if it did not exist.
        assert error(
            await them.post(
                "/api/users", json={"username": "thief", "device": {"id": mine_device["id"]}}
            ),
            400,
        )
        # Naming another domain explicitly is refused.
        assert error(await them.get("/api/users", params={"domain_id": "1"}), 403)
        assert error(await them.get("/api/domains/1"), 403)
        assert error(await them.post("/api/domains", json={"name": "x.lo"}), 403)

        their_users = {item["username"] for item in ok(await them.get("/api/users"))["items"]}
        assert their_users == {"boss", "alice"}
        their_devices = [item["id"] for item in ok(await them.get("/api/devices"))["items"]]
        assert their_devices == [theirs["id"]]
        assert [d["name"] for d in ok(await them.get("/api/domains"))["items"]] == [
            "other-company.lo"
        ]

    # Our side is untouched.
    assert ok(await admin.get(f"/api/users/{mine_user['id']}"))["name"] == "Alice"
    assert {item["username"] for item in ok(await admin.get("/api/users"))["items"]} == {
        "admin",
        "alice",
    }
