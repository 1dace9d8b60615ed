"""Retransmissions over UDP, TCP and TLS, with a phone that misbehaves on purpose
(tests/integration/rawsip.py): requests it ignores are sent again on RFC 3261's timers
(over UDP only: a reliable transport never loses them), requests it sends twice make one
call, and a 2xx to INVITE is sent again until its ACK arrives over every transport
(§13.3.1.4), and a retransmitted 2xx is acknowledged again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from callboard.calls.events import LegAnswered, LegEnded, LegRinging
from tests.integration.conftest import DOMAIN, EventLog, Phone, engine, provision
from tests.integration.helpers import agent, answering, finals, server_of
from tests.integration.rawsip import RawPhone, RawStreamPhone, RawUdpPhone, sdp
from tests.support.server import RunningServer
from tests.support.sipp import Sipp

T1 = 0.5  # RFC 3261's estimate of the round trip, the first retransmission interval


@pytest.fixture
async def raw_phones() -> AsyncIterator[list[RawPhone]]:
    phones: list[RawPhone] = []
    yield phones
    for phone in phones:
        phone.close()


async def _raw(phones: list[RawPhone], phone: Phone) -> RawUdpPhone:
    raw = await RawUdpPhone(phone.account, phone.password, DOMAIN).open()
    phones.append(raw)
    return raw


async def _raw_stream(
    phones: list[RawPhone], phone: Phone, node: RunningServer, transport: str
) -> tuple[RawStreamPhone, str]:
    server = server_of(node, "tls" if transport == "tls" else "tcp")
    raw = RawStreamPhone(phone.account, phone.password, DOMAIN, tls=transport == "tls")
    phones.append(await raw.open(server))
    return raw, server


def _retransmitted_after(first_at: float, again_at: float) -> None:
    assert 0.6 * T1 <= again_at - first_at <= 3 * T1, again_at - first_at


async def _authenticated_invite(
    phone: RawPhone,
    server: str,
    uri: str,
    call_id: str,
    body: str,
    *,
    copies: int = 1,
    first_copies: int = 1,
) -> str:
    """INVITE (sent `first_copies` times), 407, ACK, INVITE with credentials (sent
    `copies` times); that INVITE."""
    to = f"<{uri}>"
    first = phone.request("INVITE", uri, call_id=call_id, cseq=1, to=to, body=body)
    for _ in range(first_copies):
        phone.send(first, server)
    challenge = await phone.wait("SIP/2.0 407")
    to_tag = re.search(r";tag=([^;>\s]+)", challenge.get("To"))
    assert to_tag is not None
    ack_407 = phone.request(
        "ACK", uri, call_id=call_id, cseq=1, to=f"{to};tag={to_tag.group(1)}",
        branch=challenge.branch,
    )  # fmt: skip
    phone.send(ack_407, server)
    credentials = phone.credentials(challenge, "INVITE", uri)
    invite = phone.request(
        "INVITE", uri, call_id=call_id, cseq=2, to=to, extra=credentials, body=body
    )
    for _ in range(copies):
        phone.send(invite, server)
    return invite


async def test_callee_that_ignores_the_first_invite_and_bye(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    raw_phones: list[RawPhone],
) -> None:
    """Timer A: the INVITE the callee ignored comes again after T1, unchanged, and the
    call completes when the callee answers that one. Timer E: the same for the BYE."""
    alice, bob = await provision(admin, "1001"), await provision(admin, "1002")
    server = server_of(node, "udp")
    phone = await _raw(raw_phones, bob)
    await phone.register(server)

    call = asyncio.create_task(agent(sipp, alice).call(server, "1002", duration_ms=200))
    first = await phone.wait("INVITE ")
    again = await phone.wait("INVITE ", within=4 * T1)
    assert again.text == first.text  # the same request: branch, CSeq, body
    _retransmitted_after(first.at, again.at)
    contact = f"Contact: {phone.contact}\r\n"
    phone.send(again.response(180, "Ringing", to_tag="rawtag", extra=contact), server)
    answer = sdp(40000)
    phone.send(again.response(200, "OK", to_tag="rawtag", extra=contact, body=answer), server)
    ack = await phone.wait("ACK ")
    assert ack.get("Call-ID") == first.get("Call-ID") and ";tag=rawtag" in ack.get("To")

    bye = await phone.wait("BYE ")
    bye_again = await phone.wait("BYE ", within=4 * T1)
    assert bye_again.text == bye.text
    _retransmitted_after(bye.at, bye_again.at)
    phone.send(bye_again.response(200, "OK", to_tag=None), server)
    result = await call
    assert finals(result.received("SIP/2.0")) == [407, 200, 200]
    assert answer.split("\r\n")[1] in result.received("SIP/2.0 200")[0]  # our SDP got there

    # No more INVITEs once the 180 was in; one call, answered and ended normally.
    assert sum(m.first_line.startswith("INVITE") for m in phone.messages) == 2
    assert len(events.of(LegRinging)) == 2 and len(events.of(LegAnswered)) == 2
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}


async def test_duplicate_invites_make_one_call_and_200_is_retransmitted(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    raw_phones: list[RawPhone],
) -> None:
    """The caller sends every INVITE twice and retransmits one after the 100: the
    server's transactions absorb the copies, so the callee is called once. The caller
    holds back its ACK: the server sends the same 200 again until the ACK arrives."""
    alice, bob = await provision(admin, "1001"), await provision(admin, "1002")
    server = server_of(node, "udp")
    callee = await answering(sipp, node, bob)
    phone = await _raw(raw_phones, alice)
    uri, call_id = f"sip:1002@{DOMAIN}", "dup-invite-1@127.0.0.1"

    invite = await _authenticated_invite(
        phone, server, uri, call_id, sdp(40002), copies=2, first_copies=2
    )
    await phone.wait("SIP/2.0 100", method="INVITE")
    phone.send(invite, server)  # a retransmission after the server's provisional answer
    ok = await phone.wait("SIP/2.0 200", method="INVITE")
    ok_again = await phone.wait("SIP/2.0 200", method="INVITE", within=4 * T1)
    assert ok_again.text == ok.text
    _retransmitted_after(ok.at, ok_again.at)

    dialog_to = ok.get("To")
    remote = re.search(r"<([^>]+)>", ok.get("Contact"))
    assert remote is not None
    ack = phone.request("ACK", remote.group(1), call_id=call_id, cseq=2, to=dialog_to)
    phone.send(ack, server)
    bye = phone.request("BYE", remote.group(1), call_id=call_id, cseq=3, to=dialog_to)
    phone.send(bye, server)
    await phone.wait("SIP/2.0 200", method="BYE")
    await callee.wait_calls(1)
    seen_by_bob = await callee.stop()

    assert len(seen_by_bob.received("INVITE ")) == 1
    invite_answers = [m for m in phone.messages if m.is_response and m.method == "INVITE"]
    assert {m.status for m in invite_answers} <= {100, 180, 407, 200}
    assert len({m.text for m in invite_answers if m.status == 200}) == 1
    assert len(events.of(LegRinging)) == 2 and len({e.call_id for e in events}) == 1
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
    assert engine(node).calls == {}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_2xx_is_retransmitted_until_acked_over_a_stream(
    transport: str,
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    raw_phones: list[RawPhone],
) -> None:
    """A caller on TCP or TLS sends its INVITE twice and holds back the ACK: one call is
    made, and the server sends the same 200 again over the connection until the ACK."""
    alice, bob = await provision(admin, "1001"), await provision(admin, "1002")
    callee = await answering(sipp, node, bob)
    phone, server = await _raw_stream(raw_phones, alice, node, transport)
    uri, call_id = f"sip:1002@{DOMAIN}", f"stream-2xx-{transport}@127.0.0.1"

    await _authenticated_invite(phone, server, uri, call_id, sdp(40004), copies=2)
    ok = await phone.wait("SIP/2.0 200", method="INVITE")
    ok_again = await phone.wait("SIP/2.0 200", method="INVITE", within=4 * T1)
    assert ok_again.text == ok.text
    _retransmitted_after(ok.at, ok_again.at)

    remote = re.search(r"<([^>]+)>", ok.get("Contact"))
    assert remote is not None
    assert f"transport={transport}" in remote.group(1).lower()
    dialog_to = ok.get("To")
    phone.send(phone.request("ACK", remote.group(1), call_id=call_id, cseq=2, to=dialog_to))
    await asyncio.sleep(3 * T1)  # nothing more may come once the ACK is in
    assert len([m for m in phone.messages if m.status == 200 and m.method == "INVITE"]) == 2
    phone.send(phone.request("BYE", remote.group(1), call_id=call_id, cseq=3, to=dialog_to))
    await phone.wait("SIP/2.0 200", method="BYE")
    await callee.wait_calls(1)
    seen_by_bob = await callee.stop()

    assert len(seen_by_bob.received("INVITE ")) == 1
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
    assert engine(node).calls == {}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_callee_on_a_stream_gets_no_retransmissions_and_each_2xx_is_acked(
    transport: str,
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    raw_phones: list[RawPhone],
) -> None:
    """A callee registered over TCP or TLS gets the INVITE over its own connection, once
    (no Timer A on a reliable transport) even while it waits; it sends its 200 twice, as
    a UAS that missed the ACK would, and each copy is acknowledged."""
    alice, bob = await provision(admin, "1001"), await provision(admin, "1002")
    phone, server = await _raw_stream(raw_phones, bob, node, transport)
    await phone.register(server)

    call = asyncio.create_task(agent(sipp, alice).call(server_of(node, "udp"), "1002"))
    invite = await phone.wait("INVITE ")
    await asyncio.sleep(3 * T1)
    assert sum(m.first_line.startswith("INVITE") for m in phone.messages) == 1
    contact = f"Contact: {phone.contact}\r\n"
    answer = sdp(40006)
    ok = invite.response(200, "OK", to_tag="rawtag", extra=contact, body=answer)
    phone.send(ok)
    first_ack = await phone.wait("ACK ")
    phone.send(ok)  # "retransmitted"
    second_ack = await phone.wait("ACK ")
    assert first_ack.get("CSeq") == second_ack.get("CSeq") == f"{invite.get('CSeq').split()[0]} ACK"

    bye = await phone.wait("BYE ", within=10)
    phone.send(bye.response(200, "OK", to_tag=None))
    result = await call
    assert finals(result.received("SIP/2.0")) == [407, 200, 200]
    ended = await events.wait_for(LegEnded, 2)
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"}
