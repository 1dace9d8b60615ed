"""A Callboard node with SIP on every transport, and phones provisioned over its REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from callboard.calls.events import LegEvent
from callboard.config import Settings
from tests.support.server import RunningServer, running_server
from tests.support.sipp import Sipp
from tests.support.softphone import self_signed_pem

DOMAIN = "callboard.lo"


@dataclass(frozen=True)
class Phone:
    """A provisioned user with one SIP device."""

    user_id: str
    device_id: str
    extension: str
    account: str
    password: str


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningServer]:
    certificate = tmp_path / "node.pem"
    self_signed_pem(certificate)
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'callboard.db'}",
        domain=DOMAIN,
        demo=False,
        sip_host="127.0.0.1",
        sip_udp_port=0,
        sip_tcp_port=0,
        sip_tls_port=0,
        sip_ws_port=0,
        sip_wss_port=0,
        sip_provider_port=0,
        tls_cert=certificate,
        tls_key=certificate,
        ring_timeout=3.0,
    )
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def admin(node: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Webitel-Access": node.root.admin_token}
    async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def sipp(tmp_path: Path) -> AsyncIterator[Sipp]:
    async with Sipp(tmp_path / "sipp") as runner:
        yield runner


@pytest.fixture
def events(node: RunningServer) -> list[LegEvent]:
    """Every leg event the engine publishes during the test, in order."""
    seen: list[LegEvent] = []
    node.runtime.bus.subscribe(LegEvent, seen.append)
    return seen


async def provision(admin: httpx.AsyncClient, extension: str, *, name: str | None = None) -> Phone:
    """A licensed user `u<extension>` with a device whose account is the extension."""
    password = f"pw-{extension}-secret"
    device = (
        await admin.post(
            "/api/devices",
            json={"name": f"phone {extension}", "account": extension, "password": password},
        )
    ).json()
    licenses = (await admin.get("/api/licenses")).json()["items"]
    user = await admin.post(
        "/api/users",
        json={
            "name": name or f"User {extension}",
            "username": f"u{extension}",
            "password": "user-passw0rd",
            "extension": extension,
            "roles": [{"id": 4}],
            "license": [{"id": licenses[0]["id"]}],
            "device": {"id": device["id"]},
        },
    )
    assert user.status_code == 200, user.text
    return Phone(user.json()["id"], device["id"], extension, extension, password)
