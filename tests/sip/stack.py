"""Helpers for the transaction, endpoint and dialog tests: fast timers, a recording
transaction user, and message builders."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from callboard.sip.endpoint import Endpoint, EndpointConfig
from callboard.sip.headers import Headers
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions import (
    ServerInviteTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    TransactionState,
)
from callboard.sip.transport import Address, Flow, ListenerConfig, TransportKind
from tests.sip.memnet import MemoryNetwork, Peer

WAIT = 5.0
T1 = 0.01
#: Timers for tests: T1 10 ms, so 64*T1 is 0.64 s.
FAST = TimerConfig(t1=T1, t2=4 * T1, t4=5 * T1, timer_d=0.1, trying_delay=0.05)

T = TypeVar("T")
_counter = itertools.count(1)

RequestHandler = Callable[[SipRequest, ServerTransaction], object]


async def wait_for(queue: asyncio.Queue[T]) -> T:
    async with asyncio.timeout(WAIT):
        return await queue.get()


def state(transaction: Transaction) -> TransactionState:
    """The state now (a call, so that type checkers do not narrow it across awaits)."""
    return transaction.state


async def terminated(endpoint: Endpoint, transaction: Transaction) -> None:
    """Wait until ``transaction`` terminates (by a timer, typically)."""
    if transaction.terminated:
        return
    table = endpoint.transactions
    previous = table.on_terminated
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def hook(ended: Transaction) -> None:
        if previous is not None:
            previous(ended)
        if ended is transaction and not done.done():
            done.set_result(None)

    table.on_terminated = hook
    try:
        async with asyncio.timeout(WAIT):
            await done
    finally:
        table.on_terminated = previous


class RecordingTU:
    """A transaction user that records everything and answers through ``handler``."""

    def __init__(self, handler: RequestHandler | None = None) -> None:
        self.handler = handler
        self.requests: asyncio.Queue[tuple[SipRequest, ServerTransaction]] = asyncio.Queue()
        self.acks: asyncio.Queue[tuple[SipRequest, Flow]] = asyncio.Queue()
        self.cancels: asyncio.Queue[tuple[SipRequest, ServerInviteTransaction]] = asyncio.Queue()
        self.strays: asyncio.Queue[tuple[SipResponse, Flow]] = asyncio.Queue()
        self.request_count = 0

    def on_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        self.request_count += 1
        self.requests.put_nowait((request, transaction))
        if self.handler is not None:
            self.handler(request, transaction)

    def on_ack(self, request: SipRequest, flow: Flow) -> None:
        self.acks.put_nowait((request, flow))

    def on_cancel(self, request: SipRequest, transaction: ServerInviteTransaction) -> None:
        self.cancels.put_nowait((request, transaction))

    def on_stray_response(self, response: SipResponse, flow: Flow) -> None:
        self.strays.put_nowait((response, flow))

    async def request(self) -> tuple[SipRequest, ServerTransaction]:
        return await wait_for(self.requests)


class Events:
    """Callbacks of a client transaction, queued."""

    def __init__(self) -> None:
        self.responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self.timeouts: asyncio.Queue[None] = asyncio.Queue()
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()

    def on_response(self, response: SipResponse) -> None:
        self.responses.put_nowait(response)

    def on_timeout(self) -> None:
        self.timeouts.put_nowait(None)

    def on_transport_error(self, error: Exception) -> None:
        self.errors.put_nowait(error)

    async def response(self) -> SipResponse:
        return await wait_for(self.responses)


@asynccontextmanager
async def endpoint_on(
    network: MemoryNetwork,
    host: str = "10.0.0.1",
    *,
    kinds: Sequence[TransportKind] = (TransportKind.UDP, TransportKind.TCP),
    tu: RecordingTU | None = None,
    config: EndpointConfig | None = None,
) -> AsyncIterator[Endpoint]:
    """An endpoint on the memory network, listening on port 5060 of each kind."""
    transport = network.transport(host)
    endpoint = Endpoint(
        transport, config=config or EndpointConfig(timers=FAST), tu=tu or RecordingTU()
    )
    await endpoint.start([ListenerConfig(kind, host, 5060) for kind in kinds])
    try:
        yield endpoint
    finally:
        await endpoint.stop()


def new_request(
    method: str,
    uri: str = "sip:bob@10.0.0.2",
    *,
    call_id: str | None = None,
    cseq: int = 1,
    from_tag: str = "ftag",
    to_tag: str | None = None,
    contact: str | None = "<sip:alice@10.0.0.1>",
    extra: Sequence[tuple[str, str]] = (),
) -> SipRequest:
    """A request without Via, as a TU hands it to ``send_request``."""
    headers = Headers()
    headers.add("From", f"<sip:alice@example.com>;tag={from_tag}")
    headers.add("To", "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else ""))
    headers.add("Call-ID", call_id or f"call-{next(_counter)}@test")
    headers.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        headers.add("Contact", contact)
    for name, value in extra:
        headers.add(name, value)
    return SipRequest(method, uri, headers)


def raw_request(
    method: str,
    *,
    via: str = "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-1;rport",
    uri: str = "sip:service@10.0.0.1",
    call_id: str = "raw-1@test",
    cseq: int = 1,
    cseq_method: str | None = None,
    from_tag: str = "peer",
    to_tag: str | None = None,
    max_forwards: int | None = 70,
    extra: Sequence[str] = (),
    body: bytes = b"",
    version: str = "SIP/2.0",
    omit: Sequence[str] = (),
) -> bytes:
    """A request as a peer would put it on the wire."""
    lines = [f"{method} {uri} {version}"]
    fields = [
        ("Via", via),
        ("Max-Forwards", None if max_forwards is None else str(max_forwards)),
        ("From", f"<sip:peer@example.com>;tag={from_tag}"),
        ("To", "<sip:service@example.com>" + (f";tag={to_tag}" if to_tag else "")),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {cseq_method or method}"),
        ("Contact", "<sip:peer@10.0.0.2:5060>"),
    ]
    for name, value in fields:
        if value is not None and name not in omit:
            lines.append(f"{name}: {value}")
    lines.extend(extra)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response_to(request: SipRequest, status: int, *, to_tag: str | None = "remote") -> SipResponse:
    """A peer's response to a request it received (Via and all copied)."""
    return request.create_response(status, to_tag=None if status == 100 else to_tag)


def ack_for(
    response: SipResponse, branch: str = "z9hG4bK-ack2xx", uri: str = "sip:service@10.0.0.1"
) -> bytes:
    """The ACK a peer sends for our 2xx (a new branch)."""
    headers = Headers()
    headers.add("Via", f"SIP/2.0/UDP 10.0.0.2:5060;branch={branch};rport")
    headers.add("Max-Forwards", "70")
    headers.copy_lines(response.headers, "from")
    headers.copy_lines(response.headers, "to")
    headers.copy_lines(response.headers, "call-id")
    headers.add("CSeq", f"{response.cseq.number} ACK")
    return SipRequest("ACK", uri, headers).encode()


async def peer_on(
    network: MemoryNetwork,
    host: str = "10.0.0.2",
    kinds: Sequence[TransportKind] = (TransportKind.UDP, TransportKind.TCP),
) -> Peer:
    return await Peer.create(network, host, kinds)


def udp(host: str, port: int = 5060) -> Address:
    return Address(host, port)
