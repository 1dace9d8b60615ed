"""The transport layer: listeners, live flows, and sending."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Self

from callboard.sip.transport.base import (
    Address,
    Flow,
    FlowClosedHandler,
    MessageHandler,
    TransportError,
    TransportKind,
)
from callboard.sip.transport.config import ListenerConfig, TransportOptions
from callboard.sip.transport.flows import CONNECTION_TOKEN_PREFIX, ConnectionFlow
from callboard.sip.transport.framing import FramingError
from callboard.sip.transport.stream import StreamListener, StreamProtocol
from callboard.sip.transport.udp import UDP_TOKEN_PREFIX, UdpFlow, UdpListener
from callboard.sip.transport.ws import WsListener

__all__ = ["FramingErrorHandler", "Listener", "TransportLayer"]

_log = logging.getLogger(__name__)

#: ``on_framing_error(error, flow)``: a stream lost its framing (or a datagram was too
#: large). ``error.data`` holds the header bytes; an answer sent on ``flow`` from inside
#: the handler (``400``/``513``) is flushed before the connection closes.
FramingErrorHandler = Callable[[FramingError, Flow], None]

Listener = UdpListener | StreamListener | WsListener

_RouteKey = tuple[TransportKind, str, int]


def _drop(data: bytes, flow: Flow) -> None:
    _log.debug("no on_message handler: %d bytes from %s dropped", len(data), flow.remote)


@functools.lru_cache(maxsize=4096)
def _ip_family(host: str) -> int | None:
    """AF_INET/AF_INET6 for an IP literal, None for a host name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


