"""`GET /sdk/...`: the built SDK, with caching headers, gzip, CORS, and the one error
shape for what is not there."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from callboard.config import Settings
from callboard.web import sdk
from tests.api.helpers import error
from tests.support.server import running_server


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A node without SIP (no storage is involved: SQLite only)."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'callboard.db'}",
        domain="callboard.lo",
        demo=False,
        sip=False,
    )
    async with (
        running_server(settings) as node,
        httpx.AsyncClient(base_url=node.url, timeout=30) as client,
    ):
        yield client


def built() -> Path:
    if not (sdk.STATIC / "callboard.js").is_file():
        raise AssertionError("the SDK is not built: run `bash scripts/setup.sh`")
    return sdk.STATIC


async def test_the_sdk_is_served_with_caching_headers(http: httpx.AsyncClient) -> None:
    folder = built()
    response = await http.get("/sdk/callboard.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.content == (folder / "callboard.js").read_bytes()
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "Accept-Encoding" in response.headers["vary"]
    assert "last-modified" in response.headers
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')

    # Revalidation: the same version is a 304 without a body.
    again = await http.get(
        "/sdk/callboard.js", headers={"Accept-Encoding": "identity", "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    stale = await http.get(
        "/sdk/callboard.js", headers={"Accept-Encoding": "identity", "If-None-Match": '"old"'}
    )
    assert stale.status_code == 200

    # gzip for those who take it, under its own ETag.
    zipped = await http.get("/sdk/callboard.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.status_code == 200 and zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] != etag
    assert zipped.content == response.content  # httpx decodes it
    raw = (folder / "callboard.js.gz").read_bytes()
    assert gzip.decompress(raw) == response.content
    assert int(zipped.headers["content-length"]) == len(raw)


async def test_the_script_tag_build_and_the_types(http: httpx.AsyncClient) -> None:
    built()
    iife = await http.get("/sdk/callboard.iife.js")
    assert iife.status_code == 200 and b"Callboard" in iife.content[:200]
    types = await http.get("/sdk/callboard.d.ts")
    assert types.status_code == 200
    assert types.headers["content-type"] == "text/plain; charset=utf-8"
    index = await http.get("/sdk/types/index.d.ts")
    assert index.status_code == 200 and b"Client" in index.content
    client = await http.get("/sdk/types/client.d.ts")
    assert b"clickToCall" in client.content and b"dtmfReceived" in client.content
    source_map = await http.get("/sdk/callboard.js.map")
    assert source_map.status_code == 200 and source_map.json()["version"] == 3


@pytest.mark.parametrize(
    "path",
    [
        "/sdk/nothing.js",
        "/sdk/callboard.js.gz",
        "/sdk/../pyproject.toml",
        "/sdk/%2e%2e/%2e%2e/pyproject.toml",
        "/sdk/types/../../web/sdk.py",
        "/sdk/.hidden.js",
        "/sdk/callboard.exe",
    ],
)
async def test_what_is_not_the_sdk_is_a_404(http: httpx.AsyncClient, path: str) -> None:
    built()
    response = await http.get(path)
    body = error(response, 404)
    assert body["id"] in ("app.sdk.not_found", "api.route.not_found")


async def test_an_unbuilt_sdk_says_how_to_build_it(
    http: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk, "STATIC", tmp_path / "missing")
    body = error(await http.get("/sdk/callboard.js"), 503)
    assert body["id"] == "app.sdk.not_built"
    assert "scripts/setup.sh" in body["detail"] and "Node.js" in body["detail"]
