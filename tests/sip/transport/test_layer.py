"""The transport layer as a whole: configuration, listeners, life cycle."""

from __future__ import annotations

import asyncio
import socket

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from callboard.sip.transport import (
    DEFAULT_PORTS,
    DEFAULT_TCP_PORT,
    DEFAULT_TLS_PORT,
    DEFAULT_UDP_PORT,
    DEFAULT_WS_PORT,
    DEFAULT_WSS_PORT,
    Address,
    Flow,
    ListenerConfig,
    TransportError,
    TransportKind,
    TransportLayer,
    TransportOptions,
    default_listeners,
)
from tests.sip.transport.helpers import (
    HOST,
    FlowEvents,
    Inbox,
    LayerFactory,
    TlsFiles,
    listener,
    sip_message,
)


def test_default_ports() -> None:
    assert (DEFAULT_UDP_PORT, DEFAULT_TCP_PORT, DEFAULT_TLS_PORT) == (5060, 5060, 5061)
    assert (DEFAULT_WS_PORT, DEFAULT_WSS_PORT) == (5066, 7443)
    assert DEFAULT_PORTS[TransportKind.WS] == TransportKind.WS.default_port == 5066
    assert ListenerConfig(TransportKind.UDP).bind_port == 5060
    assert ListenerConfig(TransportKind.UDP, port=0).bind_port == 0


def test_transport_kinds() -> None:
    assert TransportKind("wss") is TransportKind.WSS
    assert str(TransportKind.WSS) == "wss"
    assert TransportKind.WSS.value == "wss"
    assert TransportKind.WSS.via_name == "WSS"
    assert [kind.reliable for kind in TransportKind] == [False, True, True, True, True]
    assert [kind.secure for kind in TransportKind] == [False, False, True, False, True]
    assert [kind.stream for kind in TransportKind] == [False, True, True, False, False]
    assert [kind.websocket for kind in TransportKind] == [False, False, False, True, True]


def test_listener_config_validation() -> None:
    with pytest.raises(ValueError, match="cert_path"):
        ListenerConfig(TransportKind.TLS, HOST, 0)
    with pytest.raises(ValueError, match="port"):
        ListenerConfig(TransportKind.UDP, HOST, 70000)
    with pytest.raises(ValueError):
        TransportOptions(max_message_size=10)
    config = ListenerConfig(TransportKind("tcp"), HOST)
    assert config.kind is TransportKind.TCP


def test_default_listeners() -> None:
    plain = default_listeners("10.0.0.1")
    assert [(c.kind.value, c.bind_port) for c in plain] == [
        ("udp", 5060),
        ("tcp", 5060),
        ("udp", 5080),
        ("tcp", 5080),
        ("ws", 5066),
    ]
    assert {c.host for c in plain} == {"10.0.0.1"}
    secure = default_listeners(cert_path="cert.pem", provider_port=False)
    assert [(c.kind.value, c.bind_port) for c in secure] == [
        ("udp", 5060),
        ("tcp", 5060),
        ("ws", 5066),
        ("tls", 5061),
        ("wss", 7443),
    ]


def test_address() -> None:
    assert str(Address("192.0.2.1", 5060)) == "192.0.2.1:5060"
    assert str(Address("::1", 5061)) == "[::1]:5061"
    assert Address.from_sockaddr(("::1", 5060, 0, 0)) == Address("::1", 5060)


