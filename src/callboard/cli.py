"""The `callboard` command: `serve`, and admin commands for domains and tokens."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from callboard.config import Settings, load_settings
from callboard.directory.bootstrap import create_tenant
from callboard.directory.tokens import INTEGRATION, issue
from callboard.errors import AppError
from callboard.server import prepare, serve
from callboard.store.models import Domain, User


def storage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command needs to find its data."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="CALLBOARD_CONFIG",
        help="YAML file of settings.",
    )
    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Where the SQLite database and other files live. [env CALLBOARD_DATA_DIR]",
    )
    @click.option(
        "--database-url", help="e.g. postgresql://user:pw@host/db [env CALLBOARD_DATABASE_URL]"
    )
    @functools.wraps(command)
    def wrapper(
        config_file: Path | None, data_dir: Path | None, database_url: str | None, **kwargs: Any
    ) -> Any:
        settings = load_settings(config_file, data_dir=data_dir, database_url=database_url)
        return command(settings, **kwargs)

    return wrapper


@click.group()
@click.version_option(package_name="callboard")
def main() -> None:
    """Callboard: telephony for web applications."""


@main.command("serve")
@click.option("--host", help="HTTP address to listen on. [env CALLBOARD_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="HTTP port. [env CALLBOARD_PORT, default 8080]")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CALLBOARD_CONFIG",
    help="YAML file of settings.",
)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--database-url")
def serve_command(config_file: Path | None, **flags: Any) -> None:
    """Start the server (creates the database and a first administrator on first start)."""
    settings = load_settings(config_file, **flags)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


@main.command("migrate")
@storage_options
def migrate_command(settings: Settings) -> None:
    """Create or upgrade the database schema (and bootstrap a fresh install)."""
    runtime = asyncio.run(prepare(settings))
    asyncio.run(runtime.db.close())
    click.echo("database is up to date")


@main.group("domain")
def domain_group() -> None:
    """Manage domains (tenants)."""


@domain_group.command("create")
@click.argument("name")
@click.option("--admin-username", default="admin", show_default=True)
@click.option("--admin-password", help="Generated when not given.")
@click.option("--seats", default=100, show_default=True, help="Seats of its CALL_CENTER license.")
@storage_options
def domain_create(
    settings: Settings, name: str, admin_username: str, admin_password: str | None, seats: int
) -> None:
    """Create a domain with its first administrator, a license, and an admin token."""

    async def run() -> None:
        runtime = await prepare(settings)
        try:
            made = await create_tenant(
                runtime.db,
                name.lower(),
                admin_username=admin_username,
                admin_password=admin_password,
                seats=seats,
            )
        finally:
            await runtime.db.close()
        click.echo(f"domain          {made.domain} (id {made.domain_id})")
        click.echo(f"administrator   {made.admin_username} / {made.admin_password}")
        click.echo(f"license         {made.license_id} ({seats} seats)")
        click.echo(f"admin token     {made.admin_token}")

    _run(run())


@main.group("token")
def token_group() -> None:
    """Manage access tokens."""


@token_group.command("create")
@click.option("--domain", "domain_name", help="Domain of the user (default: the first domain).")
@click.option("--username", default="admin", show_default=True)
@click.option("--usage", default="cli", show_default=True)
@storage_options
def token_create(settings: Settings, domain_name: str | None, username: str, usage: str) -> None:
    """Print a new integration token for a user."""

    async def run() -> None:
        runtime = await prepare(settings)
        try:
            async with runtime.db.transaction() as session:
                name = (domain_name or settings.domain).lower()
                user = await session.scalar(
                    select(User)
                    .join(Domain, Domain.id == User.domain_id)
                    .where(Domain.name == name, User.username == username)
                )
                if user is None:
                    raise click.ClickException(f"no user {username!r} in domain {name!r}")
                issued = issue(session, user, INTEGRATION, usage, by=user.id)
        finally:
            await runtime.db.close()
        click.echo(issued.token)

    _run(run())


def _run(coroutine: Any) -> None:
    try:
        asyncio.run(coroutine)
    except AppError as error:
        raise click.ClickException(error.detail) from error