class TransportLayer:
    """Every SIP transport of one process behind one callback.

    ``on_message(data, flow)`` gets each received message; it runs on the event loop and
    must not block (queue work that takes long). An exception it raises is logged and the
    listener goes on. Usage::

        layer = TransportLayer(on_message)
        await layer.start([ListenerConfig(TransportKind.UDP, "0.0.0.0", 5060), ...])
        ...
        await layer.send(data, TransportKind.TCP, Address("192.0.2.7", 5060))
        layer.flow_by_token(token).send(data)
        ...
        await layer.stop()
    """

    def __init__(
        self,
        on_message: MessageHandler | None = None,
        *,
        options: TransportOptions | None = None,
        on_framing_error: FramingErrorHandler | None = None,
        client_ssl_context: ssl.SSLContext | None = None,
        token_secret: bytes | None = None,
    ) -> None:
        """
        Args:
            on_message: receives every message; may be set later through the attribute.
            options: limits and timers.
            on_framing_error: told about stream framing errors and oversized datagrams.
            client_ssl_context: for outbound TLS; default: system CAs, hostname checked.
            token_secret: key of UDP flow tokens; give a fixed one so that UDP tokens
                stored by a registrar survive a restart. Default: random per process.
        """
        self.on_message: MessageHandler = on_message or _drop
        self.on_framing_error = on_framing_error
        self.options = options or TransportOptions()
        self.token_secret = token_secret if token_secret is not None else secrets.token_bytes(32)
        self._client_ssl_context = client_ssl_context
        self._listeners: list[Listener] = []
        self._flows: dict[str, ConnectionFlow] = {}
        self._by_remote: dict[_RouteKey, ConnectionFlow] = {}
        self._connecting: dict[_RouteKey, asyncio.Future[ConnectionFlow]] = {}
        self._closed_handlers: list[FlowClosedHandler] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self._connection_count = 0
        self._no_connections = asyncio.Event()
        self._no_connections.set()

    # -- life cycle ----------------------------------------------------------------------

    async def start(self, configs: Iterable[ListenerConfig]) -> None:
        """Bind every listener; on any failure, close those already bound and raise."""
        configs = list(configs)
        if len(self._listeners) + len(configs) > 255:
            raise ValueError("at most 255 listeners")
        try:
            for config in configs:
                index = len(self._listeners)
                listener: Listener
                if config.kind is TransportKind.UDP:
                    listener = UdpListener(self, config, index)
                elif config.kind.stream:
                    listener = StreamListener(self, config, index)
                else:
                    listener = WsListener(self, config, index)
                await listener.start()
                self._listeners.append(listener)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, grace_period: float = 5.0) -> None:
        """Stop listening, close every connection (flushing what was sent, aborting
        after ``grace_period`` seconds), and wait until all are gone. Flow-closed
        listeners run."""
        for listener in self._listeners:
            listener.close()
        for flow in list(self._flows.values()):
            flow.close()
        if self._connection_count:
            try:
                async with asyncio.timeout(grace_period):
                    await self._no_connections.wait()
            except TimeoutError:
                for flow in list(self._flows.values()):
                    flow.abort()
                await self._no_connections.wait()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- introspection -------------------------------------------------------------------

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """The listeners, in configuration order, with their bound addresses."""
        return tuple(self._listeners)

    def address(self, kind: TransportKind | str) -> Address:
        """The bound address of the first listener of ``kind``."""
        kind = TransportKind(kind)
        for listener in self._listeners:
            if listener.kind is kind:
                return listener.address
        raise TransportError(f"no {kind.value} listener")

    @property
    def connection_count(self) -> int:
        """Live connection-oriented flows (inbound and outbound)."""
        return self._connection_count

    def connections(self) -> list[Flow]:
        return list(self._flows.values())

    # -- flows ---------------------------------------------------------------------------

    def add_flow_closed_listener(self, handler: FlowClosedHandler) -> None:
        """Call ``handler(flow)`` whenever a connection-oriented flow closes."""
        self._closed_handlers.append(handler)

    def remove_flow_closed_listener(self, handler: FlowClosedHandler) -> None:
        self._closed_handlers.remove(handler)

    def flow_by_token(self, token: str) -> Flow | None:
        """The flow a token names: a live connection, or a UDP (listener, remote) pair.
        None for a closed connection, a stopped listener, or a forged token."""
        if token.startswith(CONNECTION_TOKEN_PREFIX):
            return self._flows.get(token)
        if token.startswith(UDP_TOKEN_PREFIX):
            parsed = UdpListener.parse_token(token)
            if parsed is None:
                return None
            index, host, port, payload, mac = parsed
            if index >= len(self._listeners):
                return None
            listener = self._listeners[index]
            if not isinstance(listener, UdpListener):
                return None
            return listener.flow_for_token(host, port, payload, mac)
        return None

    def find_flow(self, kind: TransportKind | str, address: Address) -> Flow | None:
        """An open connection of ``kind`` to ``address`` (inbound or outbound), or for
        UDP the flow through the first listener of the address family; else None."""
        kind = TransportKind(kind)
        if kind is TransportKind.UDP:
            family = _ip_family(address.host)
            listener = self._udp_listener(family) if family is not None else None
            return None if listener is None else UdpFlow(listener, (address.host, address.port))
        flow = self._by_remote.get((kind, address.host, address.port))
        if flow is None or flow.closed:
            return None
        return flow

    # -- sending -------------------------------------------------------------------------

    async def send(
        self,
        data: bytes,
        kind: TransportKind | str,
        address: Address,
        *,
        server_name: str | None = None,
    ) -> Flow:
        """Send one message to ``address`` over ``kind`` and return the flow used.

        UDP goes out of the first UDP listener of the address family. TCP and TLS reuse
        an open connection to the address (one the peer opened counts too) or open one;
        TLS checks the certificate against ``server_name`` (default: the host). WS and
        WSS can only reuse a connection the peer opened. A host name is resolved.

        Raises TransportError when there is no way to send.
        """
        kind = TransportKind(kind)
        flow: Flow | None
        if kind is TransportKind.UDP:
            flow = await self._udp_flow(address)
        else:
            flow = self._by_remote.get((kind, address.host, address.port))
            if flow is None or flow.closed:
                flow = await self.connect(kind, address, server_name=server_name)
        if not flow.send(data):
            raise TransportError(f"{kind.value} send to {address} failed")
        return flow

    async def connect(
        self,
        kind: TransportKind | str,
        address: Address,
        *,
        server_name: str | None = None,
    ) -> Flow:
        """An open TCP/TLS connection to ``address``: an existing one, one being opened
        by a concurrent call, or a new one. Raises TransportError on failure."""
        kind = TransportKind(kind)
        key = (kind, address.host, address.port)
        existing = self._by_remote.get(key)
        if existing is not None and not existing.closed:
            return existing
        if not kind.stream:
            raise TransportError(f"no open {kind.value} connection to {address}")
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._open(kind, address, server_name))
            self._connecting[key] = pending
            pending.add_done_callback(functools.partial(self._connect_done, key))
        return await asyncio.shield(pending)

    def _connect_done(self, key: _RouteKey, future: asyncio.Future[ConnectionFlow]) -> None:
        if self._connecting.get(key) is future:
            del self._connecting[key]
        if not future.cancelled():
            future.exception()  # retrieved: no "never retrieved" warning if nobody waits

    async def _open(
        self, kind: TransportKind, address: Address, server_name: str | None
    ) -> ConnectionFlow:
        loop = asyncio.get_running_loop()
        ssl_context: ssl.SSLContext | None = None
        hostname: str | None = None
        if kind is TransportKind.TLS:
            if self._client_ssl_context is None:
                self._client_ssl_context = ssl.create_default_context()
            ssl_context = self._client_ssl_context
            hostname = server_name or address.host
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: StreamProtocol(self, kind, outbound=True),
                    address.host,
                    address.port,
                    ssl=ssl_context,
                    server_hostname=hostname,
                    ssl_handshake_timeout=(
                        self.options.connect_timeout if ssl_context is not None else None
                    ),
                )
        except (OSError, ValueError) as exc:  # TimeoutError and SSLError are OSErrors
            raise TransportError(f"cannot connect to {kind.value} {address}: {exc}") from exc
        flow = protocol.flow
        if flow is None or flow.closed:
            raise TransportError(f"{kind.value} connection to {address} closed at once")
        key = (kind, address.host, address.port)
        if key not in flow._route_keys:
            flow._route_keys.append(key)
            self._by_remote[key] = flow
        _log.debug("opened %s connection %s to %s", kind.value, flow.token, address)
        return flow

    async def _udp_flow(self, address: Address) -> UdpFlow:
        family = _ip_family(address.host)
        host = address.host
        if family is None:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, address.port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise TransportError(f"cannot resolve {host}: {exc}") from exc
            for info_family, _, _, _, sockaddr in infos:
                if self._udp_listener(info_family) is not None:
                    family, host = info_family, str(sockaddr[0])
                    break
            else:
                raise TransportError(f"no UDP listener for any address of {host}")
        listener = self._udp_listener(family)
        if listener is None:
            raise TransportError(f"no UDP listener for {address}")
        return UdpFlow(listener, (host, address.port))

    def _udp_listener(self, family: int) -> UdpListener | None:
        for listener in self._listeners:
            if isinstance(listener, UdpListener) and listener.family == family:
                return listener
        return None

    # -- called by the listeners and connections -----------------------------------------

    def at_capacity(self) -> bool:
        return self._connection_count >= self.options.max_connections

    def flow_opened(self, flow: ConnectionFlow) -> bool:
        """Register a new connection; False if it must be refused (too many)."""
        if not flow.outbound and self.at_capacity():
            return False
        self._connection_count += 1
        self._no_connections.clear()
        self._flows[flow.token] = flow
        remote = flow.remote
        key = (flow.kind, remote.host, remote.port)
        flow._route_keys.append(key)
        self._by_remote[key] = flow
        return True

    def flow_closed(self, flow: ConnectionFlow) -> None:
        """Forget a connection and tell the flow-closed listeners (once)."""
        if flow._closed:
            return
        flow._closed = True
        self._flows.pop(flow.token, None)
        for key in flow._route_keys:
            if self._by_remote.get(key) is flow:
                del self._by_remote[key]
        self._connection_count -= 1
        if not self._connection_count:
            self._no_connections.set()
        for handler in tuple(self._closed_handlers):
            try:
                handler(flow)
            except Exception:
                _log.exception("flow-closed listener failed")

    def framing_error(self, error: FramingError, flow: Flow) -> None:
        handler = self.on_framing_error
        if handler is None:
            return
        try:
            handler(error, flow)
        except Exception:
            _log.exception("on_framing_error failed")

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a background coroutine that stop() waits for."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
