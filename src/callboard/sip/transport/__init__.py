"""SIP transport layer: UDP, TCP, TLS, WS and WSS listeners that deal in bytes.

Every received message goes to one callback, ``on_message(data, flow)``; the
:class:`Flow` says how it came in and sends back the same way (RFC 5626 flows), which is
how requests reach phones registered over TCP/TLS and browsers registered over
WebSocket. Stream framing, keep-alives, limits and connection life cycle live here; the
message syntax does not (the layer above parses).
"""

from callboard.sip.transport.base import (
    DEFAULT_PORTS,
    DEFAULT_PROVIDER_PORT,
    DEFAULT_TCP_PORT,
    DEFAULT_TLS_PORT,
    DEFAULT_UDP_PORT,
    DEFAULT_WS_PORT,
    DEFAULT_WSS_PORT,
    Address,
    Flow,
    FlowClosedHandler,
    MessageHandler,
    TransportError,
    TransportKind,
)
from callboard.sip.transport.config import (
    ListenerConfig,
    TransportOptions,
    default_listeners,
    server_ssl_context,
)
from callboard.sip.transport.flows import ConnectionFlow
from callboard.sip.transport.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    FramingError,
    FramingErrorReason,
    StreamFramer,
    is_keepalive,
)
from callboard.sip.transport.layer import FramingErrorHandler, Listener, TransportLayer
from callboard.sip.transport.stream import StreamFlow
from callboard.sip.transport.udp import UdpFlow, stun_binding_response
from callboard.sip.transport.ws import SIP_SUBPROTOCOL, WsFlow

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_PORTS",
    "DEFAULT_PROVIDER_PORT",
    "DEFAULT_TCP_PORT",
    "DEFAULT_TLS_PORT",
    "DEFAULT_UDP_PORT",
    "DEFAULT_WSS_PORT",
    "DEFAULT_WS_PORT",
    "SIP_SUBPROTOCOL",
    "Address",
    "ConnectionFlow",
    "Flow",
    "FlowClosedHandler",
    "FramingError",
    "FramingErrorHandler",
    "FramingErrorReason",
    "Listener",
    "ListenerConfig",
    "MessageHandler",
    "StreamFlow",
    "StreamFramer",
    "TransportError",
    "TransportKind",
    "TransportLayer",
    "TransportOptions",
    "UdpFlow",
    "WsFlow",
    "default_listeners",
    "is_keepalive",
    "server_ssl_context",
    "stun_binding_response",
]
