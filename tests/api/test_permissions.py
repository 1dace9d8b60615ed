"""What each role may do in its own domain."""

from __future__ import annotations

import httpx

from tests.api.helpers import client_for, error, make_token, make_user, ok


async def test_user_role_is_limited_to_self(admin: httpx.AsyncClient) -> None:
    me = await make_user(admin, "judy", "1010")
    other = await make_user(admin, "kim", "1011")
    async with client_for(admin, await make_token(admin, me["id"])) as judy:
        assert (
            error(await judy.get(f"/api/users/{other['id']}"), 403)["id"]
            == "api.context.permissions.app_error"
        )
        assert error(await judy.post("/api/users", json={"username": "new"}), 403)
        assert error(await judy.post(f"/api/users/{other['id']}/tokens", json={}), 403)
        # Own name and password: yes. Own extension or roles: no.
        assert (
            ok(
                await judy.patch(
                    f"/api/users/{me['id']}",
                    json={"name": "Judy J", "password": "judy-new-passw0rd"},
                )
            )["name"]
            == "Judy J"
        )
        assert error(await judy.patch(f"/api/users/{me['id']}", json={"extension": "1999"}), 403)
        assert error(await judy.patch(f"/api/users/{me['id']}", json={"roles": [{"id": 1}]}), 403)
        # Own tokens: yes.
        own = ok(await judy.post(f"/api/users/{me['id']}/tokens", json={"usage": "mine"}))
        assert own["token"]
        assert ok(await judy.get("/api/roles"))["items"]
        assert error(await judy.get("/api/licenses"), 403)


async def test_supervisor_reads_but_does_not_write(admin: httpx.AsyncClient) -> None:
    boss = await make_user(admin, "sup", role=2)
    worker = await make_user(admin, "worker", "1020")
    async with client_for(admin, await make_token(admin, boss["id"])) as sup:
        assert ok(await sup.get(f"/api/users/{worker['id']}"))["username"] == "worker"
        assert {u["username"] for u in ok(await sup.get("/api/users"))["items"]} >= {
            "sup",
            "worker",
        }
        assert error(await sup.patch(f"/api/users/{worker['id']}", json={"name": "x"}), 403)
        assert error(
            await sup.post(
                "/api/devices", json={"name": "d", "account": "a", "password": "pppppppp"}
            ),
            403,
        )


async def test_domain_admin_is_not_root(admin: httpx.AsyncClient) -> None:
    second = await make_user(admin, "admin2", role=1, licensed=False)
    async with client_for(admin, await make_token(admin, second["id"])) as admin2:
        ok(
            await admin2.post(
                "/api/devices", json={"name": "d", "account": "a2", "password": "pppppppp"}
            )
        )
        assert error(await admin2.post("/api/domains", json={"name": "x.lo"}), 403)
        assert error(await admin2.post("/api/licenses", json={"limit": 1000}), 403)
        root_id = ok(await admin.get("/api/userinfo"))["user_id"]
        assert error(
            await admin2.patch(f"/api/users/{root_id}", json={"password": "taken-over-pw"}), 403
        )
        assert error(await admin2.delete(f"/api/users/{root_id}"), 403)


async def test_roles_and_custom_roles(admin: httpx.AsyncClient) -> None:
    roles = {r["id"]: r for r in ok(await admin.get("/api/roles"))["items"]}
    assert [roles[i]["name"] for i in ("1", "2", "3", "4")] == [
        "admin",
        "supervisor",
        "agent",
        "user",
    ]
    assert error(await admin.patch("/api/roles/1", json={"name": "root"}), 403)
    custom = ok(
        await admin.post("/api/roles", json={"name": "reader", "permissions": ["users:read"]})
    )
    assert custom["permissions"] == ["users:read"] and custom["system"] is False
    assert error(
        await admin.post("/api/roles", json={"name": "bad", "permissions": ["everything"]}), 400
    )
    reader = await make_user(admin, "reader", role=int(custom["id"]))
    async with client_for(admin, await make_token(admin, reader["id"])) as client:
        assert len(ok(await client.get("/api/users"))["items"]) >= 2
        assert error(await client.post("/api/users", json={"username": "n"}), 403)
