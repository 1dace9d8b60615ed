"""Callboard registers with a provider for each trunk that asks for it."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest

from tests.support.server import RunningServer


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5


class ProviderRegistrar(asyncio.DatagramProtocol):
    """A provider's registrar over UDP: 401 first, then 200 for the right credentials."""

    def __init__(self, username: str, password: str, realm: str = "provider.example") -> None:
        self.username, self.password, self.realm = username, password, realm
        self.registers: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data.decode().split("\r\n\r\n")[0].split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        fields["request-line"] = head[0]
        copied = "".join(
            f"{h}: {fields[h.lower()]}\r\n" for h in ("Via", "From", "Call-ID", "CSeq")
        )
        status, extra = "401 Unauthorized", ""
        authorization = fields.get("authorization")
        if authorization is None:
            extra = f'WWW-Authenticate: Digest realm="{self.realm}", nonce="n0nce", qop="auth"\r\n'
        else:
            p = dict(re.findall(r'(\w+)="?([^",]+)"?', authorization))
            ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
            ha2 = _md5(f"REGISTER:{p['uri']}")
            want = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
            status = "200 OK" if p["response"] == want else "403 Forbidden"
            if status == "200 OK":
                extra = f"Contact: {fields['contact']};expires=120\r\n"
            self.registers.put_nowait(fields)
        response = (
            f"SIP/2.0 {status}\r\n{copied}To: {fields['to']};tag=prov\r\n{extra}"
            "Content-Length: 0\r\n\r\n"
        )
        assert self.transport is not None
        self.transport.sendto(response.encode(), addr)


@pytest.fixture
async def provider() -> AsyncIterator[tuple[ProviderRegistrar, int]]:
    loop = asyncio.get_running_loop()
    registrar = ProviderRegistrar("acct77", "provider-secret")
    transport, _ = await loop.create_datagram_endpoint(
        lambda: registrar, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        yield registrar, port
    finally:
        transport.close()


async def test_trunk_registers_refreshes_and_unregisters(
    node: RunningServer, admin: httpx.AsyncClient, provider: tuple[ProviderRegistrar, int]
) -> None:
    registrar, port = provider
    trunk = await admin.post(
        "/api/trunks",
        json={
            "name": "provider",
            "host": "127.0.0.1",
            "port": port,
            "username": "acct77",
            "password": "provider-secret",
            "registration": True,
            "register_expires": 120,
        },
    )
    assert trunk.status_code == 200, trunk.text
    first = await asyncio.wait_for(registrar.registers.get(), 10)
    assert first["request-line"] == f"REGISTER sip:127.0.0.1:{port} SIP/2.0"
    assert first["expires"] == "120" and first["to"] == "<sip:acct77@127.0.0.1>"
    registrations = node.telephony.trunk_registrations  # type: ignore[union-attr]
    assert registrations is not None
    for _ in range(100):
        state = registrations.state(int(trunk.json()["id"]))
        if state is not None and state.registered:
            break
        await asyncio.sleep(0.02)
    assert state is not None and state.registered and state.status == 200

    # Turning registration off unregisters (Expires: 0) at once.
    await admin.patch(f"/api/trunks/{trunk.json()['id']}", json={"registration": False})
    last = await asyncio.wait_for(registrar.registers.get(), 10)
    assert last["expires"] == "0"
    assert registrations.state(int(trunk.json()["id"])) is None


async def test_wrong_trunk_password_is_reported(
    node: RunningServer, admin: httpx.AsyncClient, provider: tuple[ProviderRegistrar, int]
) -> None:
    registrar, port = provider
    trunk = await admin.post(
        "/api/trunks",
        json={
            "name": "p",
            "host": "127.0.0.1",
            "port": port,
            "username": "acct77",
            "password": "wrong",
            "registration": True,
        },
    )
    await asyncio.wait_for(registrar.registers.get(), 10)
    registrations = node.telephony.trunk_registrations  # type: ignore[union-attr]
    assert registrations is not None
    for _ in range(100):
        state = registrations.state(int(trunk.json()["id"]))
        if state is not None and state.status == 403:
            break
        await asyncio.sleep(0.02)
    assert state is not None and not state.registered and state.status == 403
