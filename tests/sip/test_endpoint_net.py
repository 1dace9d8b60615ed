"""The endpoint over real sockets on 127.0.0.1 (the TransportLayer underneath): raw UDP
and TCP peers, and two endpoints talking to each other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from callboard.sip.endpoint import Endpoint, EndpointConfig
from callboard.sip.errors import SipParseError
from callboard.sip.message import SipRequest, SipResponse, parse_message
from callboard.sip.transactions import ClientInviteTransaction, ServerTransaction
from callboard.sip.transport import Address, ListenerConfig, TransportKind
from tests.sip.stack import FAST, RecordingTU, new_request, raw_request, terminated, wait_for

UDP = TransportKind.UDP
TCP = TransportKind.TCP
HOST = "127.0.0.1"
WAIT = 5.0


class UdpPeer(asyncio.DatagramProtocol):
    """A raw UDP socket: what a phone looks like from the server."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, address: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (address.host, address.port))

    async def message(self) -> SipRequest | SipResponse:
        async with asyncio.timeout(WAIT):
            data = await self.queue.get()
        try:
            return parse_message(data)
        except SipParseError as error:  # an answer echoing a bad request
            assert error.message is not None
            return error.message

    async def response(self) -> SipResponse:
        message = await self.message()
        assert isinstance(message, SipResponse)
        return message


@pytest.fixture
async def udp_peer() -> AsyncIterator[UdpPeer]:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=(HOST, 0))
    yield peer
    assert peer.transport is not None
    peer.transport.close()


async def start_endpoint(tu: RecordingTU | None = None, **config: Any) -> Endpoint:
    endpoint = Endpoint(config=EndpointConfig(timers=FAST, **config), tu=tu)
    await endpoint.start([ListenerConfig(UDP, HOST, 0), ListenerConfig(TCP, HOST, 0)])
    return endpoint


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    endpoint = await start_endpoint()
    yield endpoint
    await endpoint.stop()


def address(endpoint: Endpoint, kind: TransportKind) -> Address:
    for listener in endpoint.transport.listeners:
        if listener.kind is kind:
            return listener.address
    raise AssertionError(kind)


def options_from(port: int, *, branch: str = "z9hG4bK-real1", **kwargs: Any) -> bytes:
    # The phone's Via names a private address and asks for rport, as behind NAT.
    via = f"SIP/2.0/UDP 192.168.7.7:5060;branch={branch};rport"
    return raw_request("OPTIONS", via=via, uri=f"sip:{HOST}", **kwargs)


async def test_udp_peer_gets_an_options_answer_at_its_source_port(
    endpoint: Endpoint, udp_peer: UdpPeer
) -> None:
    udp_peer.send(options_from(udp_peer.port), address(endpoint, UDP))
    response = await udp_peer.response()
    assert response.status == 200
    assert response.via.received == HOST and response.via.rport == udp_peer.port
    assert response.via.branch == "z9hG4bK-real1"
    assert response.to_tag and response.call_id == "raw-1@test"
    assert "INVITE" in response.headers.getall("allow")
    # A retransmission is answered again, by the server transaction.
    udp_peer.send(options_from(udp_peer.port), address(endpoint, UDP))
    again = await udp_peer.response()
    assert again.status == 200 and again.to_tag == response.to_tag


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (raw_request("OPTIONS", version="SIP/7.0"), 505),
        (raw_request("OPTIONS", omit=["CSeq"]), 400),
        (raw_request("INVITE", max_forwards=0), 483),
    ],
)
async def test_udp_peer_gets_errors_for_bad_requests(
    endpoint: Endpoint, udp_peer: UdpPeer, data: bytes, status: int
) -> None:
    udp_peer.send(
        data.replace(b"10.0.0.2:5060", f"{HOST}:{udp_peer.port}".encode()), address(endpoint, UDP)
    )
    response = await udp_peer.response()
    assert response.status == status


