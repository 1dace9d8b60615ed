"""Raw SIP peers for tests that send bytes no real phone would: one per transport.

Each peer sends whatever bytes it is given to a Callboard node and collects what comes
back, parsed just enough to match (status, Call-ID, CSeq, top Via branch) by a parser of
its own, so that a bug in Callboard's parser cannot hide one in its answers:

- `UdpPeer`: datagrams from a random loopback address (127.x.y.z) on port 5060 and a
  few more. A response to a request whose top Via has no `rport` goes to the Via's
  sent-by port (5060 by default, RFC 3261 §18.2.2) at the `received` address, so the
  peer must own that port; a random address keeps it from clashing with anything else
  on 127.0.0.1.
- `StreamPeer`: one TCP or TLS connection; responses are framed by Content-Length.
- `WsPeer`: one WebSocket or secure WebSocket connection with the `sip` subprotocol;
  one frame is one message.

All of them: `send(data)`, `replies` (every response so far, in order),
`wait_reply(match, within)` (the first reply `match` accepts; waits), `closed`
(whether the far end closed), `wait_closed(within)`, and `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3}) ?([^\r\n]*)\r?\n")
_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]*(.*)$")
_COMPACT = {b"i": b"call-id", b"v": b"via", b"l": b"content-length", b"t": b"to", b"f": b"from"}
SIP_SUBPROTOCOL = Subprotocol("sip")
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    """A response received, and the few fields tests match on."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    raw: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key == wanted]

    @property
    def call_id(self) -> str | None:
        return self.header("call-id")

    @property
    def cseq(self) -> str | None:
        return self.header("cseq")

    @property
    def branch(self) -> str | None:
        via = self.header("via")
        match = _BRANCH.search(via or "")
        return match.group(1) if match else None

    def __str__(self) -> str:
        return f"{self.status} {self.reason} (Call-ID {self.call_id}, CSeq {self.cseq})"


def parse_reply(data: bytes) -> Reply | None:
    """A response, or None when `data` is not one (a request, a CRLF pong, garbage)."""
    match = _STATUS_LINE.match(data)
    if match is None:
        return None
    head, _, body = data[match.end() :].partition(b"\r\n\r\n")
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n(?![ \t])", head):
        found = _HEADER.match(line.strip(b"\r\n"))
        if found is None:
            continue
        name = found.group(1).lower()
        name = _COMPACT.get(name, name)
        value = re.sub(rb"\r?\n[ \t]+", b" ", found.group(2)).strip()
        headers.append((name.decode("latin-1"), value.decode("utf-8", "replace")))
    return Reply(
        int(match.group(1)),
        match.group(2).decode("utf-8", "replace"),
        tuple(headers),
        body,
        data,
    )


def split_stream(buffer: bytearray) -> list[bytes]:
    """Take every complete message (header section and Content-Length body) off the
    front of `buffer`; CRLF keep-alives between messages are dropped."""
    messages: list[bytes] = []
    while True:
        while buffer.startswith(b"\r\n"):
            del buffer[:2]
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return messages
        head = bytes(buffer[:end])
        found = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", head, re.IGNORECASE)
        length = int(found.group(1)) if found else 0
        total = end + 4 + length
        if len(buffer) < total:
            return messages
        messages.append(bytes(buffer[:total]))
        del buffer[:total]


Match = Callable[[Reply], bool]


def for_call(call_id: str | None, *, branch: str | None = None) -> Match:
    """Replies to the request with this Call-ID (or, for a request without one, with
    no Call-ID and this top Via branch)."""
    if call_id is None:
        return lambda reply: reply.call_id is None and (branch is None or reply.branch == branch)
    return lambda reply: reply.call_id == call_id


class Peer(Protocol):
    replies: list[Reply]

    @property
    def closed(self) -> bool: ...

    async def send(self, data: bytes) -> None: ...

    async def wait_reply(self, match: Match, within: float = 5.0) -> Reply: ...

    async def wait_closed(self, within: float = 5.0) -> None: ...

    async def aclose(self) -> None: ...


