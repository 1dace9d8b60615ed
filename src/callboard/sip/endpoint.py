"""The SIP endpoint: transports below, the transaction user above, transactions between.

Incoming bytes are parsed; a request that cannot be parsed is answered statelessly with
the status its error names (400, 505, 513...) when it has a Via to answer to, else
dropped. A request then gets ``received``/``rport`` on its top Via (RFC 3261 §18.2.1,
RFC 3581), is matched to a server transaction (a retransmission is absorbed there), and
otherwise checked (§8.2: method, Max-Forwards, merged requests, URI scheme, Require),
stripped of Route entries that name this server (§16.4), given a server transaction and
handed to the transaction user. An ACK that no transaction absorbs, a CANCEL, and a
response that matches no client transaction have their own paths (see
:class:`~callboard.sip.tu.TransactionUser`).

Requests go out through :meth:`Endpoint.send_request`: the endpoint picks the flow
(an explicit flow or flow token, an explicit destination, or the next hop of
:mod:`callboard.sip.targets`, reusing open connections), puts in a top Via with this
server's sent-by for that flow and a fresh branch, and starts a client transaction.
Finding a flow is synchronous when the next hop is an IP address reachable over UDP or
an open connection; only a host name or a new TCP/TLS connection costs a task.

Responses go out per §18.2.2 on the flow the server transaction was given: the request's
connection, or for UDP the source address (``rport``) or the received address and the
Via port. If a TCP/TLS connection is gone by then, a new one is opened to the received
address and the Via port.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from callboard.sip.errors import BadExtension, SipParseError
from callboard.sip.grammar import format_params, is_token
from callboard.sip.headers import Headers, Via
from callboard.sip.message import SipRequest, SipResponse, parse_message, validate_request
from callboard.sip.pending_ack import AckKey, PendingAck
from callboard.sip.targets import Target, is_ip_address, next_hop_uri, target_for_uri
from callboard.sip.transactions import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ResponseCallback,
    ServerInviteTransaction,
    ServerKey,
    ServerNonInviteTransaction,
    ServerTransaction,
    TimeoutCallback,
    TimerConfig,
    TransactionTable,
    TransportErrorCallback,
    TransportFailure,
    create_cancel,
    new_branch,
    new_tag,
    server_key,
)
from callboard.sip.transport import (
    Address,
    Flow,
    FlowClosedHandler,
    FramingError,
    FramingErrorHandler,
    FramingErrorReason,
    ListenerConfig,
    MessageHandler,
    TransportError,
    TransportKind,
    TransportLayer,
    UdpFlow,
)
from callboard.sip.tu import DefaultTransactionUser, TransactionUser
from callboard.sip.uri import SipUri

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_SUPPORTED",
    "AckCallback",
    "Endpoint",
    "EndpointConfig",
    "ListenerInfo",
    "SipTransport",
]

_log = logging.getLogger("callboard.sip.endpoint")

DEFAULT_ALLOW = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "INFO",
    "UPDATE",
    "REFER",
    "NOTIFY",
    "MESSAGE",
    "SUBSCRIBE",
    "REGISTER",
    "PRACK",
)
DEFAULT_SUPPORTED = ("outbound", "path", "replaces", "timer")
#: ``on_ack(ack)`` of :meth:`Endpoint.send_2xx_reliably`.
AckCallback = Callable[[SipRequest], None]

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_SIP_DEFAULT_PORT = 5060


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Settings of an :class:`Endpoint`."""

    timers: TimerConfig = field(default_factory=TimerConfig)
    #: The host put in the sent-by of our Via (and offered to TUs for Contact): a public
    #: address or a DNS name. Default: the address of the listener or connection used.
    advertised_host: str | None = None
    #: Per-transport ports to advertise instead of the listeners' (behind port mapping).
    advertised_ports: Mapping[TransportKind, int] = field(default_factory=dict)
    #: Other names and addresses of this server (Route entries naming them are removed).
    aliases: frozenset[str] = frozenset()
    #: Methods served (405 for others, RFC 3261 §8.2.1) and listed in Allow.
    allow: tuple[str, ...] = DEFAULT_ALLOW
    #: Option tags understood: a Require outside them gets 420 (§8.2.2.3).
    supported: tuple[str, ...] = DEFAULT_SUPPORTED
    #: Body types listed in Accept of the default OPTIONS answer.
    accept: tuple[str, ...] = ("application/sdp",)
    #: Request-URI schemes served (416 for others, §8.2.2.1).
    schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    #: Methods answered even with Max-Forwards 0: those this server always handles itself
    #: and never relays (RFC 3261 §16.3 step 3 makes the exception for OPTIONS).
    max_forwards_exempt: frozenset[str] = frozenset({"OPTIONS", "REGISTER"})
    #: Largest message parsed.
    max_message_size: int = 64 * 1024
    #: Server header of the responses the endpoint makes itself (None: none).
    server: str | None = "Callboard"


