"""Where a request goes next (RFC 3261 §8.1.2, §18.1.1, §16.12; RFC 3263 without DNS
NAPTR/SRV).

The next hop is the topmost Route when it is a loose router's (``;lr``); otherwise the
Request-URI (no Route, or a route set built for a strict router by the dialog layer,
which has put the strict router's URI in the Request-URI already, §12.2.1.1).

From that URI: the transport is its ``transport`` parameter, else TLS for ``sips`` and
UDP for ``sip`` (RFC 3263 §4.1 with no NAPTR records); ``sips`` with ``transport=tcp``
means TLS, and with ``transport=ws`` secure WebSocket. The host is ``maddr`` when given,
else the URI host; the port is the URI's, else the transport's default.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from callboard.sip.message import SipRequest
from callboard.sip.transactions.errors import TransportFailure
from callboard.sip.transport import Address, TransportKind
from callboard.sip.uri import AbsoluteUri, SipUri

__all__ = ["Target", "is_ip_address", "next_hop_uri", "target_for_uri"]

#: The default ports of RFC 3261 for SIP URIs: 5060, and 5061 for TLS (RFC 7118 gives WS
#: 80/443, but a WebSocket target is reached only through a connection it opened).
_URI_DEFAULT_PORTS = {
    TransportKind.UDP: 5060,
    TransportKind.TCP: 5060,
    TransportKind.TLS: 5061,
    TransportKind.WS: 80,
    TransportKind.WSS: 443,
}


class Target(NamedTuple):
    """A next hop: transport, address, and the name a TLS certificate must carry."""

    kind: TransportKind
    address: Address
    server_name: str | None = None


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def next_hop_uri(request: SipRequest) -> SipUri | AbsoluteUri:
    """The URI the request is sent towards: a loose top Route, else the Request-URI."""
    if "route" in request.headers:
        routes = request.routes
        top = routes[0].uri if routes else None
        if isinstance(top, SipUri) and top.lr:
            return top
    return request.uri


def default_port(uri: SipUri, kind: TransportKind) -> int:
    return uri.port if uri.port is not None else _URI_DEFAULT_PORTS[kind]


def transport_of(uri: SipUri) -> TransportKind:
    """The transport a SIP or SIPS URI asks for (see the module documentation)."""
    secure = uri.scheme == "sips"
    name = uri.transport
    if name is None:
        return TransportKind.TLS if secure else TransportKind.UDP
    try:
        kind = TransportKind(name)
    except ValueError:
        raise TransportFailure(f"unsupported transport {name!r} in {uri}") from None
    if secure:
        if kind is TransportKind.TCP:
            return TransportKind.TLS
        if kind is TransportKind.WS:
            return TransportKind.WSS
        if kind is TransportKind.UDP:
            raise TransportFailure(f"a sips URI cannot use UDP: {uri}")
    return kind


def target_for_uri(uri: SipUri | AbsoluteUri) -> Target:
    """The next hop for ``uri``. Raises :class:`TransportFailure` for a URI that is not
    ``sip``/``sips`` or that names a transport Callboard does not have."""
    if not isinstance(uri, SipUri):
        raise TransportFailure(f"cannot send a request to a {uri.scheme} URI")
    kind = transport_of(uri)
    host = uri.maddr or uri.host
    server_name = uri.host if kind.secure and not is_ip_address(uri.host) else None
    return Target(kind, Address(host, default_port(uri, kind)), server_name)
