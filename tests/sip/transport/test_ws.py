"""SIP over WebSocket and secure WebSocket (RFC 7118) with a real ``websockets`` client."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from callboard.sip.transport import (
    SIP_SUBPROTOCOL,
    Address,
    Flow,
    ListenerConfig,
    TransportError,
    TransportKind,
    TransportOptions,
    WsFlow,
)
from tests.sip.transport.helpers import (
    WAIT,
    FlowEvents,
    Inbox,
    LayerFactory,
    TlsFiles,
    listener,
    sip_message,
)

WS = TransportKind.WS
WSS = TransportKind.WSS
SIP = [Subprotocol("sip")]


def ws_url(address: Address, path: str = "/", scheme: str = "ws") -> str:
    return f"{scheme}://{address.host}:{address.port}{path}"


async def recv(client: ClientConnection) -> str | bytes:
    async with asyncio.timeout(WAIT):
        return await client.recv()


async def test_ws_message_and_answer(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox)
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        assert client.subprotocol == SIP_SUBPROTOCOL
        register = sip_message(1, method="REGISTER")
        await client.send(register.decode())  # JsSIP sends text frames
        data, flow = await inbox.get()
        assert data == register
        assert isinstance(flow, WsFlow)
        assert flow.kind is WS and flow.kind.reliable and not flow.kind.stream
        assert flow.remote == Address.from_sockaddr(client.local_address)
        assert flow.local == layer.address(WS)
        assert flow.connection is not None
        assert flow.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        assert await recv(client) == "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"  # text frame


async def test_any_path_and_binary_frames(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox)
    async with connect(ws_url(layer.address(WS), "/sip-ws"), subprotocols=SIP) as client:
        # Over WS, a message needs no Content-Length: the frame is the message.
        message = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: 1\r\n\r\n"
        await client.send(message)  # binary frame
        data, flow = await inbox.get()
        assert data == message
        not_utf8 = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n\xff\xfe"
        assert flow.send(not_utf8)
        assert await recv(client) == not_utf8  # binary frame
        utf8 = "MESSAGE sip:a@b SIP/2.0\r\n\r\n\u00e9t\u00e9 \u2713"
        assert flow.send(utf8.encode())
        assert await recv(client) == utf8  # text frame


@pytest.mark.parametrize("subprotocols", [None, [Subprotocol("chat")]])
async def test_upgrade_without_sip_subprotocol_is_refused(
    make_layer: LayerFactory, subprotocols: list[Subprotocol] | None
) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox)
    with pytest.raises(InvalidStatus) as info:
        async with connect(ws_url(layer.address(WS)), subprotocols=subprotocols):
            pass
    response = info.value.response
    assert response.status_code == 400
    assert b"'sip'" in response.body
    assert layer.connection_count == 0
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(sip_message(1).decode())
        assert (await inbox.get())[0] == sip_message(1)


async def test_request_back_by_token_and_flow_closed(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer([listener(WS)], inbox)
    layer.add_flow_closed_listener(closed)
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(sip_message(1, method="REGISTER").decode())
        _, flow = await inbox.get()
        token = flow.token
        found = layer.flow_by_token(token)
        assert found is flow
        invite = sip_message(2, b"v=0\r\n", method="INVITE")
        assert found.send(invite)
        assert await recv(client) == invite.decode()
        # Sending to the remote address reuses the WebSocket connection.
        assert await layer.send(sip_message(3), WS, flow.remote) is flow
        assert await recv(client) == sip_message(3).decode()
    assert await closed.get() is flow
    assert flow.closed
    assert layer.flow_by_token(token) is None
    assert not flow.send(sip_message(4))
    with pytest.raises(TransportError):
        await layer.send(sip_message(4), WS, flow.remote)


async def test_crlf_keepalive_is_answered(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox)
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send("\r\n\r\n")
        assert await recv(client) == "\r\n"
        await client.send("\r\n" + sip_message(1).decode())
        assert (await inbox.get())[0] == sip_message(1)
        assert inbox.empty()


async def test_oversized_message_closes_the_connection_only(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox, options=TransportOptions(max_message_size=1024))
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(sip_message(1, b"x" * 2000).decode())
        with pytest.raises(ConnectionClosed):
            await recv(client)
        assert client.close_code == 1009
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(sip_message(2).decode())
        assert (await inbox.get())[0] == sip_message(2)
    assert inbox.empty()


async def test_handler_exception_and_garbage_do_not_kill_the_connection(
    make_layer: LayerFactory,
) -> None:
    inbox = Inbox()

    def fragile(data: bytes, flow: Flow) -> None:
        inbox(data, flow)
        raise RuntimeError("handler bug")

    layer = await make_layer([listener(WS)])
    layer.on_message = fragile
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(b"\x00\xff\x13garbage")
        await client.send(b"")
        await client.send(sip_message(1).decode())
        assert (await inbox.get())[0] == b"\x00\xff\x13garbage"
        assert (await inbox.get())[0] == sip_message(1)


async def test_server_closes_a_flow(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    closed = FlowEvents()
    layer = await make_layer([listener(WS)], inbox)
    layer.add_flow_closed_listener(closed)
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as client:
        await client.send(sip_message(1).decode())
        _, flow = await inbox.get()
        flow.close()
        with pytest.raises(ConnectionClosed):
            await recv(client)
        assert client.close_code == 1000
    assert await closed.get() is flow


async def test_wss(make_layer: LayerFactory, tls_files: TlsFiles) -> None:
    inbox = Inbox()
    config = ListenerConfig(WSS, "127.0.0.1", 0, tls_files.cert_path, tls_files.key_path)
    layer = await make_layer([config], inbox)
    address = layer.address(WSS)
    url = ws_url(address, "/", "wss")
    async with connect(url, subprotocols=SIP, ssl=tls_files.client_context()) as client:
        await client.send(sip_message(1, method="REGISTER").decode())
        data, flow = await inbox.get()
        assert data == sip_message(1, method="REGISTER")
        assert flow.kind is WSS and flow.kind.secure
        found = layer.flow_by_token(flow.token)
        assert found is not None
        found.send(sip_message(2, method="INVITE"))
        assert await recv(client) == sip_message(2, method="INVITE").decode()
    with pytest.raises(InvalidStatus):
        async with connect(url, ssl=tls_files.client_context()):
            pass


async def test_too_many_websocket_connections_are_refused(make_layer: LayerFactory) -> None:
    inbox = Inbox()
    layer = await make_layer([listener(WS)], inbox, options=TransportOptions(max_connections=1))
    async with connect(ws_url(layer.address(WS)), subprotocols=SIP) as first:
        await first.send(sip_message(1).decode())
        await inbox.get()
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url(layer.address(WS)), subprotocols=SIP):
                pass
        assert info.value.response.status_code == 503