async def test_udp_invite_gets_100_trying_and_retransmissions_are_absorbed(
    udp_peer: UdpPeer,
) -> None:
    tu = RecordingTU()
    endpoint = await start_endpoint(tu)
    try:
        invite = raw_request(
            "INVITE", via=f"SIP/2.0/UDP {HOST}:{udp_peer.port};branch=z9hG4bK-inv;rport"
        )
        udp_peer.send(invite, address(endpoint, UDP))
        _, txn = await tu.request()
        assert (await udp_peer.response()).status == 100
        udp_peer.send(invite, address(endpoint, UDP))
        assert (await udp_peer.response()).status == 100
        txn.respond(486)
        busy = await udp_peer.response()
        assert busy.status == 486
        ack = raw_request(
            "ACK",
            via=f"SIP/2.0/UDP {HOST}:{udp_peer.port};branch=z9hG4bK-inv;rport",
            cseq_method="ACK",
            to_tag=busy.to_tag,
        )
        udp_peer.send(ack, address(endpoint, UDP))
        assert tu.request_count == 1
    finally:
        await endpoint.stop()


async def test_tcp_peer_gets_the_answer_on_its_connection(endpoint: Endpoint) -> None:
    server = address(endpoint, TCP)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        via = "SIP/2.0/TCP 192.168.7.7:5060;branch=z9hG4bK-tcp1"
        writer.write(raw_request("OPTIONS", via=via, uri=f"sip:{HOST}"))
        async with asyncio.timeout(WAIT):
            head = await reader.readuntil(b"\r\n\r\n")
        response = parse_message(head)
        assert isinstance(response, SipResponse) and response.status == 200
        assert response.via.received == HOST

        # Lost framing (no Content-Length on a stream) is answered 400, then closed.
        writer.write(
            b"OPTIONS sip:x SIP/2.0\r\nVia: " + via.encode() + b"\r\nCall-ID: a\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\n\r\n"
        )
        async with asyncio.timeout(WAIT):
            rest = await reader.read()
        bad = parse_message(rest)
        assert isinstance(bad, SipResponse) and bad.status == 400
    finally:
        writer.close()


@pytest.mark.parametrize("kind", [UDP, TCP])
async def test_two_endpoints_exchange_requests(kind: TransportKind) -> None:
    timeouts: list[str] = []

    def answer(request: SipRequest, txn: ServerTransaction) -> None:
        txn.on_timeout = lambda: timeouts.append(request.method)
        txn.respond(200 if request.method == "OPTIONS" else 486)

    tu = RecordingTU(answer)
    server = await start_endpoint(tu)
    client = await start_endpoint()
    try:
        target = address(server, kind)
        suffix = "" if kind is UDP else ";transport=tcp"
        options = client.send_request(
            new_request("OPTIONS", f"sip:{target.host}:{target.port}{suffix}")
        )
        assert (await options.final_response()).status == 200

        invite = client.send_request(
            new_request("INVITE", f"sip:bob@{target.host}:{target.port}{suffix}")
        )
        assert isinstance(invite, ClientInviteTransaction)
        assert (await invite.final_response()).status == 486
        await tu.request()  # OPTIONS
        _, server_txn = await tu.request()  # INVITE
        # The client's own ACK reaches the server transaction: it ends through
        # Confirmed (Timer I), not by Timer H.
        await terminated(server, server_txn)
        assert timeouts == []
        assert tu.acks.empty()
    finally:
        await client.stop()
        await server.stop()


async def test_invite_to_a_silent_udp_peer_is_retransmitted(udp_peer: UdpPeer) -> None:
    endpoint = await start_endpoint()
    try:
        txn = endpoint.send_request(new_request("INVITE", f"sip:bob@{HOST}:{udp_peer.port}"))
        first = await udp_peer.message()
        second = await udp_peer.message()
        third = await udp_peer.message()
        assert isinstance(first, SipRequest) and first.method == "INVITE"
        assert first.branch == second.branch == third.branch == txn.request.branch
        assert first.via.sent_by == f"{HOST}:{address(endpoint, UDP).port}"
    finally:
        await endpoint.stop()


async def test_stray_2xx_over_udp_reaches_the_tu(udp_peer: UdpPeer) -> None:
    tu = RecordingTU()
    endpoint = await start_endpoint(tu)
    try:
        txn = endpoint.send_request(new_request("INVITE", f"sip:bob@{HOST}:{udp_peer.port}"))
        invite = await udp_peer.message()
        assert isinstance(invite, SipRequest)
        ok = invite.create_response(200, to_tag="b")
        udp_peer.send(ok.encode(), address(endpoint, UDP))
        assert (await txn.final_response()).status == 200
        udp_peer.send(ok.encode(), address(endpoint, UDP))
        stray, _ = await wait_for(tu.strays)
        assert stray.status == 200
    finally:
        await endpoint.stop()
