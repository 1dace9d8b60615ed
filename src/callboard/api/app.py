"""The HTTP application: every router under `/api`, one error shape, a body-size cap."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse

from callboard import __version__
from callboard.api import (
    agents,
    calls,
    devices,
    domains,
    errors,
    licenses,
    roles,
    session,
    tokens,
    trunks,
    users,
    widget,
)
from callboard.api.json_bodies import JsonBodiesMiddleware
from callboard.api.limits import BodyLimitMiddleware
from callboard.compat.webitel import socket as webitel_socket
from callboard.runtime import Runtime
from callboard.web import demo as web_demo
from callboard.web import sdk as web_sdk

DESCRIPTION = """
Callboard's provisioning and session API. Authenticate with a token in the
`X-Webitel-Access` header, an `Authorization: Bearer` header, or the `access_token`
query parameter. Every error answers `{id, status, detail, code}`.
"""


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Callboard",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    api = APIRouter(prefix="/api")
    for module in (session, domains, roles, licenses, devices, users, tokens, trunks):
        api.include_router(module.router)
    api.include_router(agents.router)
    api.include_router(calls.router)
    api.include_router(widget.router)
    app.include_router(api)
    app.include_router(web_sdk.router)
    app.include_router(web_demo.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/api/docs")

    @app.get("/api/health", tags=["health"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for path in ("/websocket", "/ws/websocket", "/ws//websocket", "//websocket"):
        app.add_api_websocket_route(path, webitel_socket.websocket_endpoint)

    errors.install(app)
    app.add_middleware(JsonBodiesMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    # Pages on other origins (a CRM embedding the widget or the Cti.Connector) call the
    # API from the browser. Tokens travel in headers, never cookies, so any origin may.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Webitel-Access"],
        max_age=600,
    )
    return app
