"""A web phone's ephemeral credentials through the real registrar: the derivation
(callboard.directory.ephemeral), the directory's credential source
(callboard.calls.directory.DirectoryCredentials) and the registrar, with REGISTERs as
JsSIP writes them (tests/sip/test_registrar.py's model of JsSIP). The real JsSIP and
SIPp do the same against a running node in tests/integration/test_ephemeral_sip.py.
"""

from __future__ import annotations

import dataclasses
import time
from typing import cast

import pytest

from callboard.calls.directory import (
    DeviceCredentials,
    DeviceInfo,
    Directory,
    DirectoryCredentials,
)
from callboard.directory import ephemeral
from callboard.sip.digest import NonceManager, build_authorization, compute_ha1, parse_challenge
from callboard.sip.location import LocationService
from callboard.sip.message import SipRequest, SipResponse, parse_message
from callboard.sip.registrar import Registrar, RegistrarConfig
from tests.sip.fakes import FakeClock, FakeFlow
from tests.sip.test_registrar import JsSip, jssip_authorization, ws_flow

DOMAIN = "my-company.lo"
KEY = b"k" * 32
ALICE = DeviceInfo(
    device_id=3,
    domain_id=1,
    domain=DOMAIN,
    account="webphone1001",
    ha1_md5=compute_ha1("webphone1001", DOMAIN, "device-passw0rd"),
    ha1_sha256=compute_ha1("webphone1001", DOMAIN, "device-passw0rd", "SHA-256"),
    user_id=2,
    user_name="Alice",
    extension="1001",
)
BOB = dataclasses.replace(
    ALICE,
    device_id=4,
    account="webphone1002",
    ha1_md5=compute_ha1("webphone1002", DOMAIN, "bobs-passw0rd"),
    user_id=5,
    extension="1002",
)


class Devices:
    """What DirectoryCredentials asks of the directory, by DirectoryView's rules, over
    two devices in memory (tests/api/test_web_phone_credentials.py runs the real view
    on SQLite and PostgreSQL)."""

    def __init__(self) -> None:
        self.devices = {d.account: d for d in (ALICE, BOB)}

    async def credentials(self, domain: str, username: str) -> DeviceCredentials | None:
        name = ephemeral.parse_username(username)
        device = self.devices.get(username if name is None else name.account)
        if device is None or domain != DOMAIN:
            return None
        if name is None:
            return DeviceCredentials(device, device.ha1_md5, device.ha1_sha256)
        return ephemeral.verify(KEY, device, name)


@dataclasses.dataclass
class WebPhone(JsSip):
    """JsSIP as the SDK configures it with ephemeral credentials: its URI (To, From) is
    the extension's; it authenticates with the ephemeral username and that one's HA1."""

    auth_user: str = ""

    def answer(self, response: SipResponse, expires: int = 90) -> SipRequest:
        assert response.status == 401
        challenge = parse_challenge(response.headers.getall("www-authenticate")[-1])
        credentials = build_authorization(
            challenge,
            method="REGISTER",
            uri=f"sip:{self.domain}",
            username=self.auth_user,
            ha1=self.ha1,
        )
        return self.register(expires, jssip_authorization(credentials))


def web_phone(device: DeviceInfo, expires_at: int, *, to_user: str | None = None) -> WebPhone:
    issued = ephemeral.issue(KEY, device, expires_at)
    return WebPhone(
        user=to_user or device.extension or "",
        domain=DOMAIN,
        ha1=issued.ha1_md5,
        auth_user=issued.username,
    )


@dataclasses.dataclass
class Node:
    registrar: Registrar
    location: LocationService
    clock: FakeClock


@pytest.fixture
def node() -> Node:
    # Ephemeral expiries are checked against the real time: the wall clock of the
    # location service (and of the registrar's cap) starts there.
    clock = FakeClock(float(int(time.time())))
    location = LocationService(clock=clock)
    registrar = Registrar(
        DirectoryCredentials(cast(Directory, Devices())),
        location,
        NonceManager(b"n" * 32, lifetime=300, clock=clock),
        config=RegistrarConfig(max_failures=3, failure_window=60),
        clock=FakeClock(1000.0),
    )
    return Node(registrar, location, clock)


async def send(node: Node, request: SipRequest, flow: FakeFlow) -> SipResponse:
    response = parse_message((await node.registrar.handle_register(request, flow)).encode())
    assert isinstance(response, SipResponse)
    return response


async def register(node: Node, phone: WebPhone, flow: FakeFlow | None = None) -> SipResponse:
    flow = flow or ws_flow()
    challenge = await send(node, phone.register(), flow)
    assert challenge.status == 401
    return await send(node, phone.answer(challenge), flow)


async def test_an_ephemeral_username_registers_as_its_device(node: Node) -> None:
    phone = web_phone(ALICE, int(time.time()) + 3600)
    ok = await register(node, phone)
    assert ok.status == 200
    assert ok.contacts[0].params["expires"] == "90"
    # Kept under the device account's AOR, owned by the device: calls to the user ring it.
    [binding] = await node.location.lookup(f"sip:webphone1001@{DOMAIN}")
    assert binding.owner == ALICE
    assert await node.location.lookup(f"sip:{phone.auth_user}@{DOMAIN}") == []
    assert await node.location.lookup(f"sip:1001@{DOMAIN}") == []


async def test_no_binding_outlives_the_credentials(node: Node) -> None:
    phone = web_phone(ALICE, int(node.clock.now) + 30)
    ok = await register(node, phone)
    assert ok.status == 200
    assert ok.contacts[0].params["expires"] == "30"
    [binding] = await node.location.lookup(f"sip:webphone1001@{DOMAIN}")
    assert binding.expires_at == int(node.clock.now) + 30
    # Unregistering still unregisters.
    flow = ws_flow()
    challenge = await send(node, phone.register(0), flow)
    assert (await send(node, phone.answer(challenge, 0), flow)).status == 200
    assert await node.location.lookup(f"sip:webphone1001@{DOMAIN}") == []


async def test_an_expired_username_is_refused_like_a_wrong_password(node: Node) -> None:
    expired = web_phone(ALICE, int(time.time()) - 1)
    wrong = web_phone(ALICE, int(time.time()) + 3600)
    wrong.ha1 = compute_ha1(wrong.auth_user, DOMAIN, "guessed")
    flow = ws_flow()
    answers = []
    for phone in (expired, wrong):
        challenge = await send(node, phone.register(), flow)
        answers.append(await send(node, phone.answer(challenge), flow))
    assert [a.status for a in answers] == [401, 401]
    # The same challenge (but for its fresh nonce): nothing tells the two apart.
    expired_challenge, wrong_challenge = (
        [h.split("nonce=")[0] for h in a.headers.getall("www-authenticate")] for a in answers
    )
    assert expired_challenge == wrong_challenge
    # Both counted as failures of the source: the third one blocks it (max_failures 3).
    challenge = await send(node, expired.register(), flow)
    assert (await send(node, expired.answer(challenge), flow)).status == 401
    blocked = await send(node, web_phone(ALICE, int(time.time()) + 60).register(), flow)
    assert blocked.status == 403
    assert await node.location.lookup(f"sip:webphone1001@{DOMAIN}") == []


async def test_an_ephemeral_username_registers_no_other_users_extension(node: Node) -> None:
    phone = web_phone(ALICE, int(time.time()) + 3600, to_user="1002")
    assert (await register(node, phone)).status == 403
    assert await node.location.lookup(f"sip:webphone1002@{DOMAIN}") == []
