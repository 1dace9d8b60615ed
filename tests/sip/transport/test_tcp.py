"""SIP over TCP, with real sockets: framing, keep-alives, flows, limits."""

from __future__ import annotations

import asyncio
import socket

import pytest

from callboard.sip.transport import (
    Address,
    Flow,
    FramingErrorReason,
    StreamFlow,
    TransportError,
    TransportKind,
    TransportOptions,
)
from tests.sip.transport.helpers import (
    HOST,
    WAIT,
    FlowEvents,
    FramingErrors,
    Inbox,
    LayerFactory,
    listener,
    read_exactly,
    read_until_eof,
    sip_message,
)

TCP = TransportKind.TCP


async def open_client(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(address.host, address.port)


def sockname(writer: asyncio.StreamWriter) -> Address:
    return Address.from_sockaddr(writer.get_extra_info("sockname"))


async def close_client(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def test_several_messages_in_one_segment(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox)
    _, writer = await open_client(layer.address(TCP))
    messages = [sip_message(n, b"body %d" % n) for n in range(10)]
    writer.write(b"".join(messages))
    flows: list[Flow] = []
    for message in messages:
        data, flow = await inbox.get()
        assert data == message
        flows.append(flow)
    assert all(flow is flows[0] for flow in flows)
    flow = flows[0]
    assert isinstance(flow, StreamFlow)
    assert flow.kind is TCP and flow.kind.reliable and not flow.kind.secure
    assert flow.remote == sockname(writer)
    assert flow.local == layer.address(TCP)
    assert not flow.outbound
    assert flow.connection is not None
    await close_client(writer)


async def test_message_split_byte_by_byte(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox)
    _, writer = await open_client(layer.address(TCP))
    messages = [sip_message(1, b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"), sip_message(2)]
    stream = b"".join(messages)
    for i in range(len(stream)):
        writer.write(stream[i : i + 1])
        await writer.drain()
    assert (await inbox.get())[0] == messages[0]
    assert (await inbox.get())[0] == messages[1]
    await close_client(writer)


async def test_oversized_message_closes_the_connection_only(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    errors = FramingErrors(answer=b"SIP/2.0 513 Message Too Large\r\nContent-Length: 0\r\n\r\n")
    closed = FlowEvents()
    layer = await make_layer(
        [listener(TCP)],
        inbox,
        options=TransportOptions(max_message_size=2048),
        on_framing_error=errors,
    )
    layer.add_flow_closed_listener(closed)
    reader, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1) + sip_message(2, b"x" * 4000))
    assert (await inbox.get())[0] == sip_message(1)
    error, flow = await errors.get()
    assert error.reason is FramingErrorReason.TOO_LARGE
    # The answer given from the hook is flushed, then the connection is closed.
    assert await read_until_eof(reader) == errors.answer
    assert await closed.get() is flow
    assert flow.closed
    await close_client(writer)
    # The listener keeps serving.
    reader, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(3))
    assert (await inbox.get())[0] == sip_message(3)
    await close_client(writer)


async def test_endless_header_section_closes_the_connection(make_layer: LayerFactory) -> None:
    errors = FramingErrors()
    layer = await make_layer(
        [listener(TCP)], Inbox(), options=TransportOptions(max_message_size=1024)
    )
    layer.on_framing_error = errors
    reader, writer = await open_client(layer.address(TCP))
    writer.write(b"INVITE sip:x SIP/2.0\r\n" + b"X-Junk: yyyyyyyyyyyyyyyyyyyyyyy\r\n" * 100)
    error, _ = await errors.get()
    assert error.reason is FramingErrorReason.TOO_LARGE
    assert await read_until_eof(reader) == b""
    await close_client(writer)


async def test_missing_content_length(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    answer = b"SIP/2.0 400 Missing Content-Length\r\nContent-Length: 0\r\n\r\n"
    errors = FramingErrors(answer=answer)
    layer = await make_layer([listener(TCP)], inbox, on_framing_error=errors)
    reader, writer = await open_client(layer.address(TCP))
    head = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    writer.write(sip_message(1) + head + sip_message(2))
    assert (await inbox.get())[0] == sip_message(1)
    error, flow = await errors.get()
    assert error.reason is FramingErrorReason.MISSING_CONTENT_LENGTH
    assert error.data == head
    assert flow.kind is TCP
    assert await read_until_eof(reader) == answer
    assert inbox.empty()  # nothing after the framing error is trusted
    await close_client(writer)


async def test_crlf_ping_gets_a_pong(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox)
    reader, writer = await open_client(layer.address(TCP))
    writer.write(b"\r\n\r\n")
    assert await read_exactly(reader, 2) == b"\r\n"
    writer.write(b"\r\n")
    writer.write(b"\r\n" + sip_message(1))
    assert await read_exactly(reader, 2) == b"\r\n"
    assert (await inbox.get())[0] == sip_message(1)
    await close_client(writer)


async def test_request_back_over_the_flow_by_token(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox)
    reader, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1, method="REGISTER"))
    _, flow = await inbox.get()
    token = flow.token
    assert token.startswith("c")
    # Later, e.g. an incoming call for the registered phone:
    found = layer.flow_by_token(token)
    assert found is flow
    invite = sip_message(2, b"v=0\r\n", method="INVITE")
    assert found.send(invite)
    assert await read_exactly(reader, len(invite)) == invite
    # A send to the phone's address reuses its connection as well.
    assert layer.find_flow(TCP, flow.remote) is flow
    assert await layer.send(sip_message(3), TCP, flow.remote) is flow
    assert await read_exactly(reader, len(sip_message(3))) == sip_message(3)
    assert layer.connection_count == 1
    await close_client(writer)


async def test_flow_closed_notification(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer([listener(TCP)], inbox)
    layer.add_flow_closed_listener(closed)
    _, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1, method="REGISTER"))
    _, flow = await inbox.get()
    token = flow.token
    await close_client(writer)
    assert await closed.get() is flow
    assert flow.closed
    assert layer.flow_by_token(token) is None
    assert layer.find_flow(TCP, flow.remote) is None
    assert not flow.send(sip_message(2))
    assert layer.connection_count == 0