async def test_ephemeral_ports_are_reported(make_layer: LayerFactory, tls_files: TlsFiles) -> None:
    cert = {"cert_path": tls_files.cert_path, "key_path": tls_files.key_path}
    layer = await make_layer(
        [
            listener(TransportKind.UDP),
            listener(TransportKind.TCP),
            listener(TransportKind.TLS, **cert),
            listener(TransportKind.WS),
            listener(TransportKind.WSS, **cert),
            listener(TransportKind.UDP),
        ]
    )
    kinds = [item.kind for item in layer.listeners]
    assert [str(kind) for kind in kinds] == ["udp", "tcp", "tls", "ws", "wss", "udp"]
    addresses = [item.address for item in layer.listeners]
    assert all(address.host == HOST and address.port > 0 for address in addresses)
    assert addresses[0] != addresses[5]
    assert layer.address("ws") == addresses[3]
    # Each listener accepts on its reported port.
    for kind in (TransportKind.TCP, TransportKind.TLS, TransportKind.WS, TransportKind.WSS):
        with socket.create_connection(layer.address(kind)):
            pass
    # A UDP flow names its listener: the answer leaves from the port the request came to.
    second = layer.listeners[5]
    assert second.kind is TransportKind.UDP
    inbox = Inbox()
    layer.on_message = inbox
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((HOST, 0))
        probe.sendto(sip_message(1), second.address)
        _, flow = await inbox.get()
        assert flow.local == second.address
        found = layer.flow_by_token(flow.token)
        assert found is not None and found.local == second.address
        assert found.send(b"SIP/2.0 200 OK\r\n\r\n")
        probe.setblocking(False)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            data, source = await loop.sock_recvfrom(probe, 1000)
        assert data == b"SIP/2.0 200 OK\r\n\r\n"
        assert Address.from_sockaddr(source) == second.address
        default = layer.find_flow(TransportKind.UDP, Address(*probe.getsockname()))
        assert default is not None and default.local == addresses[0]


async def test_no_listener_of_a_kind(make_layer: LayerFactory) -> None:
    layer = await make_layer([listener(TransportKind.TCP)])
    with pytest.raises(TransportError):
        layer.address(TransportKind.UDP)
    with pytest.raises(TransportError):
        await layer.send(sip_message(), TransportKind.UDP, Address(HOST, 5060))
    with pytest.raises(TransportError):
        await layer.send(sip_message(), TransportKind.WS, Address(HOST, 5066))
    assert layer.find_flow(TransportKind.UDP, Address(HOST, 5060)) is None
    assert layer.find_flow(TransportKind.TCP, Address(HOST, 5060)) is None


async def test_start_failure_releases_what_was_bound() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        layer = TransportLayer()
        with pytest.raises(OSError):
            await layer.start(
                [listener(TransportKind.UDP), ListenerConfig(TransportKind.TCP, HOST, port)]
            )
        assert layer.listeners == ()


async def test_stop_closes_every_connection_and_notifies() -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = TransportLayer(inbox)
    await layer.start([listener(TransportKind.TCP), listener(TransportKind.WS)])
    layer.add_flow_closed_listener(closed)

    def broken(flow: Flow) -> None:
        raise RuntimeError("listener bug")

    layer.add_flow_closed_listener(broken)
    tcp = layer.address(TransportKind.TCP)
    reader, writer = await asyncio.open_connection(tcp.host, tcp.port)
    writer.write(sip_message(1))
    _, tcp_flow = await inbox.get()
    ws_address = layer.address(TransportKind.WS)
    async with connect(
        f"ws://{ws_address.host}:{ws_address.port}/", subprotocols=[Subprotocol("sip")]
    ) as client:
        await client.send(sip_message(2).decode())
        _, ws_flow = await inbox.get()
        assert layer.connection_count == 2
        assert {flow.token for flow in layer.connections()} == {tcp_flow.token, ws_flow.token}
        await layer.stop()
        assert layer.connection_count == 0
        assert {await closed.get(), await closed.get()} == {tcp_flow, ws_flow}
        assert layer.listeners == ()
    assert await reader.read() == b""
    writer.close()
    layer.remove_flow_closed_listener(broken)


async def test_peer_that_stops_reading_a_websocket_is_dropped(
    make_layer: LayerFactory,
) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer(
        [listener(TransportKind.WS)], inbox, options=TransportOptions(max_write_buffer=64 * 1024)
    )
    layer.add_flow_closed_listener(closed)
    address = layer.address(TransportKind.WS)
    async with connect(
        f"ws://{address.host}:{address.port}/", subprotocols=[Subprotocol("sip")]
    ) as client:
        await client.send(sip_message(1).decode())
        _, flow = await inbox.get()
        chunk = sip_message(2, b"z" * 60000)
        sent = 0
        while flow.send(chunk):  # the client never calls recv()
            sent += 1
            assert sent < 10000, "write buffer never filled"
        assert await closed.get() is flow
