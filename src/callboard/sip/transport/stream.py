"""SIP over TCP and TLS: Content-Length framed streams (RFC 3261 §18.3).

One :class:`StreamProtocol` per connection, inbound or outbound, plain or under TLS
(asyncio's SSL layer hands it plaintext). It frames messages with :class:`StreamFramer`,
answers double-CRLF pings, closes the connection on a framing error, on an idle timeout,
and aborts it when the peer stops reading and the write buffer passes its bound.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from callboard.sip.transport.base import Address, TransportKind
from callboard.sip.transport.config import ListenerConfig
from callboard.sip.transport.flows import ConnectionFlow
from callboard.sip.transport.framing import FramingError, StreamFramer

if TYPE_CHECKING:
    from callboard.sip.transport.layer import TransportLayer

__all__ = ["StreamFlow", "StreamListener", "StreamProtocol"]

_log = logging.getLogger(__name__)

_PONG = b"\r\n"


class StreamFlow(ConnectionFlow):
    """The flow of one TCP or TLS connection."""

    __slots__ = ("_protocol",)

    def __init__(
        self,
        protocol: StreamProtocol,
        kind: TransportKind,
        local: Address,
        remote: Address,
        outbound: bool,
    ) -> None:
        super().__init__(kind, local, remote, outbound)
        self._protocol = protocol

    @property
    def connection(self) -> StreamProtocol:
        return self._protocol

    def send(self, data: bytes) -> bool:
        if self._closed:
            return False
        return self._protocol.write(data)

    def close(self) -> None:
        self._protocol.close()

    def abort(self) -> None:
        self._protocol.abort()


class StreamProtocol(StreamFramer, asyncio.Protocol):
    """One TCP or TLS connection."""

    __slots__ = (
        "_dropped",
        "_flow",
        "_idle_handle",
        "_kind",
        "_last_rx",
        "_layer",
        "_loop",
        "_outbound",
        "transport",
    )

    def __init__(self, layer: TransportLayer, kind: TransportKind, outbound: bool) -> None:
        StreamFramer.__init__(self, layer.options.max_message_size)
        self._layer = layer
        self._kind = kind
        self._outbound = outbound
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._flow: StreamFlow | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._last_rx = 0.0
        self._dropped = False

    @property
    def flow(self) -> StreamFlow | None:
        """The flow, once the connection is made (and accepted)."""
        return self._flow

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        layer = self._layer
        options = layer.options
        local = Address.from_sockaddr(transport.get_extra_info("sockname"))
        remote = Address.from_sockaddr(transport.get_extra_info("peername"))
        flow = StreamFlow(self, self._kind, local, remote, self._outbound)
        if not layer.flow_opened(flow):
            _log.warning(
                "%s connection from %s refused: too many connections", self._kind.value, remote
            )
            self._stop_framing()
            transport.abort()
            return
        self._flow = flow
        transport.set_write_buffer_limits(high=options.max_write_buffer)
        if options.tcp_keepalive:
            _enable_keepalive(transport.get_extra_info("socket"), layer)
        self._last_rx = self._loop.time()
        if options.idle_timeout is not None:
            self._idle_handle = self._loop.call_later(options.idle_timeout, self._check_idle)
        _log.debug("%s connection %s %s <-> %s", self._kind.value, flow.token, local, remote)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        try:
            self._feed(data)
        except FramingError as exc:
            self._framing_failed(exc)

    def eof_received(self) -> bool:
        # The peer will send nothing more; SIP has no use for a half-open connection.
        # Returning False makes asyncio close our side after flushing pending writes.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_framing()
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        flow = self._flow
        if flow is not None:
            if exc is not None:
                _log.debug("%s connection %s lost: %s", self._kind.value, flow.remote, exc)
            self._layer.flow_closed(flow)

    def pause_writing(self) -> None:
        # More than max_write_buffer bytes are waiting: the peer stopped reading.
        self._dropped = True
        flow = self._flow
        _log.warning(
            "%s connection to %s dropped: peer is not reading (write buffer full)",
            self._kind.value,
            flow.remote if flow is not None else "?",
        )
        self._stop_framing()
        if self.transport is not None:
            self.transport.abort()

    # -- framer hooks --------------------------------------------------------------------

    def _on_frame(self, message: bytes) -> None:
        flow = self._flow
        if flow is None:  # pragma: no cover - refused connections are not read
            return
        try:
            self._layer.on_message(message, flow)
        except Exception:
            _log.exception("on_message failed for a %s message", self._kind.value)

    def _on_ping(self) -> None:
        self.write(_PONG)

    # -- own API -------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        transport = self.transport
        if transport is None or self._dropped or transport.is_closing():
            return False
        transport.write(data)
        return not self._dropped

    def close(self) -> None:
        """Close after flushing what was written."""
        self._stop_framing()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._stop_framing()
        if self.transport is not None:
            self.transport.abort()

    def _framing_failed(self, exc: FramingError) -> None:
        flow = self._flow
        _log.info(
            "%s connection from %s closed: %s",
            self._kind.value,
            flow.remote if flow is not None else "?",
            exc,
        )
        self._stop_framing()
        if flow is not None:
            self._layer.framing_error(exc, flow)
        self.close()

    def _check_idle(self) -> None:
        timeout = self._layer.options.idle_timeout
        assert timeout is not None
        idle = self._loop.time() - self._last_rx
        if idle >= timeout:
            self._idle_handle = None
            _log.info(
                "%s connection %s closed after %.0f s idle",
                self._kind.value,
                self._flow.remote if self._flow is not None else "?",
                idle,
            )
            self.abort()
        else:
            self._idle_handle = self._loop.call_later(timeout - idle, self._check_idle)


def _enable_keepalive(sock: socket.socket | None, layer: TransportLayer) -> None:
    if sock is None:  # pragma: no cover - always a socket with the default loop
        return
    options = layer.options
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, options.tcp_keepalive_idle)
        if hasattr(socket, "TCP_KEEPINTVL"):
            sock.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, options.tcp_keepalive_interval
            )
        if hasattr(socket, "TCP_KEEPCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, options.tcp_keepalive_count)
    except OSError as exc:  # pragma: no cover - depends on the platform
        _log.debug("TCP keep-alive not set: %s", exc)


class StreamListener:
    """A listening TCP or TLS socket."""

    def __init__(self, layer: TransportLayer, config: ListenerConfig, index: int) -> None:
        self._layer = layer
        self.config = config
        self.kind = config.kind
        self.index = index
        self.address = Address(config.host, config.bind_port)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        layer = self._layer
        kind = self.kind
        ssl_context = self.config.make_ssl_context()
        self._server = await loop.create_server(
            lambda: StreamProtocol(layer, kind, outbound=False),
            self.config.host,
            self.config.bind_port,
            ssl=ssl_context,
            ssl_handshake_timeout=layer.options.tls_handshake_timeout if ssl_context else None,
            reuse_address=True,
            backlog=1024,
        )
        self.address = Address.from_sockaddr(self._server.sockets[0].getsockname())
        _log.info("listening on %s %s", kind.value, self.address)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
