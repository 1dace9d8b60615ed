"""Helpers for the transport tests: real sockets on 127.0.0.1, ephemeral ports."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from callboard.sip.transport import (
    Flow,
    FramingError,
    ListenerConfig,
    TransportKind,
    TransportLayer,
)

HOST = "127.0.0.1"
WAIT = 5.0


def sip_message(n: int = 1, body: bytes = b"", *, method: str = "OPTIONS") -> bytes:
    """A small, well-formed SIP request with a correct Content-Length."""
    head = (
        f"{method} sip:alice@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-{n}\r\n"
        f"From: <sip:bob@example.com>;tag={n}\r\n"
        f"To: <sip:alice@example.com>\r\n"
        f"Call-ID: call-{n}@example.com\r\n"
        f"CSeq: {n} {method}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"\r\n"
    )
    return head.encode() + body


def listener(kind: TransportKind, **kwargs: Any) -> ListenerConfig:
    return ListenerConfig(kind, HOST, 0, **kwargs)


class Inbox:
    """An ``on_message`` callback that queues what it gets."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Flow]] = asyncio.Queue()

    def __call__(self, data: bytes, flow: Flow) -> None:
        self.queue.put_nowait((data, flow))

    async def get(self) -> tuple[bytes, Flow]:
        async with asyncio.timeout(WAIT):
            return await self.queue.get()

    def empty(self) -> bool:
        return self.queue.empty()


class FlowEvents:
    """A flow-closed listener that queues the flows it is told about."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Flow] = asyncio.Queue()

    def __call__(self, flow: Flow) -> None:
        self.queue.put_nowait(flow)

    async def get(self) -> Flow:
        async with asyncio.timeout(WAIT):
            return await self.queue.get()


class FramingErrors:
    """An ``on_framing_error`` callback that queues what it gets, and may answer."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.queue: asyncio.Queue[tuple[FramingError, Flow]] = asyncio.Queue()
        self.answer = answer

    def __call__(self, error: FramingError, flow: Flow) -> None:
        if self.answer is not None:
            flow.send(self.answer)
        self.queue.put_nowait((error, flow))

    async def get(self) -> tuple[FramingError, Flow]:
        async with asyncio.timeout(WAIT):
            return await self.queue.get()


class LayerFactory(Protocol):
    async def __call__(
        self, configs: Sequence[ListenerConfig], inbox: Inbox | None = None, **kwargs: Any
    ) -> TransportLayer: ...


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.readexactly(n)


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.read()


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    cert_path: Path
    key_path: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Callboard test CA"))
        .issuer_name(_name("Callboard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