class ListenerInfo(Protocol):
    @property
    def kind(self) -> TransportKind: ...

    @property
    def address(self) -> Address: ...


class SipTransport(Protocol):
    """What the endpoint needs of a transport layer; :class:`TransportLayer` is one, and
    tests use an in-memory one."""

    on_message: MessageHandler
    on_framing_error: FramingErrorHandler | None

    @property
    def listeners(self) -> Sequence[ListenerInfo]: ...

    async def start(self, configs: Iterable[ListenerConfig]) -> None: ...

    async def stop(self, grace_period: float = 5.0) -> None: ...

    def find_flow(self, kind: TransportKind, address: Address) -> Flow | None: ...

    def flow_by_token(self, token: str) -> Flow | None: ...

    async def connect(
        self, kind: TransportKind, address: Address, *, server_name: str | None = None
    ) -> Flow: ...

    def add_flow_closed_listener(self, handler: FlowClosedHandler) -> None: ...


def _replace_top_via(headers: Headers, value: str) -> None:
    """``headers.replace_first("Via", value)``, keeping the parses of the other header
    fields: a Headers change drops its whole parse cache, and re-parsing From, To,
    Call-ID and CSeq of every request would cost a quarter of its handling time.
    (Relies on the cache layout of :class:`Headers`; harmless if that changes.)"""
    cache = getattr(headers, "_cache", None)
    headers.replace_first("Via", value)
    if isinstance(cache, dict) and getattr(headers, "_cache", 0) is None:
        kept = {key: parsed for key, parsed in cache.items() if key[0] != "via"}
        headers._cache = kept


def _salvage_request(data: bytes) -> SipRequest | None:
    """The header fields of a request whose start line is bad (unknown SIP version,
    malformed Request-URI), parsed behind a neutral start line, to answer it."""
    end = data.find(b"\n")
    if end < 0:
        return None
    parts = data[:end].split()
    if len(parts) < 2 or parts[0].upper().startswith(b"SIP/"):
        return None
    try:
        method = parts[0].decode("ascii")
    except UnicodeDecodeError:
        return None
    if not is_token(method):
        return None
    newline = b"\r\n" if data[end - 1 : end] == b"\r" else b"\n"
    rebuilt = f"{method} sip:invalid SIP/2.0".encode() + newline + data[end + 1 :]
    try:
        message = parse_message(rebuilt)
    except SipParseError as error:
        message = error.message  # type: ignore[assignment]
    return message if isinstance(message, SipRequest) else None


