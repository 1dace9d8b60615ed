"""Calls through a trunk configured over REST, with SIPp playing the provider at
127.0.0.2 (inbound trunk calls are recognised by their source address, so the provider
must not share 127.0.0.1 with the phones)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from callboard.calls.events import LegAnswered, LegEnded, LegRinging, PartyKind
from tests.integration.conftest import DOMAIN, EventLog, provision
from tests.integration.helpers import agent, answering, finals, header, records_by_leg, server_of
from tests.support.server import RunningServer
from tests.support.sipp import Sipp

PROVIDER_IP = "127.0.0.2"
# The account uas_provider.xml checks the INVITE's credentials against.
PROVIDER_USER, PROVIDER_PASSWORD = "callboard-trunk", "provider-secret-pw"


async def _trunk(admin: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    spec = {
        "name": "provider",
        "host": PROVIDER_IP,
        "transport": "udp",
        "username": PROVIDER_USER,
        "password": PROVIDER_PASSWORD,
        "registration": False,
        **fields,
    }
    response = await admin.post("/api/trunks", json=spec)
    assert response.status_code == 200, response.text
    trunk: dict[str, Any] = response.json()
    return trunk


async def test_outbound_call_answers_the_providers_challenge(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """A number that is no extension goes out through the trunk: the provider's 401 is
    answered with the trunk's credentials (its digest checked by SIPp), the call is
    answered and the caller's BYE reaches the provider."""
    alice = await provision(admin, "1001", name="Alice")
    provider = await sipp.start("uas_provider.xml", service="gateway", local_ip=PROVIDER_IP)
    trunk = await _trunk(admin, port=provider.local_port, caller_id="+15550001000")

    result = await agent(sipp, alice).call(server_of(node, "udp"), "5551234567", duration_ms=200)
    assert finals(result.received("SIP/2.0")) == [407, 200, 200]
    seen_by_provider = (await provider.wait(within=10)).check(calls=1)

    first, second = seen_by_provider.received("INVITE ")
    target = f"INVITE sip:5551234567@{PROVIDER_IP}:{provider.local_port} SIP/2.0"
    assert first.splitlines()[0] == second.splitlines()[0] == target
    assert header(first, "From")[0].startswith(f'"Alice" <sip:+15550001000@{DOMAIN}>')
    assert not header(first, "Authorization")
    [credentials] = header(second, "Authorization")
    assert f'username="{PROVIDER_USER}"' in credentials
    assert 'realm="provider.test"' in credentials and "qop=auth" in credentials
    assert f'uri="sip:5551234567@{PROVIDER_IP}:{provider.local_port}"' in credentials
    assert header(first, "Call-ID") == header(second, "Call-ID")
    cseqs = [int(header(m, "CSeq")[0].split()[0]) for m in (first, second)]
    assert cseqs[1] == cseqs[0] + 1
    assert seen_by_provider.received("ACK ") and seen_by_provider.received("BYE ")
    assert PROVIDER_USER in seen_by_provider.log  # the CALLBOARD-AUTHORIZATION line

    caller, callee = events.of(LegRinging)
    assert (callee.callee.number, callee.callee.kind, callee.parent_id) == (
        "5551234567",
        PartyKind.EXTERNAL,
        caller.leg_id,
    )
    assert len(events.of(LegAnswered)) == 2
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
    records = await records_by_leg(node)
    out = records[callee.leg_id]
    assert (out.to_number, out.trunk_id, out.answered_at is not None) == (
        "5551234567",
        int(trunk["id"]),
        True,
    )
    assert records[caller.leg_id].to_number == "5551234567"


async def test_inbound_call_to_a_number_reaches_its_user(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """A call from the provider's address to a configured number (DID) rings the user
    it is mapped to, without a challenge (the trunk is trusted by its address)."""
    bob = await provision(admin, "1002", name="Bob")
    trunk = await _trunk(
        admin, port=5060, numbers=[{"number": "+15557654321", "user_id": bob.user_id}]
    )
    callee = await answering(sipp, node, bob)

    result = await sipp.run(
        "uac_call.xml",
        server_of(node, "udp"),
        local_ip=PROVIDER_IP,
        service="+15557654321",
        keys={"from_user": "+14155550123", "domain": "provider.test"},
        duration_ms=200,
        check=True,
    )
    assert finals(result.received("SIP/2.0")) == [200, 200]  # no challenge
    await callee.wait_calls(1)
    seen_by_bob = await callee.stop()
    [invite] = seen_by_bob.received("INVITE ")
    assert re.match(
        rf'"\+14155550123" <sip:\+14155550123@{re.escape(DOMAIN)}>', header(invite, "From")[0]
    )

    caller, callee_leg = events.of(LegRinging)
    assert (caller.caller.number, caller.caller.kind) == ("+14155550123", PartyKind.TRUNK)
    assert caller.destination == "+15557654321"
    assert callee_leg.user_id == int(bob.user_id) and callee_leg.callee.number == "1002"
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
    records = await records_by_leg(node)
    inbound = records[caller.leg_id]
    assert (inbound.from_number, inbound.from_type, inbound.trunk_id) == (
        "+14155550123",
        "trunk",
        int(trunk["id"]),
    )
    assert records[callee_leg.leg_id].user_id == int(bob.user_id)
