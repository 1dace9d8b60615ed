"""A real Callboard HTTP server on a free port, inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from callboard.api.app import create_app
from callboard.config import Settings
from callboard.directory.bootstrap import NewDomain, create_tenant
from callboard.runtime import Runtime


@dataclass
class RunningServer:
    url: str
    runtime: Runtime
    root: NewDomain


@contextlib.asynccontextmanager
async def running_server(settings: Settings) -> AsyncIterator[RunningServer]:
    runtime = Runtime.create(settings)
    await runtime.db.migrate()
    root = await create_tenant(
        runtime.db, settings.domain, admin_username="admin", root=True, demo=False
    )
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", runtime, root)
    finally:
        server.should_exit = True
        await task
        await runtime.db.close()