async def test_half_close_by_the_peer_closes_the_flow(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer([listener(TCP)], inbox)
    layer.add_flow_closed_listener(closed)
    reader, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1))
    _, flow = await inbox.get()
    writer.write_eof()
    assert await closed.get() is flow
    assert await read_until_eof(reader) == b""
    await close_client(writer)


async def test_idle_connection_is_closed(make_layer: LayerFactory) -> None:
    closed = FlowEvents()
    layer = await make_layer([listener(TCP)], Inbox(), options=TransportOptions(idle_timeout=0.2))
    layer.add_flow_closed_listener(closed)
    reader, writer = await open_client(layer.address(TCP))
    flow = await closed.get()
    assert flow.remote == sockname(writer)
    assert await read_until_eof(reader) == b""
    await close_client(writer)


async def test_activity_keeps_a_connection_open(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer([listener(TCP)], inbox, options=TransportOptions(idle_timeout=0.5))
    layer.add_flow_closed_listener(closed)
    reader, writer = await open_client(layer.address(TCP))
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Ping every 0.1 s for 1 s (twice the idle timeout); each pong paces the next ping.
    while loop.time() - started < 1.0:
        writer.write(b"\r\n\r\n")
        assert await read_exactly(reader, 2) == b"\r\n"
        await asyncio.sleep(0.1)  # the pacing itself is what is tested
    assert closed.queue.empty()
    writer.write(sip_message(1))
    assert (await inbox.get())[0] == sip_message(1)
    await close_client(writer)


async def test_peer_that_stops_reading_is_dropped(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer(
        [listener(TCP)], inbox, options=TransportOptions(max_write_buffer=64 * 1024)
    )
    layer.add_flow_closed_listener(closed)
    _, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1))
    _, flow = await inbox.get()
    chunk = sip_message(2, b"z" * 60000)
    sent = 0
    while flow.send(chunk):  # the client never reads
        sent += 1
        assert sent < 10000, "write buffer never filled"
    assert await closed.get() is flow
    assert not flow.send(chunk)
    writer.close()