class Endpoint:
    """The stack's entry point; it owns the transport and the transaction table.

    Create it inside the running event loop, start it, send requests, stop it::

        endpoint = Endpoint(config=EndpointConfig(...), tu=call_engine)
        await endpoint.start([ListenerConfig(TransportKind.UDP, "0.0.0.0", 5060)])
        txn = endpoint.send_request(request, on_response=on_response)
        response = await txn.final_response()
        await endpoint.stop()
    """

    def __init__(
        self,
        transport: SipTransport | None = None,
        *,
        config: EndpointConfig | None = None,
        tu: TransactionUser | None = None,
    ) -> None:
        self.config = config or EndpointConfig()
        self._loop = asyncio.get_running_loop()
        self.transport: SipTransport = transport if transport is not None else TransportLayer()
        self.transport.on_message = self._on_message
        self.transport.on_framing_error = self._on_framing_error
        self.transport.add_flow_closed_listener(self._on_flow_closed)
        self.transactions = TransactionTable(self._loop, self.config.timers, self._resend)
        self.tu: TransactionUser = tu or DefaultTransactionUser(
            allow=self.config.allow,
            accept=self.config.accept,
            supported=self.config.supported,
            server=self.config.server,
        )
        self._allow = frozenset(self.config.allow)
        self._supported = frozenset(self.config.supported)
        self._awaiting_ack: dict[AckKey, PendingAck] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._local_hosts: set[str] = {host.lower() for host in self.config.aliases}
        self._local_ports: set[int] = set(self.config.advertised_ports.values())
        self._listen_ports: dict[TransportKind, int] = {}
        self._route_ips: dict[str, str] = {}
        if self.config.advertised_host:
            self._local_hosts.add(self.config.advertised_host.lower())
        self._refresh_listeners()

    # -- life cycle ----------------------------------------------------------------------

    async def start(self, listeners: Iterable[ListenerConfig] = ()) -> None:
        """Start the transport's listeners (if any are given) and learn their addresses."""
        listeners = list(listeners)
        if listeners:
            await self.transport.start(listeners)
        self._refresh_listeners()

    async def stop(self) -> None:
        """Fail the pending client transactions, stop every timer and task, forget every
        transaction, and stop the transport."""
        stopping = TransportFailure("the endpoint is stopping")
        for transaction in list(self.transactions.client.values()):
            transaction.transport_failed(stopping)
        self.transactions.clear()
        for pending in list(self._awaiting_ack.values()):
            pending.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.stop()

    def _refresh_listeners(self) -> None:
        for listener in self.transport.listeners:
            address = listener.address
            self._listen_ports.setdefault(listener.kind, address.port)
            self._local_ports.add(address.port)
            if address.host not in _WILDCARDS:
                self._local_hosts.add(address.host.lower())

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def timers(self) -> TimerConfig:
        return self.config.timers

    # -- addresses -----------------------------------------------------------------------

    def local_address(self, kind: TransportKind, flow: Flow | None = None) -> Address:
        """The host and port this server advertises for ``kind`` (Via sent-by, and what
        a TU puts in a Contact); ``flow``, when known, picks the interface."""
        config = self.config
        port = config.advertised_ports.get(kind)
        if port is None:
            if flow is not None and not kind.stream:
                port = flow.local.port
            else:
                port = self._listen_ports.get(kind)
                if port is None:
                    port = flow.local.port if flow is not None else kind.default_port
        host = config.advertised_host
        if host is None:
            if flow is not None and flow.local.host not in _WILDCARDS:
                host = flow.local.host
            else:
                host = self._listener_host(kind)
                if host is None:
                    host = self._route_ip(flow.remote.host if flow is not None else None)
        return Address(host, port)

    def contact_uri(
        self, kind: TransportKind, user: str | None = None, flow: Flow | None = None
    ) -> SipUri:
        """A Contact URI of this server for ``kind``: ``sip:`` with ``transport`` set
        unless UDP (``sips:`` with ``transport=tls`` is deprecated, RFC 5630 §3.1.3)."""
        address = self.local_address(kind, flow)
        params: dict[str, str | None] = {}
        if kind is not TransportKind.UDP:
            params["transport"] = kind.value
        return SipUri(address.host, user, port=address.port, params=params)

    def _listener_host(self, kind: TransportKind) -> str | None:
        for listener in self.transport.listeners:
            if listener.kind is kind and listener.address.host not in _WILDCARDS:
                return listener.address.host
        return None

    def _route_ip(self, remote: str | None) -> str:
        """The local address the system routes to ``remote`` through (a listener bound
        to a wildcard address does not know it)."""
        key = remote or ""
        known = self._route_ips.get(key)
        if known is not None:
            return known
        family = socket.AF_INET6 if remote and ":" in remote else socket.AF_INET
        probe = remote if remote and is_ip_address(remote) else "192.0.2.1"
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((probe, 9))
                host = str(sock.getsockname()[0])
        except OSError:
            host = "127.0.0.1" if family == socket.AF_INET else "::1"
        if len(self._route_ips) < 1024:
            self._route_ips[key] = host
        self._local_hosts.add(host.lower())
        return host

    def _sent_by(self, flow: Flow) -> str:
        address = self.local_address(flow.kind, flow)
        self._local_hosts.add(address.host.lower())
        return str(address)

    def is_local_uri(self, uri: object, flow: Flow | None = None) -> bool:
        """Whether ``uri`` names this server (a Route entry to remove, §16.4)."""
        if not isinstance(uri, SipUri):
            return False
        host = uri.host.lower()
        if host not in self._local_hosts and (flow is None or host != flow.local.host.lower()):
            return False
        port = uri.port
        if port is None:
            secure = uri.scheme == "sips" or uri.transport == "tls"
            port = 5061 if secure else _SIP_DEFAULT_PORT
        return port in self._local_ports or (flow is not None and port == flow.local.port)

    def _is_our_via(self, via: Via) -> bool:
        if via.host.lower() not in self._local_hosts:
            return False
        return via.port is None or via.port in self._local_ports

    # -- receiving -----------------------------------------------------------------------

    def _on_message(self, data: bytes, flow: Flow) -> None:
        try:
            message = parse_message(data, max_size=self.config.max_message_size)
        except SipParseError as error:
            self._on_parse_error(error, data, flow)
            return
        if isinstance(message, SipRequest):
            self._on_request(message, flow)
        else:
            self._on_response(message, flow)

    def _on_parse_error(self, error: SipParseError, data: bytes, flow: Flow) -> None:
        message = error.message
        if message is None:
            message = _salvage_request(data)
        if not isinstance(message, SipRequest) or message.method == "ACK":
            _log.debug("dropped an unparsable message from %s: %s", flow.remote, error)
            return
        self._reply_statelessly(message, flow, error.status, error.reason)

    def _on_framing_error(self, error: FramingError, flow: Flow) -> None:
        status, reason = (
            (513, "Message Too Large")
            if error.reason is FramingErrorReason.TOO_LARGE
            else (400, error.reason.value.title())
        )
        try:
            message: SipRequest | SipResponse | None = parse_message(error.data)
        except SipParseError as parse_error:
            message = parse_error.message
        if isinstance(message, SipRequest) and message.method != "ACK":
            self._reply_statelessly(message, flow, status, reason)
        else:
            _log.debug("%s from %s: %s", error.reason.value, flow.remote, error.detail)

    def _reply_statelessly(self, request: SipRequest, flow: Flow, status: int, reason: str) -> None:
        if "via" not in request.headers:
            _log.debug("no Via to answer %s from %s with %d", request.method, flow.remote, status)
            return
        try:
            response = request.create_response(status, reason, to_tag=new_tag())
        except SipParseError:
            response = request.create_response(status, reason)
        if self.config.server:
            response.headers.add("Server", self.config.server)
        try:
            out = self._response_flow(request, flow)
        except SipParseError:
            out = flow
        _log.debug(
            "answering %s from %s statelessly: %d %s", request.method, flow.remote, status, reason
        )
        out.send(response.encode())

    def _on_request(self, request: SipRequest, flow: Flow) -> None:
        key = server_key(request)
        self._stamp_via(request, flow)
        method = request.method
        if method == "ACK":
            self._on_ack(request, key, flow)
            return
        transaction = self.transactions.server.get(key)
        if transaction is not None:
            transaction.receive_request(request)
            return
        if method == "CANCEL":
            self._on_cancel(request, key, flow)
            return
        merged = self.transactions.merged_with(request) is not None
        transaction = self._new_server_transaction(request, key, flow)
        try:
            rejection = self._check_request(request, flow, merged)
        except SipParseError as error:
            transaction.respond(error.status, error.reason)
            return
        if rejection is not None:
            transaction.send_response(rejection)
            return
        try:
            self.tu.on_request(request, transaction)
        except Exception:
            _log.exception("the TU failed on %s %s", method, request.uri)
            if not transaction.final_sent and not transaction.terminated:
                transaction.respond(500)

    def _new_server_transaction(
        self, request: SipRequest, key: ServerKey, flow: Flow
    ) -> ServerTransaction:
        out = self._response_flow(request, flow)
        transaction: ServerTransaction
        if request.method == "INVITE":
            transaction = ServerInviteTransaction(self.transactions, request, key, out)
        else:
            transaction = ServerNonInviteTransaction(self.transactions, request, key, out)
        self.transactions.add_server(transaction)
        return transaction

    def _check_request(self, request: SipRequest, flow: Flow, merged: bool) -> SipResponse | None:
        """The checks of RFC 3261 §8.2.1-§8.2.2 (and §16.3's Max-Forwards); a response
        to send back, or None to go on. Also removes our own Route entries."""
        method = request.method
        if method not in self._allow:
            response = self._make_rejection(request, 405)
            response.headers.add("Allow", ", ".join(self.config.allow))
            return response
        max_forwards = request.max_forwards
        if max_forwards == 0 and method not in self.config.max_forwards_exempt:
            return self._make_rejection(request, 483)
        if merged:
            return self._make_rejection(request, 482)
        try:
            validate_request(request, schemes=self.config.schemes, supported=self._supported)
        except BadExtension as error:
            response = self._make_rejection(request, error.status, error.reason)
            response.headers.add("Unsupported", ", ".join(error.unsupported))
            return response
        except SipParseError as error:
            return self._make_rejection(request, error.status, error.reason)
        self._strip_own_routes(request, flow)
        return None

    def _make_rejection(
        self, request: SipRequest, status: int, reason: str | None = None
    ) -> SipResponse:
        response = request.create_response(status, reason, to_tag=new_tag())
        if self.config.server:
            response.headers.add("Server", self.config.server)
        return response

    def _on_ack(self, request: SipRequest, key: ServerKey, flow: Flow) -> None:
        transaction = self.transactions.server.get(key)
        if transaction is not None and transaction.receive_request(request):
            return
        pending = self._awaiting_ack.get((request.call_id, request.cseq.number))
        if pending is not None:
            pending.acknowledged(request)
        try:
            self._strip_own_routes(request, flow)
        except SipParseError as error:
            _log.debug("ACK from %s with a bad Route dropped: %s", flow.remote, error)
            return
        try:
            self.tu.on_ack(request, flow)
        except Exception:
            _log.exception("the TU failed on ACK %s", request.call_id)

    def _on_cancel(self, request: SipRequest, key: ServerKey, flow: Flow) -> None:
        invite = self.transactions.server.get(server_key(request, "INVITE"))
        transaction = self._new_server_transaction(request, key, flow)
        if not isinstance(invite, ServerInviteTransaction):
            transaction.respond(481)
            return
        if request.to_tag is None:
            transaction.local_tag = invite.local_tag
        transaction.respond(200)
        if invite.final_sent or invite.cancelled or invite.terminated:
            return
        invite.cancelled = True
        try:
            self.tu.on_cancel(request, invite)
        except Exception:
            _log.exception("the TU failed on CANCEL %s", request.call_id)

    def _on_response(self, response: SipResponse, flow: Flow) -> None:
        vias = response.vias
        if len(vias) != 1:
            # §8.1.3.3: a response with other Vias than ours was misrouted.
            _log.debug("response with %d Vias from %s dropped", len(vias), flow.remote)
            return
        via = vias[0]
        branch = via.branch
        if branch is not None:
            transaction = self.transactions.client.get((branch, response.cseq.method))
            if transaction is not None and transaction.receive_response(response):
                return
        if not self._is_our_via(via):
            _log.debug("response for %s from %s dropped: not our Via", via.sent_by, flow.remote)
            return
        try:
            self.tu.on_stray_response(response, flow)
        except Exception:
            _log.exception("the TU failed on a stray %d", response.status)

    def _on_flow_closed(self, flow: Flow) -> None:
        self.transactions.flow_closed(flow)

    def _stamp_via(self, request: SipRequest, flow: Flow) -> None:
        """Add ``received`` (§18.2.1) and fill ``rport`` (RFC 3581) in the top Via."""
        via = request.via
        remote = flow.remote
        params = via.params
        if "rport" in params:
            params = {**params, "rport": str(remote.port), "received": remote.host}
        elif via.host != remote.host:
            params = {**params, "received": remote.host}
        else:
            return
        _replace_top_via(
            request.headers, f"SIP/2.0/{via.transport} {via.sent_by}{format_params(params)}"
        )

    def _strip_own_routes(self, request: SipRequest, flow: Flow) -> None:
        """Remove the Route entries at the top that name this server (§16.4)."""
        if "route" not in request.headers:
            return
        routes = request.routes
        count = 0
        while count < len(routes) and self.is_local_uri(routes[count].uri, flow):
            count += 1
        if not count:
            return
        values = request.headers.getall("route")
        request.headers.remove("route")
        for value in values[count:]:
            request.headers.add("Route", value)

    # -- responses -----------------------------------------------------------------------

    def _response_flow(self, request: SipRequest, flow: Flow) -> Flow:
        """Where responses to ``request`` go (§18.2.2, RFC 3581 §4)."""
        if flow.kind.reliable:
            return flow
        via = request.via
        remote = flow.remote
        if via.has_rport:
            return flow
        host = remote.host
        maddr = via.maddr
        if maddr is not None and is_ip_address(maddr):
            host = maddr
        port = via.port or _SIP_DEFAULT_PORT
        if host == remote.host and port == remote.port:
            return flow
        if isinstance(flow, UdpFlow):
            return UdpFlow(flow.listener, (host, port))
        return self.transport.find_flow(TransportKind.UDP, Address(host, port)) or flow

    def _resend(self, transaction: ServerTransaction, data: bytes) -> None:
        """The connection of a request is gone: for TCP/TLS open a new one to the
        received address and the Via port (§18.2.2); WebSocket peers are unreachable."""
        flow = transaction.flow_out
        if not flow.kind.stream:
            transaction.transport_failed(
                TransportFailure(f"the {flow.kind.value} connection is gone")
            )
            return
        via = transaction.request.via
        address = Address(via.received or via.host, via.port or flow.kind.default_port)
        self._spawn(self._reconnect_and_send(transaction, flow.kind, address, data))

    async def _reconnect_and_send(
        self, transaction: ServerTransaction, kind: TransportKind, address: Address, data: bytes
    ) -> None:
        try:
            flow = await self.transport.connect(kind, address)
        except (TransportError, OSError) as error:
            transaction.transport_failed(TransportFailure(str(error)))
            return
        transaction.flow = flow
        if not flow.send(data):
            transaction.transport_failed(TransportFailure(f"cannot send on {flow!r}"))

    def send_2xx_reliably(
        self,
        transaction: ServerInviteTransaction,
        response: SipResponse,
        *,
        on_ack: AckCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
    ) -> PendingAck:
        """Send a 2xx to INVITE and retransmit it (at T1 doubling to T2, over any transport) until
        the ACK with the same Call-ID and CSeq number arrives, or 64*T1 has passed
        (then ``on_timeout``: the TU should end the dialog with a BYE, §13.3.1.4). The
        ACK still goes to the TU's ``on_ack`` as well."""
        if not 200 <= response.status < 300:
            raise ValueError("send_2xx_reliably sends 2xx responses")
        request = transaction.request
        key = (request.call_id, request.cseq.number)
        transaction.send_response(response)
        previous = self._awaiting_ack.get(key)
        if previous is not None:
            previous.cancel()
        pending = PendingAck(
            self._loop,
            self.config.timers,
            key,
            response,
            transaction.flow_out,
            self._ack_wait_done,
            on_ack=on_ack,
            on_timeout=on_timeout,
        )
        self._awaiting_ack[key] = pending
        return pending

    def _ack_wait_done(self, pending: PendingAck) -> None:
        if self._awaiting_ack.get(pending.key) is pending:
            del self._awaiting_ack[pending.key]

    # -- sending requests ----------------------------------------------------------------

    def send_request(
        self,
        request: SipRequest,
        *,
        flow: Flow | str | None = None,
        destination: Target | None = None,
        on_response: ResponseCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        on_transport_error: TransportErrorCallback | None = None,
    ) -> ClientTransaction:
        """Send a request (not ACK or CANCEL: see :meth:`send_ack`, :meth:`cancel`) in a
        new client transaction and return it.

        The flow is ``flow`` (a :class:`Flow` or a flow token, e.g. a registration's,
        to reach a phone over its own connection), else a connection or UDP path to
        ``destination``, else to the next hop of the request (:mod:`callboard.sip.targets`).
        The request must not have a Via yet; the endpoint adds one (with ``rport``) and
        Max-Forwards 70 when absent. Failures are reported through ``on_transport_error``
        and ``final_response()``, never raised here.
        """
        method = request.method
        if method == "ACK" or method == "CANCEL":
            raise ValueError(f"send {method} with send_ack() or cancel()")
        if "max-forwards" not in request.headers:
            request.headers.add("Max-Forwards", "70")
        cls = ClientInviteTransaction if method == "INVITE" else ClientNonInviteTransaction
        transaction = cls(
            self.transactions,
            request,
            new_branch(),
            on_response=on_response,
            on_timeout=on_timeout,
            on_transport_error=on_transport_error,
        )
        try:
            route = self._route(request, flow, destination)
        except (TransportFailure, SipParseError) as error:
            failure = error if isinstance(error, TransportFailure) else TransportFailure(str(error))
            self._loop.call_soon(transaction.transport_failed, failure)
            return transaction
        if isinstance(route, Target):
            task = self._spawn(self._connect_and_start(transaction, route))
            task.add_done_callback(partial(self._connect_cancelled, transaction))
        else:
            self._start(transaction, route)
        return transaction

    @staticmethod
    def _connect_cancelled(transaction: ClientTransaction, task: asyncio.Task[None]) -> None:
        # Also when the task was cancelled (the endpoint stopped) before it ever ran.
        if task.cancelled():
            transaction.transport_failed(TransportFailure("the endpoint is stopping"))

    def send_ack(
        self,
        ack: SipRequest,
        *,
        flow: Flow | str | None = None,
        destination: Target | None = None,
    ) -> None:
        """Send the ACK of a 2xx (built by the dialog) with a new branch, outside any
        transaction. A failure is logged: the 2xx will be retransmitted and ACKed again."""
        if ack.method != "ACK":
            raise ValueError("send_ack sends ACK requests")
        if "max-forwards" not in ack.headers:
            ack.headers.add("Max-Forwards", "70")
        try:
            route = self._route(ack, flow, destination)
        except (TransportFailure, SipParseError) as error:
            _log.warning("cannot send ACK %s: %s", ack.call_id, error)
            return
        if isinstance(route, Target):
            self._spawn(self._connect_and_send_ack(ack, route))
        else:
            self._send_ack_on(ack, route)

    def cancel(
        self,
        invite: ClientInviteTransaction,
        *,
        reason: str | None = None,
        on_response: ResponseCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        on_transport_error: TransportErrorCallback | None = None,
    ) -> ClientNonInviteTransaction | None:
        """CANCEL a pending INVITE (§9.1), in its own transaction on the INVITE's flow.

        The CANCEL goes out once a provisional response has arrived; until then it is
        queued, and dropped (``final_response()`` raises ``TransactionAborted``) if the
        INVITE gets a final response or fails first. Returns None when the INVITE has
        its final response already; a second call returns the first CANCEL.
        ``reason`` is a Reason header value (RFC 3326).
        """
        existing = invite.cancel_transaction
        if existing is not None:
            return existing
        if invite.final is not None or invite.terminated:
            return None
        cancel = ClientNonInviteTransaction(
            self.transactions,
            create_cancel(invite.request, reason),
            invite.branch,
            on_response=on_response,
            on_timeout=on_timeout,
            on_transport_error=on_transport_error,
        )
        invite.attach_cancel(cancel)
        return cancel

    def _route(
        self, request: SipRequest, flow: Flow | str | None, destination: Target | None
    ) -> Flow | Target:
        """The flow to send on when it can be had at once, else the target to connect
        to. Raises TransportFailure when there is no way."""
        transport = self.transport
        if isinstance(flow, str):
            found = transport.flow_by_token(flow)
            if found is None:
                raise TransportFailure(f"flow {flow} is gone")
            flow = found
        if flow is not None:
            if flow.closed:
                raise TransportFailure(f"{flow!r} is closed")
            return flow
        target = destination or target_for_uri(next_hop_uri(request))
        address = target.address
        if is_ip_address(address.host):
            found = transport.find_flow(target.kind, address)
            if found is not None:
                return found
        if target.kind.websocket:
            raise TransportFailure(f"no {target.kind.value} connection to {address}")
        return target

    async def _open(self, target: Target) -> Flow:
        kind, address = target.kind, target.address
        if kind is not TransportKind.UDP:
            return await self.transport.connect(kind, address, server_name=target.server_name)
        try:
            infos = await self._loop.getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM)
        except OSError as error:
            raise TransportFailure(f"cannot resolve {address.host}: {error}") from error
        for _, _, _, _, sockaddr in infos:
            flow = self.transport.find_flow(kind, Address(str(sockaddr[0]), address.port))
            if flow is not None:
                return flow
        raise TransportFailure(f"no UDP listener for any address of {address.host}")

    async def _connect_and_start(self, transaction: ClientTransaction, target: Target) -> None:
        try:
            flow = await self._open(target)
        except (TransportError, TransportFailure, OSError) as error:
            failure = error if isinstance(error, TransportFailure) else TransportFailure(str(error))
            transaction.transport_failed(failure)
            return
        if not transaction.terminated:
            self._start(transaction, flow)

    def _start(self, transaction: ClientTransaction, flow: Flow) -> None:
        self._add_via(transaction.request, flow, transaction.branch)
        transaction.start(flow)

    def _add_via(self, request: SipRequest, flow: Flow, branch: str) -> None:
        """Make our Via the only one, and the first header field (§7.3.1 recommends
        the fields proxies need at the top)."""
        headers = Headers()
        headers.add(
            "Via", f"SIP/2.0/{flow.kind.via_name} {self._sent_by(flow)};branch={branch};rport"
        )
        for name, line in request.headers.items():
            if name != "Via":
                headers.add(name, line)
        request.headers = headers

    def _send_ack_on(self, ack: SipRequest, flow: Flow) -> None:
        self._add_via(ack, flow, new_branch())
        if not flow.send(ack.encode()):
            _log.debug("ACK %s on %r was not sent", ack.call_id, flow)

    async def _connect_and_send_ack(self, ack: SipRequest, target: Target) -> None:
        try:
            flow = await self._open(target)
        except (TransportError, TransportFailure, OSError) as error:
            _log.warning("cannot send ACK %s: %s", ack.call_id, error)
            return
        self._send_ack_on(ack, flow)

    # -- plumbing ------------------------------------------------------------------------

    def flow_by_token(self, token: str) -> Flow | None:
        return self.transport.flow_by_token(token)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("endpoint task failed", exc_info=task.exception())
