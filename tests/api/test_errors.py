"""Bad input gets one clear JSON error with the right status, and leaves nothing half-written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.api.helpers import error, license_id, make_user, ok


async def test_malformed_json(admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/api/users", content=b'{"username": "x",', headers={"Content-Type": "application/json"}
    )
    assert error(response, 400)["id"] == "api.request.bad_json"


async def test_a_json_body_labelled_as_a_form_is_read_as_json(admin: httpx.AsyncClient) -> None:
    """What `curl -d '{...}'` sends: JSON with the form Content-Type (Webitel reads it)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b'{"name": "curl device", "account": "curl1", "password": "BNZdVLryFwcB"}'
    created = ok(await admin.post("/api/devices", content=body, headers=form))
    assert created["account"] == "curl1"
    not_json = await admin.post("/api/devices", content=b"name=x&account=y", headers=form)
    assert error(not_json, 400)["id"] == "api.request.bad_json"


async def test_missing_body_and_missing_fields(admin: httpx.AsyncClient) -> None:
    assert error(await admin.post("/api/devices"), 400)["id"] == "api.request.no_body"
    missing = error(await admin.post("/api/devices", json={"name": "no account"}), 400)
    assert "account" in missing["detail"]
    assert (
        "username"
        in error(await admin.post("/api/users", json={"name": "nameless"}), 400)["detail"]
    )


async def test_wrong_types(admin: httpx.AsyncClient) -> None:
    wrong = error(await admin.post("/api/users", json={"username": "u1", "name": 12}), 400)
    assert wrong["id"] == "api.request.validation" and "name" in wrong["detail"]
    assert error(await admin.post("/api/users", json={"username": "u2", "roles": "admin"}), 400)
    assert error(
        await admin.post("/api/users", json={"username": "u3", "roles": [{"id": True}]}), 400
    )
    assert error(await admin.post("/api/users", json=["a", "list"]), 400)
    assert error(await admin.post("/api/users", json={"username": "u4", "extension": "12a"}), 400)
    assert error(
        await admin.post(
            "/api/devices", json={"name": "d", "account": "a b", "password": "pppppppp"}
        ),
        400,
    )


async def test_duplicates_are_conflicts(admin: httpx.AsyncClient) -> None:
    await make_user(admin, "dup", "2001")
    same_name = error(
        await admin.post("/api/users", json={"username": "dup", "password": "pw-long-enough"}), 409
    )
    assert same_name["id"] == "app.user.username_exists"
    same_ext = error(
        await admin.post("/api/users", json={"username": "other", "extension": "2001"}), 409
    )
    assert same_ext["id"] == "app.user.extension_exists"
    device = {"name": "d", "account": "acct", "password": "pppppppp"}
    ok(await admin.post("/api/devices", json=device))
    assert error(await admin.post("/api/devices", json=device), 409)["id"] == "app.device.exists"


async def test_bad_and_unknown_ids(admin: httpx.AsyncClient) -> None:
    assert error(await admin.get("/api/users/abc"), 400)["id"] == "api.request.bad_id"
    assert error(await admin.get("/api/users/-1"), 400)
    assert error(await admin.get("/api/users/99999"), 404)["id"] == "app.user.not_found"
    assert error(await admin.get("/api/devices/99999"), 404)
    assert error(await admin.patch("/api/devices/99999", json={"name": "x"}), 404)
    assert error(await admin.delete("/api/users/99999"), 404)
    assert error(await admin.get("/api/no-such-route"), 404)["id"] == "api.route.not_found"
    referenced = error(
        await admin.post("/api/users", json={"username": "ref", "device": {"id": "99999"}}), 400
    )
    assert referenced["id"] == "app.device.not_found"


async def test_oversized_bodies(admin: httpx.AsyncClient) -> None:
    huge = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    announced = await admin.post(
        "/api/users", content=huge, headers={"Content-Type": "application/json"}
    )
    assert error(announced, 413)["id"] == "api.request.too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    streamed = await admin.post(
        "/api/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert error(streamed, 413)["id"] == "api.request.too_large"
    assert ok(await admin.get("/api/health"))["status"] == "ok"


async def test_failed_requests_write_nothing(admin: httpx.AsyncClient) -> None:
    owner = await make_user(admin, "owner", "2100")
    taken = ok(
        await admin.post(
            "/api/devices",
            json={
                "name": "d",
                "account": "taken",
                "password": "pppppppp",
                "user": {"id": owner["id"]},
            },
        )
    )
    before = ok(await admin.get("/api/users"))["items"]
    # Valid up to the device, which belongs to someone else: the whole request fails.
    response = await admin.post(
        "/api/users",
        json={
            "username": "late",
            "extension": "2101",
            "license": [{"id": await license_id(admin)}],
            "devices": [{"id": taken["id"]}],
        },
    )
    assert error(response, 409)["id"] == "app.device.taken"
    assert ok(await admin.get("/api/users"))["items"] == before
    # A failed update leaves the user as it was.
    assert error(
        await admin.patch(
            f"/api/users/{owner['id']}", json={"name": "changed", "roles": [{"id": 999}]}
        ),
        400,
    )
    assert ok(await admin.get(f"/api/users/{owner['id']}"))["name"] == "Owner"
    # The extension is still free for a correct request.
    ok(await admin.post("/api/users", json={"username": "late", "extension": "2101"}))


async def test_paging_search_sort_fields(admin: httpx.AsyncClient) -> None:
    for index in range(5):
        ok(
            await admin.post(
                "/api/devices",
                json={"name": f"phone {index}", "account": f"acc{index}", "password": "pppppppp"},
            )
        )
    first = ok(await admin.get("/api/devices", params={"size": 2, "page": 1, "sort": "-name"}))
    assert [item["name"] for item in first["items"]] == ["phone 4", "phone 3"] and first[
        "next"
    ] is True
    last = ok(await admin.get("/api/devices", params={"size": 2, "page": 3, "sort": "-name"}))
    assert [item["name"] for item in last["items"]] == ["phone 0"] and last["next"] is False
    found = ok(await admin.get("/api/devices", params={"q": "acc3"}))
    assert [item["account"] for item in found["items"]] == ["acc3"]
    wildcard = ok(await admin.get("/api/devices", params={"q": "phone*2"}))
    assert [item["name"] for item in wildcard["items"]] == ["phone 2"]
    slim = ok(await admin.get("/api/devices", params={"fields": "name", "size": 1}))
    assert set(slim["items"][0]) == {"id", "name"}
    assert error(await admin.get("/api/devices", params={"sort": "password"}), 400)
    assert error(await admin.get("/api/devices", params={"size": 0}), 400)
