"""SIP over UDP, with real sockets."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

from callboard.sip.transport import (
    Address,
    Flow,
    FramingErrorReason,
    TransportKind,
    TransportLayer,
    TransportOptions,
    UdpFlow,
    stun_binding_response,
)
from tests.sip.transport.helpers import (
    HOST,
    WAIT,
    FramingErrors,
    Inbox,
    LayerFactory,
    listener,
    sip_message,
)

UDP = TransportKind.UDP


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[Any, ...]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # In 3.11 the selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait((data, addr))

    def send(self, data: bytes, address: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (address.host, address.port))

    @property
    def address(self) -> Address:
        assert self.transport is not None
        return Address.from_sockaddr(self.transport.get_extra_info("sockname"))

    async def get(self) -> bytes:
        async with asyncio.timeout(WAIT):
            data, _ = await self.queue.get()
        return data

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()


async def udp_client() -> UdpClient:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(UdpClient, local_addr=(HOST, 0))
    return protocol


async def test_echo(make_layer: LayerFactory) -> None:
    def echo(data: bytes, flow: Flow) -> None:
        flow.send(b"echo " + data)

    layer = TransportLayer(echo)
    await layer.start([listener(UDP)])
    try:
        server = layer.address(UDP)
        assert server.host == HOST
        assert server.port != 0
        client = await udp_client()
        for n in range(20):
            client.send(sip_message(n), server)
        replies = {await client.get() for _ in range(20)}
        assert replies == {b"echo " + sip_message(n) for n in range(20)}
        client.close()
    finally:
        await layer.stop()


async def test_flow_describes_the_path(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(UDP)], inbox)
    client = await udp_client()
    client.send(sip_message(), layer.address(UDP))
    data, flow = await inbox.get()
    assert data == sip_message()
    assert isinstance(flow, UdpFlow)
    assert flow.kind is UDP
    assert not flow.kind.reliable
    assert flow.local == layer.address(UDP)
    assert flow.remote == client.address
    assert flow.connection is None
    assert not flow.closed
    client.close()


async def test_keepalives_and_empty_datagrams_are_dropped(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(UDP)], inbox)
    client = await udp_client()
    for junk in (b"", b"\r\n\r\n", b"\r\n", b"\n"):
        client.send(junk, layer.address(UDP))
    client.send(b"\r\n" + sip_message(7), layer.address(UDP))
    data, _ = await inbox.get()
    assert data == sip_message(7)  # leading CRLF stripped (RFC 3261 §7.5)
    assert inbox.empty()
    client.close()


async def test_oversized_datagram_is_refused(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    errors = FramingErrors()
    layer = await make_layer(
        [listener(UDP)],
        inbox,
        options=TransportOptions(max_message_size=1000),
        on_framing_error=errors,
    )
    client = await udp_client()
    client.send(sip_message(1, b"x" * 2000), layer.address(UDP))
    error, flow = await errors.get()
    assert error.reason is FramingErrorReason.TOO_LARGE
    assert len(error.data) == 1000
    assert flow.remote == client.address
    client.send(sip_message(2), layer.address(UDP))
    data, _ = await inbox.get()
    assert data == sip_message(2)
    assert inbox.empty()
    client.close()


async def test_garbage_and_handler_errors_do_not_kill_the_listener(
    make_layer: LayerFactory,
) -> None:
    received: list[bytes] = []
    done = asyncio.Event()

    def fragile(data: bytes, flow: Flow) -> None:
        received.append(data)
        if data.startswith(b"OPTIONS"):
            done.set()
        raise RuntimeError("handler bug")

    layer = await make_layer([listener(UDP)])
    layer.on_message = fragile
    client = await udp_client()
    for junk in (b"\x00\x01\x02", b"\xff" * 100, b"\x16\x03\x01\x00", b"GARBAGE"):
        client.send(junk, layer.address(UDP))
    client.send(sip_message(), layer.address(UDP))
    async with asyncio.timeout(WAIT):
        await done.wait()
    assert received[-1] == sip_message()
    assert b"\x00\x01\x02" not in received  # not SIP, not STUN: dropped
    client.close()


async def test_flow_token_round_trip(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(UDP)], inbox)
    client = await udp_client()
    client.send(sip_message(), layer.address(UDP))
    _, flow = await inbox.get()
    token = flow.token
    assert token.replace("-", "").replace("_", "").isalnum()
    assert token == flow.token
    found = layer.flow_by_token(token)
    assert found == flow
    assert found is not None
    assert hash(found) == hash(flow)
    assert found.send(sip_message(99, method="NOTIFY"))
    assert await client.get() == sip_message(99, method="NOTIFY")
    # A token with a changed address or MAC does not resolve.
    for i in range(1, len(token)):
        forged = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert layer.flow_by_token(forged) is None
    for junk in ("", "u", "u!!!", "x123", "c-unknown", "uAAAA"):
        assert layer.flow_by_token(junk) is None
    client.close()


async def test_udp_tokens_survive_a_restart_with_a_fixed_secret() -> None:
    secret = b"k" * 32
    first = TransportLayer(token_secret=secret)
    await first.start([listener(UDP)])
    flow = first.find_flow(UDP, Address(HOST, 40000))
    assert flow is not None
    token = flow.token
    await first.stop()
    second = TransportLayer(token_secret=secret)
    await second.start([listener(UDP)])
    try:
        again = second.flow_by_token(token)
        assert again is not None
        assert again.remote == Address(HOST, 40000)
    finally:
        await second.stop()


async def test_send_to_an_address(make_layer: LayerFactory) -> None:
    layer = await make_layer([listener(UDP)])
    client = await udp_client()
    flow = await layer.send(sip_message(5), UDP, client.address)
    assert flow.kind is UDP
    assert flow.remote == client.address
    assert await client.get() == sip_message(5)
    # A host name is resolved.
    await layer.send(sip_message(6), "udp", Address("localhost", client.address.port))
    assert await client.get() == sip_message(6)
    client.close()


async def test_stun_binding_request_gets_the_mapped_address(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(UDP)], inbox)
    client = await udp_client()
    transaction_id = bytes(range(12))
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction_id
    client.send(request, layer.address(UDP))
    response = await client.get()
    assert response == stun_binding_response(request, client.address.host, client.address.port)
    assert response[:2] == b"\x01\x01"
    assert response[8:20] == transaction_id
    # XOR-MAPPED-ADDRESS, IPv4
    assert response[20:24] == b"\x00\x20\x00\x08"
    port = int.from_bytes(response[26:28], "big") ^ 0x2112
    address = bytes(a ^ b for a, b in zip(response[28:32], b"\x21\x12\xa4\x42", strict=True))
    assert Address(socket.inet_ntoa(address), port) == client.address
    assert inbox.empty()
    client.close()


def test_stun_binding_response_details() -> None:
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x07" * 12
    response = stun_binding_response(request, "::1", 5060)
    assert response is not None
    assert response[20:24] == b"\x00\x20\x00\x14"  # 20-byte IPv6 XOR-MAPPED-ADDRESS
    assert int.from_bytes(response[2:4], "big") == len(response) - 20
    assert response[-8:-4] == b"\x80\x28\x00\x04"  # FINGERPRINT
    assert stun_binding_response(b"\x00\x01\x00\x00" + b"\x00" * 16, HOST, 1) is None  # no cookie
    assert stun_binding_response(b"\x01\x01" + request[2:], HOST, 1) is None  # a response
    assert stun_binding_response(request[:19], HOST, 1) is None
