"""The demo CRM page's server side: `GET /demo` and its phone book `GET /demo/contacts`,
on SQLite and PostgreSQL (the page itself is driven in Chromium in tests/e2e)."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from callboard.store.models import User
from tests.api.helpers import client_for, error, make_token, make_user, ok, other_domain
from tests.support.server import RunningServer


async def test_the_page_loads_the_connector(anonymous: httpx.AsyncClient) -> None:
    page = await anonymous.get("/demo")
    assert page.status_code == 200, "the browser apps are not built: run scripts/setup.sh"
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/sdk/cti-connector.js"></script>' in page.text
    for path in ("/sdk/cti-connector.js", "/sdk/demo/demo.js", "/sdk/demo/demo.css"):
        asset = await anonymous.get(path)
        assert asset.status_code == 200, path
    assert (await anonymous.get("/sdk/widget.css")).headers["content-type"].startswith("text/css")


async def test_contacts_are_the_domains_users_with_an_extension(
    admin: httpx.AsyncClient, server: RunningServer
) -> None:
    alice = await make_user(admin, "alice", "1001", name="Alice Agent")
    bob = await make_user(admin, "bob", "1002", name="Bob Builder")
    await make_user(admin, "noext")
    gone = await make_user(admin, "gone", "1009")
    async with server.runtime.db.transaction() as session:
        await session.execute(update(User).where(User.id == int(gone["id"])).values(enabled=False))
    in_other = await other_domain(admin)
    await make_user(admin, "stranger", "1003", params=in_other)

    # Any user of the domain may read it (a plain user sees only themselves in /api/users).
    async with client_for(admin, await make_token(admin, alice["id"])) as alice_client:
        listed = ok(await alice_client.get("/api/users"))["items"]
        assert [user["id"] for user in listed] == [alice["id"]]
        contacts = ok(await alice_client.get("/demo/contacts"))["items"]
    assert contacts == [
        {"id": alice["id"], "name": "Alice Agent", "extension": "1001"},
        {"id": bob["id"], "name": "Bob Builder", "extension": "1002"},
    ]
    async with httpx.AsyncClient(base_url=admin.base_url) as nobody:
        assert error(await nobody.get("/demo/contacts"), 401)
