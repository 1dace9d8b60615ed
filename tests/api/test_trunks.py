"""Trunks over REST: the password is write-only and encrypted at rest; numbers are unique."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.api.helpers import error, make_user, ok
from tests.support.server import RunningServer


async def test_trunk_lifecycle(admin: httpx.AsyncClient, server: RunningServer) -> None:
    user = await make_user(admin, "did-owner", "1500")
    trunk = ok(
        await admin.post(
            "/api/trunks",
            json={
                "name": "provider",
                "host": "127.0.0.1",
                "port": 5090,
                "username": "acct",
                "password": "trunk-secret-pw",
                "registration": True,
                "caller_id": "+15550001",
                "numbers": [{"number": "+15551234", "user_id": user["id"]}],
            },
        )
    )
    assert trunk["has_password"] is True and "password" not in trunk
    assert trunk["numbers"] == [{"number": "+15551234", "user_id": user["id"]}]
    async with server.runtime.db.transaction() as session:
        stored = (await session.execute(text("SELECT secret FROM trunks"))).scalar_one()
    assert "trunk-secret-pw" not in stored
    infos = await server.runtime.directory.trunks(1)
    assert [t.password for t in infos] == ["trunk-secret-pw"]
    owner = await server.runtime.directory.number_owner(1, "+15551234")
    assert owner is not None and owner.extension == "1500"

    patched = ok(await admin.patch(f"/api/trunks/{trunk['id']}", json={"priority": 5}))
    assert patched["priority"] == 5 and patched["numbers"] == trunk["numbers"]
    other = {"name": "second", "host": "10.0.0.2", "numbers": [{"number": "+15551234"}]}
    assert error(await admin.post("/api/trunks", json=other), 409)["id"] == "app.trunk.number_taken"
    assert error(
        await admin.post("/api/trunks", json={"name": "bad", "host": "x", "outbound_pattern": "("}),
        400,
    )
    assert error(
        await admin.post("/api/trunks", json={"name": "bad", "host": "x", "transport": "ws"}), 400
    )
    ok(await admin.delete(f"/api/trunks/{trunk['id']}"))
    assert await server.runtime.directory.trunks(1) == ()
    assert error(await admin.get(f"/api/trunks/{trunk['id']}"), 404)


async def test_directory_view_follows_changes(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    view = server.runtime.directory
    assert await view.device("callboard.lo", "2222") is None  # cached as missing
    device = ok(
        await admin.post(
            "/api/devices", json={"name": "p", "account": "2222", "password": "pppppppp"}
        )
    )
    found = await view.device("callboard.lo", "2222")
    assert found is not None and found.device_id == int(device["id"]) and found.user_id is None
    user = await make_user(admin, "owner2", "2223", devices=[{"id": device["id"]}])
    found = await view.device("callboard.lo", "2222")
    assert found is not None and found.user_id == int(user["id"]) and found.extension == "2223"
    by_extension = await view.user_by_extension(1, "2223")
    assert by_extension is not None and by_extension.accounts == ("2222",)
    ok(await admin.patch(f"/api/devices/{device['id']}", json={"password": "changed-pw"}))
    changed = await view.device("callboard.lo", "2222")
    assert changed is not None and changed.ha1_md5 != found.ha1_md5
