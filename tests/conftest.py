"""Fixtures shared by the whole suite: storage back ends and a running server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from callboard.config import Settings
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer, admin_client, running_server

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test gets an empty database: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'callboard.db'}"
        return
    postgres: PostgresServer = request.getfixturevalue("postgres")
    name = f"test_{next(_databases)}"
    connection = await asyncpg.connect(postgres.url())
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield postgres.url(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        domain="callboard.lo",
        demo=False,
        login_failures_per_account=5,
        login_failures_per_source=20,
        sip=False,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that presents the root administrator's token."""
    async with admin_client(server) as client:
        yield client


@pytest.fixture
async def anonymous(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client
