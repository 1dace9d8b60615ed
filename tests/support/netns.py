"""A loopback-only network namespace for a browser, with the node's ports relayed into it.

Chromium on this machine offers ICE candidates on every interface it sees (eth0's
address too, even with only loopback candidates signalled, it pairs them), so a WebRTC
test in the host namespace would send media to an address other than 127.0.0.1. Inside
a fresh network namespace the only interface is `lo`, and media stays on loopback.

The node still runs in the test's own process (host namespace). For the browser to reach
it at the same URLs, a holder process made with `unshare --net` opens listening sockets
on the node's ports inside the namespace and hands them back (SCM_RIGHTS); this process
accepts on them and relays each connection to the node. Since every byte passes here,
the relay can also cut the network: `drop()` closes every connection and `down = True`
refuses new ones, which is what a browser sees when its network goes away.

Chromium runs in the namespace through a wrapper (`nsenter --net=...`) given to
Playwright as its executable. Needs root (as the rest of the suite's real peers do).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

# Runs in the new namespace: bring `lo` up, listen on the ports, send the sockets back,
# then live until the parent closes our stdin.
_HELPER = r"""
import fcntl, socket, struct, sys
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sh", fcntl.ioctl(probe, 0x8913, struct.pack("16sh", b"lo", 0)))[1]
fcntl.ioctl(probe, 0x8914, struct.pack("16sh", b"lo", flags | 1))
listeners = []
for port in sys.argv[2:]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(port)))
    listener.listen(128)
    listeners.append(listener)
channel = socket.socket(fileno=int(sys.argv[1]))
socket.send_fds(channel, [b"ok"], [listener.fileno() for listener in listeners])
sys.stdin.read()
"""


class NamespaceUnavailable(RuntimeError):
    """The namespace could not be made (not root, or no `unshare`/`nsenter`)."""


class LoopbackNamespace:
    """See the module documentation. Use `async with LoopbackNamespace(ports) as ns:`."""

    def __init__(self, ports: Sequence[int], *, host: str = "127.0.0.1") -> None:
        self.ports = list(ports)
        self.host = host
        #: While true, new connections from the namespace are closed at once.
        self.down = False
        self._holder: asyncio.subprocess.Process | None = None
        self._servers: list[asyncio.Server] = []
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dir = Path(tempfile.mkdtemp(prefix="callboard-netns-"))
        self.connections = 0

    @property
    def net_path(self) -> str:
        assert self._holder is not None
        return f"/proc/{self._holder.pid}/ns/net"

    def wrapper(self, executable: str) -> str:
        """A script that runs `executable` inside the namespace (for Playwright)."""
        script = self._dir / f"{Path(executable).name}-in-netns"
        script.write_text(f'#!/bin/sh\nexec nsenter --net={self.net_path} {executable} "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return str(script)

    async def __aenter__(self) -> LoopbackNamespace:
        if os.geteuid() != 0:
            raise NamespaceUnavailable("a network namespace needs root (run the tests as root)")
        for tool in ("unshare", "nsenter"):
            if not any((Path(d) / tool).exists() for d in ("/usr/bin", "/bin", "/usr/sbin")):
                raise NamespaceUnavailable(f"`{tool}` is missing (Debian's util-linux)")
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._holder = await asyncio.create_subprocess_exec(
                "unshare",
                "--net",
                "--",
                sys.executable,
                "-c",
                _HELPER,
                str(child.fileno()),
                *map(str, self.ports),
                stdin=asyncio.subprocess.PIPE,
                pass_fds=[child.fileno()],
            )
            child.close()
            parent.settimeout(10)
            try:
                _message, fds, _flags, _address = await asyncio.to_thread(
                    socket.recv_fds, parent, 16, len(self.ports)
                )
            except (OSError, TimeoutError) as error:
                raise NamespaceUnavailable(f"the namespace did not start: {error}") from error
            if len(fds) != len(self.ports):
                raise NamespaceUnavailable("the namespace did not open its ports")
        finally:
            parent.close()
        for fd, port in zip(fds, self.ports, strict=True):
            listener = socket.socket(fileno=fd)
            server = await asyncio.start_server(
                functools.partial(self._relay, port=port), sock=listener
            )
            self._servers.append(server)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for server in self._servers:
            server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._holder is not None:
            if self._holder.stdin is not None:
                self._holder.stdin.close()
            try:
                await asyncio.wait_for(self._holder.wait(), 5)
            except TimeoutError:
                self._holder.kill()
                await self._holder.wait()
        for path in self._dir.iterdir():
            path.unlink()
        self._dir.rmdir()

    def drop(self) -> None:
        """Close every relayed connection (both directions), as a network loss does."""
        for writer in list(self._links):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._links.clear()

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, port: int
    ) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.host, port)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._links.update((writer, upstream_writer))
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._links.discard(sink)
            with contextlib.suppress(Exception):
                sink.close()


@contextlib.asynccontextmanager
async def loopback_namespace(ports: Sequence[int]) -> AsyncIterator[LoopbackNamespace]:
    async with LoopbackNamespace(ports) as namespace:
        yield namespace
