"""SIP over WebSocket and secure WebSocket (RFC 7118), on the ``websockets`` asyncio server.

* The opening handshake must offer the ``sip`` subprotocol; otherwise it is refused with
  ``400 Bad Request`` and a sentence saying why. Any request path is accepted (JsSIP
  connects to ``/``, others to ``/sip-ws`` or ``/ws``).
* One WebSocket message (text or binary) is one SIP message; no Content-Length framing.
  A message larger than the limit makes the library close the connection (1009).
* SIP messages go out as text frames when they are valid UTF-8 (they nearly always are),
  else as binary frames.
* Liveness is checked by WebSocket ping/pong (the library sends pings and drops peers
  whose pong does not come); a ``\\r\\n\\r\\n`` message, the keep-alive SIP.js sends, is
  answered with ``\\r\\n``.
* permessage-deflate is off: SIP messages are small, and browsers offer it, which would
  cost CPU and some 100 KiB of zlib state per connection (Kamailio and FreeSWITCH do not
  negotiate it either).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from websockets.asyncio.connection import broadcast
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.typing import Subprotocol

from callboard.sip.transport.base import Address, TransportKind
from callboard.sip.transport.config import ListenerConfig
from callboard.sip.transport.flows import ConnectionFlow

if TYPE_CHECKING:
    from callboard.sip.transport.layer import TransportLayer

__all__ = ["SIP_SUBPROTOCOL", "WsFlow", "WsListener"]

_log = logging.getLogger(__name__)

SIP_SUBPROTOCOL = Subprotocol("sip")
_PING = b"\r\n\r\n"
_PONG = b"\r\n"
_CR = 13
_LF = 10


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """The library logs every connection opened and closed at INFO; for a SIP server
    with thousands of browser phones that belongs at DEBUG."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


_library_logger = _QuietLogger(logging.getLogger(__name__ + ".websockets"), {})


def _is_text(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


class WsFlow(ConnectionFlow):
    """The flow of one WebSocket connection."""

    __slots__ = ("_conn", "_layer", "_max_write_buffer")

    def __init__(
        self,
        layer: TransportLayer,
        conn: ServerConnection,
        kind: TransportKind,
        local: Address,
        remote: Address,
    ) -> None:
        super().__init__(kind, local, remote, outbound=False)
        self._layer = layer
        self._conn = conn
        self._max_write_buffer = layer.options.max_write_buffer

    @property
    def connection(self) -> ServerConnection:
        return self._conn

    def send(self, data: bytes) -> bool:
        conn = self._conn
        if self._closed or conn.state is not State.OPEN:
            return False
        try:
            broadcast((conn,), data, text=_is_text(data), raise_exceptions=True)
        except ExceptionGroup as exc:
            _log.debug("%s send to %s failed: %s", self._kind.value, self._remote, exc)
            return False
        if conn.transport.get_write_buffer_size() > self._max_write_buffer:
            _log.warning(
                "%s connection to %s dropped: peer is not reading (write buffer full)",
                self._kind.value,
                self._remote,
            )
            conn.transport.abort()
            return False
        return True

    def close(self) -> None:
        if self._conn.state is State.OPEN:
            self._layer.spawn(self._conn.close())

    def abort(self) -> None:
        self._conn.transport.abort()


class WsListener:
    """A listening WS or WSS socket."""

    def __init__(self, layer: TransportLayer, config: ListenerConfig, index: int) -> None:
        self._layer = layer
        self.config = config
        self.kind = config.kind
        self.index = index
        self.address = Address(config.host, config.bind_port)
        self._server: Server | None = None

    async def start(self) -> None:
        options = self._layer.options
        ssl_context = self.config.make_ssl_context()
        extra: dict[str, Any] = {}
        if ssl_context is not None:
            extra["ssl"] = ssl_context
            extra["ssl_handshake_timeout"] = options.tls_handshake_timeout
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.bind_port,
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            compression=None,
            server_header="Callboard",
            open_timeout=options.ws_open_timeout,
            ping_interval=options.ws_ping_interval,
            ping_timeout=options.ws_ping_timeout,
            max_size=options.max_message_size,
            write_limit=options.max_write_buffer,
            logger=_library_logger,
            reuse_address=True,
            backlog=1024,
            **extra,
        )
        self.address = Address.from_sockaddr(self._server.sockets[0].getsockname())
        _log.info("listening on %s %s", self.kind.value, self.address)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self._layer.at_capacity():
            _log.warning(
                "%s connection from %s refused: too many connections",
                self.kind.value,
                conn.remote_address,
            )
            return conn.respond(503, "Too many connections.\n")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        layer = self._layer
        kind = self.kind
        flow = WsFlow(
            layer,
            conn,
            kind,
            Address.from_sockaddr(conn.local_address),
            Address.from_sockaddr(conn.remote_address),
        )
        if not layer.flow_opened(flow):
            await conn.close(1013, "too many connections")
            return
        _log.debug(
            "%s connection %s from %s (path %s)",
            kind.value,
            flow.token,
            flow.remote,
            conn.request.path if conn.request else "?",
        )
        try:
            recv = conn.recv
            while True:
                data = await recv(decode=False)
                if not data:
                    continue
                first = data[0]
                if first in (_CR, _LF):
                    stripped = data.lstrip(b"\r\n")
                    if not stripped:
                        if data == _PING:
                            flow.send(_PONG)
                        continue
                    data = stripped
                try:
                    layer.on_message(data, flow)
                except Exception:
                    _log.exception("on_message failed for a %s message", kind.value)
        except ConnectionClosed:
            pass
        finally:
            layer.flow_closed(flow)


def _select_subprotocol(
    conn: ServerConnection, subprotocols: Sequence[Subprotocol]
) -> Subprotocol | None:
    if SIP_SUBPROTOCOL in subprotocols:
        return SIP_SUBPROTOCOL
    raise NegotiationError(
        "the WebSocket subprotocol 'sip' (RFC 7118) is required"
        + (f", offered: {', '.join(subprotocols)}" if subprotocols else "")
    )
