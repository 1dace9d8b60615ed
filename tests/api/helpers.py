"""Provisioning steps the API tests repeat, done the way seed 000 does them."""

from __future__ import annotations

from typing import Any

import httpx


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error(response: httpx.Response, code: int) -> dict[str, Any]:
    """The one error shape: `{id, status, detail, code}`."""
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"id", "status", "detail", "code"}, body
    assert body["code"] == code
    assert isinstance(body["id"], str) and body["id"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def license_id(client: httpx.AsyncClient, **params: str) -> str:
    licenses = ok(await client.get("/api/licenses", params=params))["items"]
    assert licenses, "the domain has no license"
    value: str = licenses[0]["id"]
    return value


async def make_user(
    client: httpx.AsyncClient,
    username: str,
    extension: str | None = None,
    *,
    role: int = 4,
    licensed: bool = True,
    password: str = "s3cret-passw0rd",
    params: dict[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": username.title(),
        "username": username,
        "password": password,
        "roles": [{"id": role}],
        **fields,
    }
    if extension:
        body["extension"] = extension
    if licensed:
        body["license"] = [{"id": await license_id(client, **(params or {}))}]
    return ok(await client.post("/api/users", json=body, params=params or {}))


async def other_domain(client: httpx.AsyncClient, name: str = "other-company.lo") -> dict[str, str]:
    """Another domain, with a 5-seat CALL_CENTER license so its users can be made; returns
    `{"domain_id": id}`, the parameters that act in it as the root administrator."""
    made = ok(await client.post("/api/domains", json={"name": name}))
    in_other = {"domain_id": str(made["id"])}
    ok(await client.post("/api/licenses", json={"prod": "CALL_CENTER", "limit": 5, **in_other}))
    return in_other


async def make_token(
    client: httpx.AsyncClient, user_id: str, params: dict[str, str] | None = None
) -> str:
    body = ok(
        await client.post(
            f"/api/users/{user_id}/tokens", json={"token": "", "usage": "test"}, params=params or {}
        )
    )
    token: str = body["token"]
    return token


def client_for(base: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base.base_url, headers={"X-Webitel-Access": token}, timeout=30
    )
