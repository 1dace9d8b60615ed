"""An in-memory network for protocol tests: transports that satisfy the endpoint's
``SipTransport`` protocol, datagrams (which a test may drop) and connections between
them, and a scripted peer that records what it receives.

Delivery is asynchronous (``loop.call_soon``), as on a real network, so that one side's
send never re-enters the other side's handler.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from callboard.sip.errors import SipParseError
from callboard.sip.message import SipRequest, SipResponse, parse_message
from callboard.sip.transport import (
    Address,
    Flow,
    FlowClosedHandler,
    FramingErrorHandler,
    ListenerConfig,
    TransportError,
    TransportKind,
)

WAIT = 5.0
_tokens = itertools.count(1)
_ports = itertools.count(40000)


@dataclass(frozen=True)
class MemoryListener:
    kind: TransportKind
    address: Address


@dataclass
class MemoryNetwork:
    """Routes datagrams and connections between :class:`MemoryTransport` instances."""

    #: ``drop(data, source, destination)``: True to lose a datagram (connections are
    #: reliable).
    drop: Callable[[bytes, Address, Address], bool] | None = None
    endpoints: dict[tuple[TransportKind, Address], MemoryTransport] = field(default_factory=dict)

    def transport(self, host: str) -> MemoryTransport:
        return MemoryTransport(self, host)


class MemoryUdpFlow(Flow):
    __slots__ = ("_local", "_remote", "_transport")

    def __init__(self, transport: MemoryTransport, local: Address, remote: Address) -> None:
        self._transport = transport
        self._local = local
        self._remote = remote

    @property
    def kind(self) -> TransportKind:
        return TransportKind.UDP

    @property
    def local(self) -> Address:
        return self._local

    @property
    def remote(self) -> Address:
        return self._remote

    @property
    def token(self) -> str:
        return f"u-{self._local.port}-{self._remote.host}-{self._remote.port}"

    def send(self, data: bytes) -> bool:
        self._transport.sent.append((data, self))
        network = self._transport.network
        if network.drop is not None and network.drop(data, self._local, self._remote):
            return True
        peer = network.endpoints.get((TransportKind.UDP, self._remote))
        if peer is not None:
            flow = MemoryUdpFlow(peer, self._remote, self._local)
            asyncio.get_running_loop().call_soon(peer.deliver, data, flow)
        return True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MemoryUdpFlow):
            return NotImplemented
        return self._local == other._local and self._remote == other._remote

    def __hash__(self) -> int:
        return hash((self._local, self._remote))


class MemoryConnectionFlow(Flow):
    """One end of an in-memory connection (reliable, in order)."""

    __slots__ = ("_closed", "_kind", "_local", "_remote", "_token", "_transport", "peer")

    def __init__(
        self, transport: MemoryTransport, kind: TransportKind, local: Address, remote: Address
    ) -> None:
        self._transport = transport
        self._kind = kind
        self._local = local
        self._remote = remote
        self._token = f"c{next(_tokens)}"
        self._closed = False
        self.peer: MemoryConnectionFlow | None = None

    @property
    def kind(self) -> TransportKind:
        return self._kind

    @property
    def local(self) -> Address:
        return self._local

    @property
    def remote(self) -> Address:
        return self._remote

    @property
    def token(self) -> str:
        return self._token

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, data: bytes) -> bool:
        if self._closed:
            return False
        self._transport.sent.append((data, self))
        peer = self.peer
        if peer is not None:
            asyncio.get_running_loop().call_soon(peer._transport.deliver, data, peer)
        return True

    def close(self) -> None:
        """Close both ends; flow-closed listeners of both transports run."""
        for end in (self, self.peer):
            if end is not None and not end._closed:
                end._closed = True
                end._transport.connection_closed(end)


class MemoryTransport:
    """A host on a :class:`MemoryNetwork`; what an endpoint is given instead of a
    ``TransportLayer``."""

    def __init__(self, network: MemoryNetwork, host: str) -> None:
        self.network = network
        self.host = host
        self.on_message: Callable[[bytes, Flow], None] = self._ignore
        self.on_framing_error: FramingErrorHandler | None = None
        self._listeners: list[MemoryListener] = []
        self._connections: dict[tuple[TransportKind, Address], MemoryConnectionFlow] = {}
        self._by_token: dict[str, MemoryConnectionFlow] = {}
        self._closed_handlers: list[FlowClosedHandler] = []
        #: Every message sent, with its flow.
        self.sent: list[tuple[bytes, Flow]] = []

    @staticmethod
    def _ignore(data: bytes, flow: Flow) -> None:
        return None

    # -- the SipTransport protocol -------------------------------------------------------

    @property
    def listeners(self) -> Sequence[MemoryListener]:
        return tuple(self._listeners)

    async def start(self, configs: Iterable[ListenerConfig]) -> None:
        for config in configs:
            port = config.port if config.port else next(_ports)
            address = Address(self.host, port)
            key = (config.kind, address)
            if key in self.network.endpoints:
                raise TransportError(f"{address} is in use")
            self.network.endpoints[key] = self
            self._listeners.append(MemoryListener(config.kind, address))

    async def stop(self, grace_period: float = 5.0) -> None:
        for listener in self._listeners:
            self.network.endpoints.pop((listener.kind, listener.address), None)
        for flow in list(self._connections.values()):
            flow.close()

    def find_flow(self, kind: TransportKind, address: Address) -> Flow | None:
        if kind is TransportKind.UDP:
            listener = self.listener(TransportKind.UDP)
            return None if listener is None else MemoryUdpFlow(self, listener.address, address)
        flow = self._connections.get((kind, address))
        return None if flow is None or flow.closed else flow

    def flow_by_token(self, token: str) -> Flow | None:
        if token.startswith("u-"):
            local_port, host, port = token[2:].split("-")
            return MemoryUdpFlow(
                self, Address(self.host, int(local_port)), Address(host, int(port))
            )
        flow = self._by_token.get(token)
        return None if flow is None or flow.closed else flow

    async def connect(
        self, kind: TransportKind, address: Address, *, server_name: str | None = None
    ) -> Flow:
        existing = self.find_flow(kind, address)
        if existing is not None:
            return existing
        peer = self.network.endpoints.get((kind, address))
        if peer is None or kind is TransportKind.UDP:
            raise TransportError(f"connection to {kind.value} {address} refused")
        local = Address(self.host, next(_ports))
        mine = MemoryConnectionFlow(self, kind, local, address)
        theirs = MemoryConnectionFlow(peer, kind, address, local)
        mine.peer, theirs.peer = theirs, mine
        self._add(mine)
        peer._add(theirs)
        return mine

    def add_flow_closed_listener(self, handler: FlowClosedHandler) -> None:
        self._closed_handlers.append(handler)

    # -- helpers -------------------------------------------------------------------------

    def listener(self, kind: TransportKind) -> MemoryListener | None:
        for listener in self._listeners:
            if listener.kind is kind:
                return listener
        return None

    def address(self, kind: TransportKind) -> Address:
        listener = self.listener(kind)
        assert listener is not None
        return listener.address

    def _add(self, flow: MemoryConnectionFlow) -> None:
        self._connections[(flow.kind, flow.remote)] = flow
        self._by_token[flow.token] = flow

    def connection_closed(self, flow: MemoryConnectionFlow) -> None:
        if self._connections.get((flow.kind, flow.remote)) is flow:
            del self._connections[(flow.kind, flow.remote)]
        self._by_token.pop(flow.token, None)
        for handler in tuple(self._closed_handlers):
            handler(flow)

    def deliver(self, data: bytes, flow: Flow) -> None:
        self.on_message(data, flow)


class Peer:
    """A scripted SIP element on the memory network (or anything with the same
    transport interface): it records every message and sends raw ones."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.queue: asyncio.Queue[tuple[SipRequest | SipResponse, Flow]] = asyncio.Queue()
        self.received: list[tuple[SipRequest | SipResponse, Flow, float]] = []
        transport.on_message = self._on_message

    @classmethod
    async def create(
        cls,
        network: MemoryNetwork,
        host: str,
        kinds: Sequence[TransportKind] = (TransportKind.UDP,),
    ) -> Peer:
        transport = network.transport(host)
        await transport.start([ListenerConfig(kind, host, 5060) for kind in kinds])
        return cls(transport)

    def _on_message(self, data: bytes, flow: Flow) -> None:
        try:
            message = parse_message(data)
        except SipParseError as error:
            # An answer to a bad request echoes its bad header fields.
            if error.message is None:
                raise
            message = error.message
        self.received.append((message, flow, asyncio.get_running_loop().time()))
        self.queue.put_nowait((message, flow))

    def address(self, kind: TransportKind = TransportKind.UDP) -> Address:
        return self.transport.address(kind)

    async def next(self) -> tuple[SipRequest | SipResponse, Flow]:
        async with asyncio.timeout(WAIT):
            return await self.queue.get()

    async def request(self) -> tuple[SipRequest, Flow]:
        message, flow = await self.next()
        assert isinstance(message, SipRequest), message
        return message, flow

    async def response(self) -> tuple[SipResponse, Flow]:
        message, flow = await self.next()
        assert isinstance(message, SipResponse), message
        return message, flow

    def send(
        self,
        data: bytes | SipRequest | SipResponse,
        to: Address,
        kind: TransportKind = TransportKind.UDP,
    ) -> Flow:
        """Send from this peer's listener of ``kind`` (UDP) to ``to``."""
        flow = self.transport.find_flow(kind, to)
        assert flow is not None
        flow.send(data if isinstance(data, bytes) else data.encode())
        return flow

    async def connect(self, kind: TransportKind, to: Address) -> Flow:
        return await self.transport.connect(kind, to)

    def pending(self) -> int:
        return self.queue.qsize()

    def drain(self) -> list[SipRequest | SipResponse]:
        messages: list[SipRequest | SipResponse] = []
        while not self.queue.empty():
            messages.append(self.queue.get_nowait()[0])
        return messages
