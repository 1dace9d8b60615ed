"""A real Callboard node on free ports, inside the test's event loop: HTTP and, when the
settings ask for it, SIP on UDP, TCP, TLS, WS and WSS; `node_settings()` are the usual
settings of such a node, `admin_client()` its root administrator's HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from callboard.api.app import create_app
from callboard.config import Settings
from callboard.directory.bootstrap import NewDomain, create_tenant
from callboard.runtime import Runtime
from callboard.server import http_config
from callboard.sip.transport import Address, TransportKind
from callboard.telephony import Telephony

#: The domain every test node makes on its first start.
DOMAIN = "callboard.lo"


@dataclass
class RunningServer:
    url: str
    runtime: Runtime
    root: NewDomain
    telephony: Telephony | None = None
    sip: dict[TransportKind, Address] = field(default_factory=dict)

    def sip_address(self, kind: TransportKind = TransportKind.UDP) -> Address:
        """Where the phones' SIP listener of `kind` is (the first one, not the trunk port)."""
        return self.sip[kind]


@contextlib.asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    runtime = Runtime.create(settings)
    await runtime.db.migrate()
    root = await create_tenant(
        runtime.db, settings.domain, admin_username="admin", root=True, demo=False
    )
    telephony = Telephony(runtime) if settings.sip else None
    if telephony is not None:
        await telephony.start()
    config = http_config(create_app(runtime), settings, port=0, tls=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    running = RunningServer(f"http://127.0.0.1:{port}", runtime, root, telephony)
    if telephony is not None:
        for listener in telephony.transport.listeners:
            running.sip.setdefault(listener.kind, listener.address)
    try:
        yield running
    finally:
        server.should_exit = True
        await task
        if telephony is not None:
            await telephony.stop()
        await runtime.db.close()


def node_settings(data_dir: Path, **overrides: Any) -> Settings:
    """A test node: SQLite in `data_dir`, the domain `DOMAIN` without demo users, and SIP
    on 127.0.0.1 with every listener on a free port. `overrides` change any setting
    (`None` turns a listener off)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'callboard.db'}",
        "domain": DOMAIN,
        "demo": False,
        "sip_host": "127.0.0.1",
        "sip_udp_port": 0,
        "sip_tcp_port": 0,
        "sip_tls_port": 0,
        "sip_ws_port": 0,
        "sip_wss_port": 0,
        "sip_provider_port": 0,
    }
    return Settings(**(values | overrides))


@contextlib.asynccontextmanager
async def admin_client(node: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `node` that presents the root administrator's token."""
    headers = {"X-Webitel-Access": node.root.admin_token}
    async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=30) as client:
        yield client
