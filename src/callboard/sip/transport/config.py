"""Listener and transport settings."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from callboard.sip.transport.base import DEFAULT_PROVIDER_PORT, TransportKind
from callboard.sip.transport.framing import DEFAULT_MAX_MESSAGE_SIZE

__all__ = [
    "ListenerConfig",
    "TransportOptions",
    "default_listeners",
    "server_ssl_context",
]


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """One listening socket.

    ``port=None`` means the transport's default port (5060, 5061, 5066, 7443); ``port=0``
    binds an ephemeral port (read it back from :attr:`TransportLayer.listeners`).
    TLS and WSS need either ``ssl_context`` or ``cert_path`` (PEM certificate chain) and
    ``key_path`` (PEM key; may be omitted when the key is in the certificate file).
    """

    kind: TransportKind
    host: str = "0.0.0.0"
    port: int | None = None
    cert_path: str | Path | None = None
    key_path: str | Path | None = None
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TransportKind(self.kind))
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"bad port {self.port}")
        if self.kind.secure and self.ssl_context is None and self.cert_path is None:
            raise ValueError(f"a {self.kind.value} listener needs cert_path or ssl_context")

    @property
    def bind_port(self) -> int:
        return self.kind.default_port if self.port is None else self.port

    def make_ssl_context(self) -> ssl.SSLContext | None:
        if not self.kind.secure:
            return None
        if self.ssl_context is not None:
            return self.ssl_context
        assert self.cert_path is not None
        return server_ssl_context(self.cert_path, self.key_path)


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Limits and timers shared by all listeners of a :class:`TransportLayer`."""

    #: Largest accepted message, header and body together (stream, datagram and WS).
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: A TCP/TLS connection with nothing received for this long is closed (None: never).
    #: RFC 5626 clients ping about every 2 minutes; registrations last up to an hour.
    idle_timeout: float | None = 3600.0
    #: Bytes a connection may have waiting to be written before it is dropped as a peer
    #: that stopped reading.
    max_write_buffer: int = 1024 * 1024
    #: Most connections (TCP, TLS, WS, WSS together) open at once; more are refused.
    max_connections: int = 20000
    #: Timeout of an outbound TCP/TLS connection attempt, TLS handshake included.
    connect_timeout: float = 10.0
    #: Timeout of the TLS handshake of inbound TLS and WSS connections.
    tls_handshake_timeout: float = 10.0
    #: SO_RCVBUF/SO_SNDBUF asked for UDP sockets (the kernel may cap it).
    udp_buffer_size: int = 4 * 1024 * 1024
    #: Turn on TCP keep-alive probes so half-open connections get noticed.
    tcp_keepalive: bool = True
    tcp_keepalive_idle: int = 60
    tcp_keepalive_interval: int = 15
    tcp_keepalive_count: int = 4
    #: WebSocket ping interval and timeout (the library answers and checks pongs).
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    #: Timeout of the WebSocket opening handshake.
    ws_open_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.max_message_size < 64:
            raise ValueError("max_message_size is unreasonably small")
        if self.max_write_buffer < 1024:
            raise ValueError("max_write_buffer is unreasonably small")


def server_ssl_context(cert_path: str | Path, key_path: str | Path | None = None) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 or later) with the given certificate and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), None if key_path is None else str(key_path))
    return context


def default_listeners(
    host: str = "0.0.0.0",
    *,
    cert_path: str | Path | None = None,
    key_path: str | Path | None = None,
    provider_port: bool = True,
) -> list[ListenerConfig]:
    """The ports a Webitel deployment exposes: UDP and TCP on 5060 (and on 5080, for
    providers), WS on 5066, and TLS on 5061 and WSS on 7443 when a certificate is given."""
    configs = [
        ListenerConfig(TransportKind.UDP, host),
        ListenerConfig(TransportKind.TCP, host),
    ]
    if provider_port:
        configs.append(ListenerConfig(TransportKind.UDP, host, DEFAULT_PROVIDER_PORT))
        configs.append(ListenerConfig(TransportKind.TCP, host, DEFAULT_PROVIDER_PORT))
    configs.append(ListenerConfig(TransportKind.WS, host))
    if cert_path is not None:
        configs.append(ListenerConfig(TransportKind.TLS, host, None, cert_path, key_path))
        configs.append(ListenerConfig(TransportKind.WSS, host, None, cert_path, key_path))
    return configs
