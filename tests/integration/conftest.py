"""A Callboard node with SIP on every transport, and phones provisioned over its REST API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from callboard.calls.engine import CallEngine
from callboard.calls.events import LegEvent
from callboard.security import passwords
from callboard.sip.location import BindingChange, BindingEvent
from callboard.store.models import CallRecord
from tests.support.server import DOMAIN as DOMAIN
from tests.support.server import RunningServer, admin_client, node_settings, running_server
from tests.support.sipp import Sipp
from tests.support.softphone import self_signed_pem

E = TypeVar("E", bound=LegEvent)


@dataclass(frozen=True)
class Phone:
    """A provisioned user with one SIP device."""

    user_id: str
    device_id: str
    extension: str
    account: str
    password: str


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2id with its production cost takes 0.2 s a hash, and every node hashes its
    admin's password: here a cheap Argon2id does (the same code path, the same format)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", cheap)
        yield


@pytest.fixture(scope="session")
def node_certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One self-signed certificate (and key) for every node's TLS and WSS listeners."""
    return self_signed_pem(tmp_path_factory.mktemp("node-tls") / "node.pem")


@pytest.fixture
def node_database_url(tmp_path: Path) -> str:
    """The node's database: SQLite. A module whose tests read what calls stored overrides
    this with the suite's `database_url`, to run on PostgreSQL too."""
    return f"sqlite+aiosqlite:///{tmp_path / 'callboard.db'}"


@pytest.fixture
async def node(
    tmp_path: Path, node_certificate: Path, node_database_url: str
) -> AsyncIterator[RunningServer]:
    settings = node_settings(
        tmp_path,
        database_url=node_database_url,
        tls_cert=node_certificate,
        tls_key=node_certificate,
        ring_timeout=3.0,
    )
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def admin(node: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(node) as client:
        yield client


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Sipp]:
    async with Sipp(tmp_path / "sipp") as runner:
        yield runner


class EventLog(list[LegEvent]):
    """Every leg event the engine publishes, in order; `wait_for()` awaits the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def append(self, event: LegEvent) -> None:
        super().append(event)
        self._changed.set()

    def of(self, kind: type[E], leg_id: str | None = None) -> list[E]:
        """The events of `kind` (of one leg, if given), in order."""
        return [e for e in self if isinstance(e, kind) and leg_id in (None, e.leg_id)]

    async def wait_for(
        self,
        kind: type[E],
        count: int = 1,
        *,
        where: Callable[[E], bool] | None = None,
        within: float = 10.0,
    ) -> list[E]:
        """Wait until `count` events of `kind` (matching `where`) were published; all of
        them, in order. Fails with the events seen when `within` seconds pass first."""
        deadline = time.monotonic() + within
        while True:
            found = [e for e in self.of(kind) if where is None or where(e)]
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join(f"  {type(e).__name__} {e.leg_id}" for e in self)
                raise AssertionError(
                    f"no {count} x {kind.__name__} within {within:g} s; events:\n{seen}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self]


@pytest.fixture
def events(node: RunningServer) -> EventLog:
    """Every leg event the engine publishes during the test, in order."""
    seen = EventLog()
    node.runtime.bus.subscribe(LegEvent, seen.append)
    return seen


class BindingLog(list[BindingEvent]):
    """Every change to the node's registrations, in order; awaitable like `EventLog`."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def append(self, event: BindingEvent) -> None:
        super().append(event)
        self._changed.set()

    async def wait_for(
        self, change: BindingChange, aor: str, *, within: float = 10.0
    ) -> BindingEvent:
        """The first `change` of a binding of `aor` (already seen, or the next one)."""
        deadline = time.monotonic() + within
        while True:
            for event in self:
                if event.change is change and event.aor == aor:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join(f"  {e.change} {e.aor} {e.reason or ''}" for e in self)
                raise AssertionError(f"no {change} of {aor} within {within:g} s; seen:\n{seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


@pytest.fixture
def bindings(node: RunningServer) -> BindingLog:
    """Every binding added, refreshed or removed during the test."""
    assert node.telephony is not None
    seen = BindingLog()
    node.telephony.location.add_listener(seen.append)
    return seen


def engine(node: RunningServer) -> CallEngine:
    assert node.telephony is not None
    return node.telephony.engine


def tune(node: RunningServer, **changes: Any) -> None:
    """Change the call engine's settings for this test (e.g. `ring_timeout=1.0`)."""
    calls = engine(node)
    calls.config = dataclasses.replace(calls.config, **changes)


async def call_records(node: RunningServer) -> list[CallRecord]:
    """The call-history rows written so far (every finished leg), oldest first."""
    assert node.telephony is not None
    await node.telephony.history.flush()
    async with node.runtime.db.transaction() as session:
        rows = await session.scalars(
            select(CallRecord).order_by(CallRecord.created_at, CallRecord.id)
        )
        return list(rows)


async def provision(admin: httpx.AsyncClient, extension: str, *, name: str | None = None) -> Phone:
    """A licensed user `u<extension>` with a device whose account is the extension."""
    phones = await provision_devices(admin, extension, [extension], name=name)
    return phones[0]


async def provision_devices(
    admin: httpx.AsyncClient, extension: str, accounts: list[str], *, name: str | None = None
) -> list[Phone]:
    """A licensed user `u<extension>` with one device per account (the first is its
    default device); one `Phone` per device. The user has no password of its own (no
    web login): hashing one costs time and the SIP tests never use it."""
    devices: list[dict[str, Any]] = []
    for account in accounts:
        response = await admin.post(
            "/api/devices",
            json={
                "name": f"phone {account}",
                "account": account,
                "password": f"pw-{account}-secret",
            },
        )
        assert response.status_code == 200, response.text
        devices.append(response.json())
    licenses = (await admin.get("/api/licenses")).json()["items"]
    user = await admin.post(
        "/api/users",
        json={
            "name": name or f"User {extension}",
            "username": f"u{extension}",
            "extension": extension,
            "roles": [{"id": 4}],
            "license": [{"id": licenses[0]["id"]}],
            "device": {"id": devices[0]["id"]},
            "devices": [{"id": device["id"]} for device in devices],
        },
    )
    assert user.status_code == 200, user.text
    user_id = user.json()["id"]
    return [
        Phone(user_id, device["id"], extension, account, f"pw-{account}-secret")
        for device, account in zip(devices, accounts, strict=True)
    ]
