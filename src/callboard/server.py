"""Running a node: migrate, bootstrap on first start, then serve HTTP (and, later, SIP)."""

from __future__ import annotations

import gc
import logging

import click
import uvicorn
from fastapi import FastAPI

from callboard.api.app import create_app
from callboard.config import Settings
from callboard.directory.bootstrap import NewDomain, create_tenant, is_fresh
from callboard.runtime import Runtime
from callboard.telephony import Telephony

log = logging.getLogger(__name__)


async def prepare(settings: Settings) -> Runtime:
    """Open the database, bring its schema up to date, and make a fresh install usable."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime.create(settings)
    await runtime.db.migrate()
    if await is_fresh(runtime.db):
        made = await create_tenant(
            runtime.db,
            settings.domain,
            admin_username=settings.admin_username,
            admin_password=_secret(settings.admin_password),
            admin_token=_secret(settings.admin_token),
            root=True,
            demo=settings.demo,
        )
        print_first_start(made, settings)
    return runtime


async def serve(settings: Settings) -> None:
    runtime = await prepare(settings)
    telephony = Telephony(runtime) if settings.sip else None
    if telephony is not None:
        await telephony.start()
    server = uvicorn.Server(http_config(create_app(runtime), settings))
    # The ~170,000 objects of the startup (modules, the app, the ORM's metadata) live as
    # long as the process: move them out of the collector's generations so that the
    # collections that calls trigger never traverse them again.
    gc.collect()
    gc.freeze()
    click.echo(
        f"Callboard is listening on {settings.http_url}  (API docs: {settings.http_url}/api/docs)"
    )
    try:
        await server.serve()
    finally:
        if telephony is not None:
            await telephony.stop()
        await runtime.db.close()


def http_config(
    app: FastAPI, settings: Settings, *, port: int | None = None, tls: bool = True
) -> uvicorn.Config:
    """How uvicorn serves the app. The tests use it too, on a port of their own and
    without TLS (their certificate is for SIP)."""
    tls = tls and settings.tls_cert is not None
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        ssl_certfile=str(settings.tls_cert) if tls else None,
        ssl_keyfile=str(settings.tls_key) if tls and settings.tls_key else None,
        log_level=settings.log_level,
        access_log=False,
        lifespan="off",
        # Call events are a few hundred bytes: compressing them saves little and costs
        # CPU per frame and a zlib context per socket, and browsers always offer it.
        # (The Webitel engine does not compress either.)
        ws_per_message_deflate=False,
    )


def print_first_start(made: NewDomain, settings: Settings) -> None:
    """Shown once, on the first start: the only time these secrets are visible."""
    lines = [
        "",
        "First start: created what you need to log in. These secrets are shown only now.",
        f"  domain          {made.domain}",
        f"  administrator   {made.admin_username} / {made.admin_password}",
        f"  admin token     {made.admin_token}"
        + ("  (from CALLBOARD_ADMIN_TOKEN)" if settings.admin_token else ""),
        f"  license         {made.license_id}",
    ]
    for user in made.demo_users:
        lines.append(
            f"  demo user       {user.username} / {user.password}, extension {user.extension},"
            f" SIP account {user.sip_account} / {user.sip_password}"
        )
    if made.demo_users:
        lines.append(
            f"  demo CRM page   {settings.http_url}/demo  (log in as two demo users in two"
            " browser windows and call between them)"
        )
    lines.append(f"  try: curl -H 'X-Webitel-Access: <admin token>' {settings.http_url}/api/users")
    click.echo("\n".join(lines) + "\n")


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else None
