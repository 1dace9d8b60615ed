"""A real softphone (baresip) registered with Callboard over UDP and over TLS: it calls a
registered SIPp agent, and a SIPp agent calls it.

Media is not anchored yet: the RTP flows phone to phone, so the softphone's own DTMF
(RFC 4733 telephone-events in RTP, the only kind baresip 1.0 sends) never passes
through Callboard; the test proves it crosses the call by SIPp's echo. DTMF that does
pass through the server (SIP INFO) goes the other way: from SIPp, as a LegDtmf event,
relayed to the softphone, which reports the digits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from callboard.calls.events import LegAnswered, LegDtmf, LegEnded, LegRinging
from tests.integration.conftest import DOMAIN, EventLog, provision
from tests.integration.helpers import KINDS, agent, answering, header, records_by_leg, server_of
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, Transport
from tests.support.softphone import Softphone


@pytest.mark.parametrize("transport", ["udp", "tls"])
async def test_softphone_registers_calls_and_is_called(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    tmp_path: Path,
    transport: Transport,
) -> None:
    assert node.telephony is not None
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    carol = await provision(admin, "1003", name="Carol")
    bob_answers = await answering(sipp, node, bob, rtp_echo=True)

    async with Softphone(tmp_path / "alice", user="alice") as phone:
        # Digest registration, over the transport asked for (TLS: the node's
        # self-signed certificate, which baresip does not verify).
        await phone.register(
            server_of(node, transport),
            alice.account,
            alice.password,
            domain=DOMAIN,
            transport=transport,
        )
        [binding] = await node.telephony.location.lookup(f"sip:{alice.account}@{DOMAIN}")
        assert binding.transport is KINDS[transport]
        if transport == "udp":
            assert binding.source.port == phone.sip_port
        else:
            assert binding.requires_flow  # reached over its own TLS connection

        # The softphone calls Bob (a SIPp agent) through Callboard.
        await phone.call(f"sip:{bob.extension}@{DOMAIN}")
        await phone.wait_established()
        await phone.send_dtmf("1#")
        assert [await phone.wait_dtmf(), await phone.wait_dtmf()] == ["1", "#"]
        await phone.hangup()
        await bob_answers.wait_calls(1)
        seen_by_bob = await bob_answers.stop()
        [invite] = seen_by_bob.received("INVITE ")
        assert header(invite, "From")[0].startswith(f'"Alice" <sip:1001@{DOMAIN}>')
        outgoing = events.of(LegRinging)
        assert [(e.user_id, e.direction) for e in outgoing] == [
            (int(alice.user_id), "outbound"),
            (int(bob.user_id), "inbound"),
        ]
        first_call = outgoing[0].call_id
        ended = await events.wait_for(LegEnded, 2)
        assert {(e.cause, e.record.hangup_by) for e in ended} == {("NORMAL_CLEARING", "caller")}

        # Carol (SIPp) calls the softphone, which answers; her INFO DTMF is a LegDtmf of
        # her leg and reaches the softphone; she hangs up.
        call = asyncio.create_task(
            agent(sipp, carol).call(
                server_of(node, "udp"),
                alice.extension,
                scenario="uac_info_dtmf.xml",
                duration_ms=200,
            )
        )
        incoming = await phone.wait_incoming()
        assert incoming.peer_uri is not None and "1003@" in incoming.peer_uri
        await phone.answer()
        assert [await phone.wait_dtmf(), await phone.wait_dtmf()] == ["5", "#"]
        closed = await phone.wait_closed()
        assert closed.call_id == incoming.call_id
        result = await call
        assert len(result.received("SIP/2.0 200")) >= 4  # INVITE, two INFOs, BYE

    second = [e for e in events.of(LegRinging) if e.call_id != first_call]
    assert [(e.user_id, e.direction) for e in second] == [
        (int(carol.user_id), "outbound"),
        (int(alice.user_id), "inbound"),
    ]
    carol_leg = second[0].leg_id
    assert [(e.leg_id, e.digit) for e in events.of(LegDtmf)] == [(carol_leg, "5"), (carol_leg, "#")]
    assert sum(e.call_id != first_call for e in events.of(LegAnswered)) == 2
    await events.wait_for(LegEnded, 4)
    records = await records_by_leg(node)
    assert records[second[1].leg_id].to_number == "1001"
    assert records[second[1].leg_id].hangup_by == "caller"
