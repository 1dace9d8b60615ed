"""The OpenAPI document is generated from the code and describes what the server does."""

from __future__ import annotations

import httpx

from tests.api.helpers import ok


async def test_openapi_document_and_docs_page(anonymous: httpx.AsyncClient) -> None:
    document = ok(await anonymous.get("/api/openapi.json"))
    paths = document["paths"]
    expected = {
        "/api/devices": {"get", "post"},
        "/api/devices/{device_id}": {"get", "put", "patch", "delete"},
        "/api/users": {"get", "post"},
        "/api/users/{user_id}": {"get", "put", "patch", "delete"},
        "/api/users/{user_id}/tokens": {"get", "post"},
        "/api/users/{user_id}/tokens/{token_id}": {"get", "delete"},
        "/api/login": {"post"},
        "/api/domains": {"get", "post"},
        "/api/licenses": {"get", "post"},
        "/api/roles": {"get", "post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    user_schema = document["components"]["schemas"]["UserSpec"]["properties"]
    assert {
        "name",
        "email",
        "username",
        "password",
        "extension",
        "roles",
        "device",
        "devices",
        "license",
    } <= set(user_schema)
    created = paths["/api/users"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409"} <= set(created)
    assert created["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    schemes = document["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"apiKey", "http"}

    docs = await anonymous.get("/api/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
