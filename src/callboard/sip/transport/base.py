"""Core vocabulary of the transport layer: transport kinds, addresses and flows.

A *flow* (RFC 5626 §3.3) is the path a message came in on: a transport kind, a local and
a remote address and, for connection-oriented transports, the live connection itself.
Every received message is handed up together with its flow, and ``flow.send(data)``
sends back on exactly that path. That is the only way back to a browser registered over
WebSocket (its Contact host is ``<random>.invalid``) and the right way back to any phone
behind NAT that registered over TCP or TLS.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_PROVIDER_PORT",
    "DEFAULT_TCP_PORT",
    "DEFAULT_TLS_PORT",
    "DEFAULT_UDP_PORT",
    "DEFAULT_WSS_PORT",
    "DEFAULT_WS_PORT",
    "Address",
    "Flow",
    "FlowClosedHandler",
    "MessageHandler",
    "TransportError",
    "TransportKind",
]


class TransportKind(enum.StrEnum):
    """The five SIP transports. Values are the lowercase names used in URIs
    (``;transport=ws``); :attr:`via_name` is the upper-case Via form."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"

    @property
    def reliable(self) -> bool:
        """True for every transport but UDP (RFC 3261 §17: timers differ)."""
        return self is not TransportKind.UDP

    @property
    def secure(self) -> bool:
        """True for TLS and secure WebSocket."""
        return self is TransportKind.TLS or self is TransportKind.WSS

    @property
    def stream(self) -> bool:
        """True for TCP and TLS, whose messages are framed by Content-Length."""
        return self is TransportKind.TCP or self is TransportKind.TLS

    @property
    def websocket(self) -> bool:
        return self is TransportKind.WS or self is TransportKind.WSS

    @property
    def via_name(self) -> str:
        """The transport token of a Via header (``SIP/2.0/WSS``)."""
        return self.value.upper()

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self]


DEFAULT_UDP_PORT = 5060
DEFAULT_TCP_PORT = 5060
DEFAULT_TLS_PORT = 5061
DEFAULT_WS_PORT = 5066
DEFAULT_WSS_PORT = 7443
#: The second signalling port of a Webitel deployment, for telephony providers (seed 001).
DEFAULT_PROVIDER_PORT = 5080

DEFAULT_PORTS: dict[TransportKind, int] = {
    TransportKind.UDP: DEFAULT_UDP_PORT,
    TransportKind.TCP: DEFAULT_TCP_PORT,
    TransportKind.TLS: DEFAULT_TLS_PORT,
    TransportKind.WS: DEFAULT_WS_PORT,
    TransportKind.WSS: DEFAULT_WSS_PORT,
}


class Address(NamedTuple):
    """A transport address. ``host`` is an IP literal (without brackets) for every
    address the transport layer reports; callers may pass a host name to
    :meth:`TransportLayer.send`."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @classmethod
    def from_sockaddr(cls, sockaddr: tuple[object, ...]) -> Address:
        """Build from a socket address (2-tuple for IPv4, 4-tuple for IPv6)."""
        host, port = sockaddr[0], sockaddr[1]
        assert isinstance(host, str) and isinstance(port, int)
        return cls(host, port)


class TransportError(Exception):
    """A message could not be sent (no route, connection failed, no such listener)."""


class Flow(abc.ABC):
    """The path one message came in on, and the way back.

    Flows of connection-oriented transports (TCP, TLS, WS, WSS) live as long as their
    connection; :attr:`token` then names the connection and
    :meth:`TransportLayer.flow_by_token` finds the live flow until it closes. UDP flows
    are values: two UDP flows through the same listener to the same remote address are
    equal, and their token encodes the pair, so it stays valid as long as the listener
    does (and across restarts when the layer is given a fixed ``token_secret``).
    """

    __slots__ = ()

    @property
    @abc.abstractmethod
    def kind(self) -> TransportKind: ...

    @property
    @abc.abstractmethod
    def local(self) -> Address:
        """The local address; for a listener bound to a wildcard address this is the
        wildcard for UDP and the real interface address for connections."""

    @property
    @abc.abstractmethod
    def remote(self) -> Address: ...

    @property
    @abc.abstractmethod
    def token(self) -> str:
        """A stable, opaque, URI-safe name of this flow (letters, digits, ``-`` and
        ``_``), fit for a Path/Record-Route ``ob`` alias or a registrar binding. It is
        authenticated: a token made up by a peer does not resolve to a flow."""

    @property
    def connection(self) -> object | None:
        """The live connection object (an :class:`asyncio.Protocol` for TCP/TLS, a
        ``websockets`` ``ServerConnection`` for WS/WSS), or None for UDP."""
        return None

    @property
    def closed(self) -> bool:
        """True once the underlying connection is gone (never for UDP)."""
        return False

    @abc.abstractmethod
    def send(self, data: bytes) -> bool:
        """Send one complete SIP message back on this flow without waiting.

        Returns False when the message was not handed to the socket: the flow is
        closed, or it was dropped because the peer stopped reading (the write buffer
        passed its bound; the connection is then aborted and the flow closes)."""

    def close(self) -> None:  # noqa: B027 - no-op for connectionless flows
        """Close the connection after flushing what was already sent (no-op for UDP)."""

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} {self.kind.value} {self.local}->{self.remote}{state}>"


#: ``on_message(data, flow)``: one complete SIP message (bytes, as received) and its flow.
MessageHandler = Callable[[bytes, Flow], None]
#: ``on_flow_closed(flow)``: a connection-oriented flow is gone.
FlowClosedHandler = Callable[[Flow], None]