async def test_garbage_does_not_kill_the_listener(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox)
    # Framed nonsense is passed up (the parser judges it); the connection stays usable.
    reader, writer = await open_client(layer.address(TCP))
    nonsense = b"\x00\xff GARBAGE \x01\r\nContent-Length: 3\r\n\r\n\xfe\xfd\xfc"
    writer.write(nonsense + sip_message(1))
    assert (await inbox.get())[0] == nonsense
    assert (await inbox.get())[0] == sip_message(1)
    # Unframeable binary garbage closes its connection only.
    garbage = bytes(range(256)) * 4 + b"\r\n\r\n" + bytes(range(256))
    writer.write(garbage)
    assert await read_until_eof(reader) == b""
    await close_client(writer)
    reader, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(2))
    assert (await inbox.get())[0] == sip_message(2)
    await close_client(writer)


async def test_handler_exception_does_not_kill_the_connection(make_layer: LayerFactory) -> None:
    inbox = Inbox()

    def fragile(data: bytes, flow: Flow) -> None:
        inbox(data, flow)
        raise RuntimeError("handler bug")

    layer = await make_layer([listener(TCP)])
    layer.on_message = fragile
    _, writer = await open_client(layer.address(TCP))
    writer.write(sip_message(1) + sip_message(2))
    assert (await inbox.get())[0] == sip_message(1)
    assert (await inbox.get())[0] == sip_message(2)
    await close_client(writer)


async def test_outbound_connection_is_opened_once_and_reused(make_layer: LayerFactory) -> None:
    server_inbox = Inbox()
    server = await make_layer([listener(TCP)], server_inbox)
    client_inbox = Inbox()
    client = await make_layer([], client_inbox)
    target = server.address(TCP)
    flows = await asyncio.gather(*(client.send(sip_message(n), TCP, target) for n in range(5)))
    assert all(flow is flows[0] for flow in flows)
    outbound = flows[0]
    assert isinstance(outbound, StreamFlow)
    assert outbound.outbound
    assert outbound.remote == target
    assert client.connection_count == 1
    assert client.find_flow(TCP, target) is outbound
    received = [await server_inbox.get() for _ in range(5)]
    assert sorted(data for data, _ in received) == sorted(sip_message(n) for n in range(5))
    inbound = received[0][1]
    assert all(flow is inbound for _, flow in received)
    # The server answers on the flow; the client gets it on its outbound flow.
    assert inbound.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    data, flow = await client_inbox.get()
    assert data == b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert flow is outbound
    # Once the connection is gone, the next send opens a new one.
    closed = FlowEvents()
    client.add_flow_closed_listener(closed)
    outbound.close()
    assert await closed.get() is outbound
    again = await client.send(sip_message(9), TCP, target)
    assert again is not outbound
    assert (await server_inbox.get())[0] == sip_message(9)


async def test_connect_failure_raises_transport_error(make_layer: LayerFactory) -> None:
    layer = await make_layer([])
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError):
        await layer.send(sip_message(), TCP, Address(HOST, port))
    assert layer.connection_count == 0


async def test_too_many_connections_are_refused(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(TCP)], inbox, options=TransportOptions(max_connections=1))
    _, first = await open_client(layer.address(TCP))
    first.write(sip_message(1))
    await inbox.get()
    reader, second = await open_client(layer.address(TCP))
    second.write(sip_message(2))
    async with asyncio.timeout(WAIT):
        try:
            rest = await reader.read()
        except ConnectionResetError:
            rest = b""
    assert rest == b""
    assert layer.connection_count == 1
    assert inbox.empty()
    await close_client(first)
    second.close()