class _Collector:
    """The shared half of every peer: the replies so far and a way to wait for more."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.replies: list[Reply] = []
        self.other: list[bytes] = []
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _received(self, data: bytes) -> None:
        reply = parse_reply(data)
        if reply is None:
            self.other.append(data)
        else:
            self.replies.append(reply)
        self._changed.set()

    def _lost(self) -> None:
        self._closed = True
        self._changed.set()

    def matching(self, match: Match) -> list[Reply]:
        return [reply for reply in self.replies if match(reply)]

    async def wait_reply(self, match: Match, within: float = 5.0) -> Reply:
        """The first reply `match` accepts, waiting up to `within` seconds for it.
        Raises AssertionError on timeout or when the connection closes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for reply in self.replies:
                if match(reply):
                    return reply
            if self._closed:
                raise AssertionError(
                    f"{self.name}: closed before the reply came; got {self._seen()}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.name}: no reply within {within:g} s; got {self._seen()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_closed(self, within: float = 5.0) -> None:
        """Wait until the far end closes the connection."""
        async with asyncio.timeout(within):
            while not self._closed:
                self._changed.clear()
                await self._changed.wait()

    def _seen(self) -> str:
        return "[" + ", ".join(str(reply) for reply in self.replies[-10:]) + "]"


# -- UDP ---------------------------------------------------------------------------------


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, collector: _Collector) -> None:
        self._collector = collector

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._collector._received(data)

    def error_received(self, exc: Exception) -> None:
        pass


class UdpPeer(_Collector):
    """Datagrams to `target` from 127.x.y.z:5060 (and the other `ports`, which receive
    only: responses routed by a Via port other than 5060)."""

    def __init__(self, target: tuple[str, int], ports: Iterable[int] = (5060,)) -> None:
        super().__init__("udp")
        self.target = target
        self.ports = tuple(ports)
        self.host = ""
        self._transports: list[asyncio.DatagramTransport] = []

    async def open(self) -> UdpPeer:
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        for _ in range(20):
            host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
            transports: list[asyncio.DatagramTransport] = []
            try:
                for port in self.ports:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Datagrams(self), local_addr=(host, port)
                    )
                    transports.append(transport)
            except OSError as exc:
                failures.append(f"{host}: {exc}")
                for transport in transports:
                    transport.close()
                continue
            self.host = host
            self._transports = transports
            return self
        raise AssertionError(f"cannot bind UDP ports {self.ports} on loopback: {failures[-3:]}")

    async def send(self, data: bytes) -> None:
        self._transports[0].sendto(data, self.target)

    async def aclose(self) -> None:
        for transport in self._transports:
            transport.close()
        self._lost()


# -- TCP and TLS -------------------------------------------------------------------------


def insecure_client_context() -> ssl.SSLContext:
    """TLS without certificate checks: the test node's certificate is self-signed."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class StreamPeer(_Collector):
    """One TCP (or, with `tls`, TLS) connection to `target`."""

    def __init__(self, target: tuple[str, int], *, tls: bool = False) -> None:
        super().__init__("tls" if tls else "tcp")
        self.target = target
        self.tls = tls
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> StreamPeer:
        host, port = self.target
        self._reader, self._writer = await asyncio.open_connection(
            host, port, ssl=insecure_client_context() if self.tls else None
        )
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._reader is not None
        buffer = bytearray()
        try:
            while chunk := await self._reader.read(65536):
                buffer += chunk
                for message in split_stream(buffer):
                    self._received(message)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            self._lost()

    async def send(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def send_eof(self) -> None:
        """Half-close: we send nothing more (TLS has no half-close: this closes)."""
        assert self._writer is not None
        if self._writer.can_write_eof():
            self._writer.write_eof()
        else:
            self._writer.close()

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._lost()


# -- WebSocket ---------------------------------------------------------------------------


class WsPeer(_Collector):
    """One WebSocket connection (subprotocol `sip`) to `url` (ws:// or wss://)."""

    def __init__(self, url: str, *, max_size: int | None = 2**20) -> None:
        super().__init__("wss" if url.startswith("wss") else "ws")
        self.url = url
        self.max_size = max_size
        self._conn: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.close_code: int | None = None

    async def open(self) -> WsPeer:
        self._conn = await connect(
            self.url,
            subprotocols=[SIP_SUBPROTOCOL],
            ssl=insecure_client_context() if self.url.startswith("wss") else None,
            compression=None,
            max_size=self.max_size,
            open_timeout=10,
            ping_interval=None,
        )
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._conn is not None
        try:
            async for message in self._conn:
                self._received(message.encode() if isinstance(message, str) else message)
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self._conn.close_code
            self._lost()

    async def send(self, data: bytes) -> None:
        assert self._conn is not None
        try:
            text = data.decode()
        except UnicodeDecodeError:
            await self._conn.send(data)
        else:
            await self._conn.send(text)

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._lost()
