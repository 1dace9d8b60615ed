"""REGISTER with digest authentication, from SIPp agents over UDP and TCP."""

from __future__ import annotations

import re

import httpx
import pytest

from callboard.sip.location import BindingChange, RemovalReason
from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, BindingLog, provision
from tests.support.server import RunningServer
from tests.support.sipp import REGISTERED, Sipp, SippResult, Transport, free_port

KINDS: dict[Transport, TransportKind] = {"udp": TransportKind.UDP, "tcp": TransportKind.TCP}


def _status(message: str) -> int:
    return int(message.split()[1])


def _header(message: str, name: str) -> list[str]:
    return re.findall(rf"^{name}:\s*(.*?)\r?$", message, re.MULTILINE | re.IGNORECASE)


def _final_responses(result: SippResult) -> list[int]:
    return [_status(m) for m in result.received("SIP/2.0") if _status(m) >= 200]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_then_unregister(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    bindings: BindingLog,
    transport: Transport,
) -> None:
    """The right password: challenged once (401, MD5 first, qop=auth, realm = the
    domain), then 200 listing the Contact with its expiry; the binding is in the
    location service with the agent's transport and address; Expires: 0 removes it."""
    assert node.telephony is not None
    phone = await provision(admin, "2001")
    server = str(node.sip_address(KINDS[transport]))
    aor = f"sip:{phone.account}@{DOMAIN}"
    port = free_port()
    process = await sipp.start(
        "register_then_unregister.xml",
        server,
        transport=transport,
        local_port=port,
        service=phone.account,
        user=phone.account,
        password=phone.password,
        domain=DOMAIN,
        duration_ms=300,
        keys={"expires": "120"},
    )
    await process.wait_for_log(REGISTERED)
    [binding] = await node.telephony.location.lookup(aor)
    assert binding.transport is KINDS[transport]
    assert (binding.uri.host, binding.uri.port) == ("127.0.0.1", port)
    assert binding.source.port == port
    assert 115 <= binding.remaining(node.telephony.location.clock()) <= 120

    result = (await process.wait()).check(calls=1)
    removed = await bindings.wait_for(BindingChange.REMOVED, aor)
    assert removed.reason is RemovalReason.UNREGISTERED
    assert await node.telephony.location.lookup(aor) == []

    statuses = [_status(m) for m in result.received("SIP/2.0")]
    assert [s for s in statuses if s != 100][:2] == [401, 200] and statuses[-1] == 200
    challenge = result.received("SIP/2.0 401")[0]
    # One challenge, MD5: a second one (SHA-256) makes baresip 1.0 give up (ENOSYS).
    [offered] = _header(challenge, "WWW-Authenticate")
    assert offered.startswith("Digest ") and "algorithm=MD5" in offered
    assert f'realm="{DOMAIN}"' in offered and 'qop="auth"' in offered
    registered, unregistered = result.received("SIP/2.0 200")[0], result.received("SIP/2.0 200")[-1]
    [contact] = _header(registered, "Contact")
    assert f"127.0.0.1:{port}" in contact and re.search(r";expires=1[12]\d\b", contact)
    assert _header(unregistered, "Contact") == []


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_wrong_password_and_unknown_account_look_the_same(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, transport: Transport
) -> None:
    """A wrong password is refused, and an account that does not exist gets exactly the
    same answers (a challenge, then the same refusal); neither leaves a binding."""
    assert node.telephony is not None
    phone = await provision(admin, "2002")
    server = str(node.sip_address(KINDS[transport]))
    results: list[SippResult] = []
    for user, password in ((phone.account, "not-the-password"), ("2999", "whatever-pw")):
        agent = sipp.agent(user, password, domain=DOMAIN, transport=transport)
        results.append(
            await agent.register(server, scenario="register_wrong_password.xml", check=True)
        )
        assert await node.telephony.location.lookup(f"sip:{user}@{DOMAIN}") == []
    wrong, unknown = results
    assert _final_responses(wrong) == _final_responses(unknown)
    assert _final_responses(wrong) in ([401, 401], [401, 403])
    for result in results:
        assert not result.received("SIP/2.0 200")
        refusal = result.received("SIP/2.0 4")[-1]
        assert refusal.splitlines()[0] == wrong.received("SIP/2.0 4")[-1].splitlines()[0]
        if _status(refusal) == 401:
            # A fresh challenge, shaped like the first one.
            assert [h.split(",")[0] for h in _header(refusal, "WWW-Authenticate")] == [
                h.split(",")[0]
                for h in _header(wrong.received("SIP/2.0 401")[0], "WWW-Authenticate")
            ]


async def test_tcp_binding_dies_with_its_connection(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, bindings: BindingLog
) -> None:
    """A phone registered over TCP is reachable only over its connection: when the
    connection closes, the binding goes (RFC 5626 style flows)."""
    assert node.telephony is not None
    phone = await provision(admin, "2003")
    aor = f"sip:{phone.account}@{DOMAIN}"
    agent = sipp.agent(phone.account, phone.password, domain=DOMAIN, transport="tcp")
    process = await agent.answer_calls(server=str(node.sip_address(TransportKind.TCP)))
    [binding] = await node.telephony.location.lookup(aor)
    assert binding.transport is TransportKind.TCP and binding.requires_flow
    await process.stop()
    removed = await bindings.wait_for(BindingChange.REMOVED, aor)
    assert removed.reason is RemovalReason.FLOW_CLOSED
    assert await node.telephony.location.lookup(aor) == []
