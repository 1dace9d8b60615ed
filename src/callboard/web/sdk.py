"""`GET /sdk/{file}`: the browser SDK, as built from web/sdk by scripts/setup.sh.

The build (callboard.js, an ES module; callboard.iife.js for a script tag, global
`Callboard`; their source maps and `.d.ts` types) lands in static/sdk/, which git
ignores. The files are small and change only with a new build, so each is read once
(again when its mtime or size changes) and answered from memory:

- `Cache-Control: no-cache` with a content-hash `ETag`: browsers keep the file but ask
  each time, and get `304 Not Modified` until the server runs a new SDK. The URLs carry
  no version, so a longer max-age would serve a stale SDK after an upgrade.
- A gzip copy made by the build is sent to clients that accept it (`Vary: Accept-Encoding`).
- `Access-Control-Allow-Origin: *`: a page on another origin (a CRM) may import the ES
  module, which browsers fetch in CORS mode. The files hold no secret.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from callboard.errors import AppError, NotFound

STATIC = Path(__file__).resolve().parent / "static" / "sdk"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".ts": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")

router = APIRouter(include_in_schema=False)


class SdkNotBuilt(AppError):
    code = 503
    default_id = "app.sdk.not_built"


@dataclass(frozen=True, slots=True)
class _Cached:
    stamp: tuple[int, int]
    body: bytes
    etag: str
    last_modified: str
    gzip: bytes | None


_cache: dict[Path, _Cached] = {}


def _load(path: Path) -> _Cached:
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached is not None and cached.stamp == stamp:
        return cached
    body = path.read_bytes()
    gz_path = path.with_name(path.name + ".gz")
    gzip = gz_path.read_bytes() if gz_path.is_file() else None
    digest = hashlib.sha256(body).hexdigest()[:32]
    cached = _Cached(stamp, body, f'"{digest}"', formatdate(stat.st_mtime, usegmt=True), gzip)
    _cache[path] = cached
    return cached


def _find(name: str) -> Path:
    if not STATIC.is_dir():
        raise SdkNotBuilt(
            "the browser SDK is not built: run `bash scripts/setup.sh` (it needs Node.js 20 "
            "or newer and npm)"
        )
    suffix = Path(name).suffix
    if _NAME.match(name) is None or suffix not in _TYPES or name.endswith(".gz"):
        raise NotFound(f"no SDK file {name}", id="app.sdk.not_found")
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise NotFound(f"no SDK file {name}", id="app.sdk.not_found")
    return path


@router.get("/sdk/{name:path}")
async def sdk_file(name: str, request: Request) -> Response:
    path = _find(name)
    cached = _load(path)
    accepts_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
    use_gzip = cached.gzip is not None and accepts_gzip
    etag = cached.etag[:-1] + '-gz"' if use_gzip else cached.etag
    headers = {
        "ETag": etag,
        "Last-Modified": cached.last_modified,
        "Cache-Control": "no-cache",
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if cached.gzip is not None:
        headers["Vary"] = "Accept-Encoding"
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    body = cached.body
    if use_gzip and cached.gzip is not None:
        body = cached.gzip
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=_TYPES[path.suffix], headers=headers)
