"""SIP over TLS with a throw-away certificate."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest

from callboard.sip.transport import (
    Address,
    ListenerConfig,
    StreamFlow,
    TransportError,
    TransportKind,
    server_ssl_context,
)
from tests.sip.transport.helpers import (
    HOST,
    Inbox,
    LayerFactory,
    TlsFiles,
    listener,
    read_exactly,
    read_until_eof,
    sip_message,
)

TLS = TransportKind.TLS


def tls_listener(tls_files: TlsFiles) -> ListenerConfig:
    return listener(TLS, cert_path=tls_files.cert_path, key_path=tls_files.key_path)


async def test_tls_receive_and_answer_on_the_flow(
    make_layer: LayerFactory, tls_files: TlsFiles
) -> None:
    inbox = Inbox()
    layer = await make_layer([tls_listener(tls_files)], inbox)
    address = layer.address(TLS)
    reader, writer = await asyncio.open_connection(
        address.host, address.port, ssl=tls_files.client_context()
    )
    writer.write(sip_message(1, method="REGISTER") + sip_message(2, b"ab"))
    data, flow = await inbox.get()
    assert data == sip_message(1, method="REGISTER")
    assert (await inbox.get())[0] == sip_message(2, b"ab")
    assert flow.kind is TLS and flow.kind.secure and flow.kind.reliable
    assert isinstance(flow, StreamFlow)
    peer = flow.connection.transport
    assert peer is not None and peer.get_extra_info("ssl_object") is not None
    found = layer.flow_by_token(flow.token)
    assert found is flow
    invite = sip_message(3, method="INVITE")
    assert found.send(invite)
    assert await read_exactly(reader, len(invite)) == invite
    writer.write(b"\r\n\r\n")
    assert await read_exactly(reader, 2) == b"\r\n"
    writer.close()


async def test_outbound_tls_with_reuse(make_layer: LayerFactory, tls_files: TlsFiles) -> None:
    server_inbox = Inbox()
    server = await make_layer([tls_listener(tls_files)], server_inbox)
    client_inbox = Inbox()
    client = await make_layer([], client_inbox, client_ssl_context=tls_files.client_context())
    target = server.address(TLS)
    first = await client.send(sip_message(1), TLS, target)
    second = await client.send(sip_message(2), "tls", target)
    assert first is second
    assert first.kind is TLS
    assert (await server_inbox.get())[0] == sip_message(1)
    data, inbound = await server_inbox.get()
    assert data == sip_message(2)
    inbound.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    data, flow = await client_inbox.get()
    assert flow is first
    assert data.startswith(b"SIP/2.0 200 OK")
    # The certificate is checked against server_name.
    with pytest.raises(TransportError):
        await client.send(
            sip_message(3), TLS, Address("localhost", target.port), server_name="sip.example.com"
        )


async def test_outbound_tls_refuses_an_untrusted_certificate(
    make_layer: LayerFactory, tls_files: TlsFiles
) -> None:
    server = await make_layer([tls_listener(tls_files)], Inbox())
    client = await make_layer([], client_ssl_context=ssl.create_default_context())
    with pytest.raises(TransportError):
        await client.send(sip_message(), TLS, server.address(TLS))
    assert client.connection_count == 0


async def test_plaintext_on_the_tls_port_does_not_kill_it(
    make_layer: LayerFactory, tls_files: TlsFiles
) -> None:
    inbox = Inbox()
    context = server_ssl_context(tls_files.cert_path, tls_files.key_path)
    layer = await make_layer([listener(TLS, ssl_context=context)], inbox)
    address = layer.address(TLS)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    writer.write(sip_message(1) + b"\x16\x03\x01garbage" * 50)
    with contextlib.suppress(ConnectionResetError):
        await read_until_eof(reader)
    writer.close()
    reader, writer = await asyncio.open_connection(
        address.host, address.port, ssl=tls_files.client_context()
    )
    writer.write(sip_message(2))
    data, flow = await inbox.get()
    assert data == sip_message(2)
    assert flow.remote.host == HOST
    writer.close()
