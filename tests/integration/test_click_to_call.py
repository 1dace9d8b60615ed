"""Click-to-call (third-party call control) against real peers: the user's SIPp phone
rings first and answers with an offer; only then does the destination's SIPp phone (or
the trunk's provider) ring; the offer and the answer cross over unchanged; every stage
is a leg event, a history record, and what the published webitel-sdk sees.

The user's phone is uas_answer_offer.xml (or uas_offer_hangup.xml, when it hangs up
itself): it answers an INVITE without SDP with an offer and requires the answer in the
ACK."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from callboard.calls.events import (
    Direction,
    LegAnswered,
    LegBridged,
    LegDtmf,
    LegEnded,
    LegHeld,
    LegResumed,
    LegRinging,
    LegTransferred,
    PartyKind,
)
from tests.api.helpers import make_token
from tests.integration.conftest import DOMAIN, EventLog, Phone, provision, tune
from tests.integration.helpers import (
    answering,
    header,
    phones,
    records_by_leg,
    register_web_phone,
    server_of,
)
from tests.integration.rawsip import RawUdpPhone, sdp
from tests.support.jssip import JsSipPhone
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippProcess, SippResult
from tests.support.webitel import WebitelClient, WebitelRejected

USER_PHONE = "uas_answer_offer.xml"
USER_PHONE_HANGS_UP = "uas_offer_hangup.xml"


async def _ready(
    sipp: Sipp,
    node: RunningServer,
    admin: httpx.AsyncClient,
    user_phone: str = USER_PHONE,
    destination_phone: str = "uas_answer.xml",
) -> tuple[Phone, Phone, SippProcess, SippProcess]:
    """Alice (1001), the user, whose SIPp phone answers with `user_phone`, and Bob
    (1002), the destination, whose phone answers with `destination_phone`."""
    alice, bob = await phones(admin, "1001", "1002")
    user = await answering(sipp, node, alice, scenario=user_phone)
    destination = await answering(sipp, node, bob, scenario=destination_phone)
    return alice, bob, user, destination


async def _seen(user: SippProcess, destination: SippProcess) -> tuple[SippResult, SippResult]:
    """What the user's and the destination's phones saw, once each has had its call."""
    await destination.wait_calls(1)
    await user.wait_calls(1)
    return await user.stop(), await destination.stop()


@contextlib.asynccontextmanager
async def _as_user(
    node: RunningServer, admin: httpx.AsyncClient, phone: Phone
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with one of the user's own tokens."""
    headers = {"X-Webitel-Access": await make_token(admin, phone.user_id)}
    async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=30) as client:
        yield client


async def _click(api: httpx.AsyncClient, destination: str, **params: Any) -> str:
    response = await api.post("/api/calls", json={"destination": destination, "params": params})
    assert response.status_code == 200, response.text
    leg_id: str = response.json()["id"]
    return leg_id


def _sdp(text: str) -> str:
    """A message's body, line ends normalised ("" when it has none)."""
    parts = re.split(r"\r?\n\r?\n", text, maxsplit=1)
    return parts[1].replace("\r\n", "\n").strip() if len(parts) == 2 else ""


def _legs(events: EventLog, user: Phone) -> tuple[LegRinging, list[LegRinging]]:
    """The user's leg (rung first, no parent) and the legs rung after it."""
    first, *others = events.of(LegRinging)
    assert first.user_id == int(user.user_id) and first.parent_id is None
    return first, others


def _order(events: EventLog) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.leg_id) for e in events]


def _reason(bye: str) -> str:
    [reason] = header(bye, "Reason")
    return reason


def _party(phone: Phone, name: str) -> dict[str, str]:
    """A user as the SDK's call shows it (`from`, `to`)."""
    return {"type": "user", "number": phone.extension, "name": name, "id": phone.user_id}


def _never_rung(result: SippResult) -> None:
    assert result.received("INVITE ") == [], "the destination rang"


# --------------------------------------------------------------------------- connected


async def test_the_user_rings_first_then_the_destination(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """The whole flow, and the destination hangs up: the user's INVITE has no SDP and
    shows the destination; the user's offer reaches the destination as is (with the
    caller id asked for) and its answer comes back in the user's ACK."""
    alice, bob, user, destination = await _ready(sipp, node, admin, USER_PHONE, "uas_hangup.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(
            api,
            "1002",
            variables={"crm_id": "42", "campaign": "spring"},
            display="+15550001000",
            display_name="Sales",
        )
    seen_by_alice, seen_by_bob = await _seen(user, destination)

    [invite] = seen_by_alice.received("INVITE ")
    assert _sdp(invite) == "" and not header(invite, "Content-Type")
    assert header(invite, "From")[0].startswith(f'"Bob" <sip:1002@{DOMAIN}>')
    assert header(invite, "X-Webitel-Uuid") == [leg_id]
    offer = _sdp(seen_by_alice.sent("SIP/2.0 200")[0])
    assert "s=callboard-user-offer" in offer
    [relayed] = seen_by_bob.received("INVITE ")
    assert _sdp(relayed) == offer
    assert header(relayed, "From")[0].startswith(f'"Sales" <sip:+15550001000@{DOMAIN}>')
    answer = _sdp(seen_by_bob.sent("SIP/2.0 200")[0])
    assert answer and answer != offer
    acks = seen_by_alice.received("ACK ")
    assert acks and all(_sdp(ack) == answer for ack in acks)
    assert len(seen_by_alice.received("BYE ")) == 1  # when Bob hung up

    mine, [theirs] = _legs(events, alice)
    assert mine.leg_id == leg_id and mine.direction is Direction.OUTBOUND
    assert (mine.destination, mine.callee.number, mine.callee.name) == ("1002", "1002", "Bob")
    assert mine.caller.user_id == int(alice.user_id)
    assert theirs.parent_id == leg_id and theirs.direction is Direction.INBOUND
    assert theirs.user_id == int(bob.user_id)
    assert (theirs.caller.number, theirs.caller.name) == ("+15550001000", "Sales")
    variables = {"crm_id": "42", "campaign": "spring"}
    assert mine.variables == theirs.variables == variables
    order = _order(events)
    # The destination rang only once the user had answered.
    assert order.index(("LegAnswered", mine.leg_id)) < order.index(("LegRinging", theirs.leg_id))
    assert order.index(("LegRinging", theirs.leg_id)) < order.index(("LegAnswered", theirs.leg_id))
    bridged = {(e.leg_id, e.bridged_id) for e in events.of(LegBridged)}
    assert bridged == {(mine.leg_id, theirs.leg_id), (theirs.leg_id, mine.leg_id)}

    ended = await events.wait_for(LegEnded, 2)
    assert {(e.cause, e.sip_code) for e in ended} == {("NORMAL_CLEARING", 200)}
    records = await records_by_leg(node)
    a, b = records[mine.leg_id], records[theirs.leg_id]
    assert (a.direction, a.from_number, a.to_number) == ("outbound", "1001", "1002")
    assert (a.to_name, b.from_name) == ("Bob", "Sales")
    assert (b.direction, b.from_number, b.to_number) == ("inbound", "+15550001000", "1002")
    assert a.hangup_by == b.hangup_by == "callee"
    assert a.answered_at is not None and b.answered_at is not None
    assert a.answered_at <= b.answered_at and a.call_id == b.call_id
    assert a.variables == b.variables == variables


async def test_the_user_hangs_up_and_the_sdk_sees_each_stage(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """`client.invite()` of the published webitel-sdk (call_invite): its reply, and the
    call it then sees: ringing (outbound, the destination), active when the user's own
    phone answered, bridge when the destination did, hangup when the user hung up."""
    alice, bob, user, destination = await _ready(sipp, node, admin, USER_PHONE_HANGS_UP)
    async with WebitelClient("alice") as sdk:
        await sdk.connect(f"{node.url}/ws", await make_token(admin, alice.user_id))
        await sdk.subscribe_call()
        reply = await sdk.invite("1002", {"timeout": 20, "variables": {"ticket": "T-7"}})
        call_id = reply["result"]["id"]

        ringing = await sdk.expect_call("ringing", call_id)
        assert ringing["direction"] == "outbound" and ringing["destination"] == "1002"
        assert ringing["from"] == _party(alice, "Alice")
        assert ringing["to"] == _party(bob, "Bob")
        assert ringing["variables"] == {"ticket": "T-7"}
        active = await sdk.expect_call("active", call_id)
        assert active["answeredAt"] > 0 and not active["bridgedAt"]
        bridge = await sdk.expect_call("bridge", call_id)
        hangup = await sdk.expect_call("hangup", call_id)
        assert hangup["hangupCause"] == "NORMAL_CLEARING" and hangup["hangupSipCode"] == 200
        await sdk.expect_call("destroy", call_id)
        assert sdk.actions(call_id) == ["ringing", "active", "bridge", "hangup", "destroy"]

    seen_by_alice, seen_by_bob = await _seen(user, destination)
    assert len(seen_by_alice.sent("BYE ")) == 1 and len(seen_by_bob.received("BYE ")) == 1
    mine, [theirs] = _legs(events, alice)
    assert mine.leg_id == call_id and bridge["bridgedId"] == theirs.leg_id
    ended = await events.wait_for(LegEnded, 2)
    assert {e.record.hangup_by for e in ended} == {"caller"}


async def test_once_connected_it_is_an_ordinary_call(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """Hold and resume from the API reach both phones as new offers, DTMF reaches the
    destination as INFO, and the user's hangup from the API ends both."""
    alice, _, user, destination = await _ready(sipp, node, admin)
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
        await events.wait_for(LegBridged, 2)
        held = await api.patch(f"/api/calls/active/{leg_id}/hold", json={})
        assert held.status_code == 200, held.text
        await events.wait_for(LegHeld)
        resumed = await api.patch(f"/api/calls/active/{leg_id}/unhold", json={})
        assert resumed.status_code == 200, resumed.text
        await events.wait_for(LegResumed)
        dtmf = await api.patch(f"/api/calls/active/{leg_id}/dtmf", json={"digit": "7"})
        assert dtmf.status_code == 200, dtmf.text
        await events.wait_for(LegDtmf)
        gone = await api.delete(f"/api/calls/active/{leg_id}")
        assert gone.status_code == 200, gone.text
    seen_by_alice, seen_by_bob = await _seen(user, destination)

    for seen in (seen_by_alice, seen_by_bob):
        offers = [_sdp(m) for m in seen.received("INVITE ")[1:]]
        assert ["a=inactive" in offers[0], "a=sendrecv" in offers[1]] == [True, True], offers
        assert len(seen.received("BYE ")) == 1
    [info] = seen_by_bob.received("INFO ")
    assert _sdp(info).startswith("Signal=7")
    mine, [_] = _legs(events, alice)
    assert [e.leg_id for e in events.of(LegHeld)] == [mine.leg_id]
    assert [(e.leg_id, e.digit) for e in events.of(LegDtmf)] == [(mine.leg_id, "7")]
    ended = await events.wait_for(LegEnded, 2)
    assert {(e.cause, e.record.hangup_by) for e in ended} == {("NORMAL_CLEARING", "caller")}


async def test_the_user_transfers_the_destination(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """A blind transfer from the API: the user leaves, the destination is connected to
    a third party (re-INVITEd with its session)."""
    alice, bob, carol = await phones(admin, "1001", "1002", "1003")
    user = await answering(sipp, node, alice, scenario=USER_PHONE)
    destination = await answering(sipp, node, bob)
    target = await answering(sipp, node, carol, scenario="uas_hangup.xml", duration_ms=200)
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
        await events.wait_for(LegBridged, 2)
        moved = await api.patch(
            f"/api/calls/active/{leg_id}/transfer", json={"destination": "1003"}
        )
        assert moved.status_code == 200, moved.text
    await target.wait_calls(1)
    await destination.wait_calls(1)
    await user.wait_calls(1)
    seen_by_bob, seen_by_carol = await destination.stop(), await target.stop()
    await user.stop()

    reinvite = seen_by_bob.received("INVITE ")[-1]
    assert _sdp(reinvite) == _sdp(seen_by_carol.sent("SIP/2.0 200")[0])
    mine, [theirs, third] = _legs(events, alice)
    assert third.parent_id == theirs.leg_id and third.callee.number == "1003"
    [transferred] = events.of(LegTransferred)
    assert (transferred.leg_id, transferred.destination) == (mine.leg_id, "1003")
    ended = await events.wait_for(LegEnded, 3)
    causes = {e.leg_id: e.cause for e in ended}
    assert causes == {
        mine.leg_id: "BLIND_TRANSFER",
        theirs.leg_id: "NORMAL_CLEARING",
        third.leg_id: "NORMAL_CLEARING",
    }


async def test_to_a_number_through_a_trunk(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """A number that is no extension goes out through the trunk (its provider's
    challenge answered), with the user's offer and the caller id asked for, which wins
    over the trunk's own."""
    alice = await provision(admin, "1001", name="Alice")
    provider = await sipp.start("uas_provider.xml", service="gateway", local_ip="127.0.0.2")
    trunk = await admin.post(
        "/api/trunks",
        json={
            "name": "provider",
            "host": "127.0.0.2",
            "port": provider.local_port,
            "transport": "udp",
            "username": "callboard-trunk",
            "password": "provider-secret-pw",
            "caller_id": "+15550009999",
            "registration": False,
        },
    )
    assert trunk.status_code == 200, trunk.text
    user = await answering(sipp, node, alice, scenario=USER_PHONE_HANGS_UP, duration_ms=300)
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "5551234567", display="+15550001000")
    await user.wait_calls(1)
    seen_by_alice = await user.stop()
    seen_by_provider = (await provider.wait(within=15)).check(calls=1)

    offer = _sdp(seen_by_alice.sent("SIP/2.0 200")[0])
    first, second = seen_by_provider.received("INVITE ")
    assert _sdp(first) == _sdp(second) == offer
    assert header(second, "From")[0].startswith(f'"Alice" <sip:+15550001000@{DOMAIN}>')
    assert header(second, "Authorization")  # the provider's challenge was answered
    answer = _sdp(seen_by_provider.sent("SIP/2.0 200")[0])
    assert _sdp(seen_by_alice.received("ACK ")[0]) == answer
    assert seen_by_provider.received("BYE ")

    mine, [out] = _legs(events, alice)
    assert mine.leg_id == leg_id and mine.callee.kind is PartyKind.EXTERNAL
    assert (out.callee.number, out.parent_id) == ("5551234567", leg_id)
    await events.wait_for(LegEnded, 2)
    records = await records_by_leg(node)
    assert records[out.leg_id].trunk_id == int(trunk.json()["id"])
    assert records[mine.leg_id].to_number == "5551234567"


async def test_from_the_sdk_web_phone_with_auto_answer(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    """The browser way: `client.invite(..., {autoAnswer: true})` with the SDK's own web
    phone registered. Its JsSIP gets the INVITE without SDP (linked to the call by
    X-Webitel-Uuid); the SDK answers it by itself (the ringing event hands the params
    back); JsSIP's offer reaches the destination's web phone, whose answer comes back in
    the ACK (JsSIP confirms the session only with an answer to its offer)."""
    alice, bob = await phones(admin, "1001", "1002")
    async with (
        WebitelClient("alice", insecure_tls=True) as sdk,
        JsSipPhone("bob", insecure_tls=True) as other,
    ):
        await register_web_phone(other, node, bob)
        await sdk.connect(
            f"{node.url}/ws", await make_token(admin, alice.user_id), register_web_device=True
        )
        await sdk.expect("phone_registered", registered=True)
        await sdk.subscribe_call()

        reply = await sdk.invite("1002", {"autoAnswer": True, "audio": True})
        call_id = reply["result"]["id"]
        ringing = await sdk.expect_call("ringing", call_id)
        assert ringing["direction"] == "outbound" and ringing["destination"] == "1002"
        mine = await sdk.expect("sip_session", incoming=True)
        assert mine["callId"] == call_id
        incoming = await other.expect("newRTCSession", direction="incoming")
        await other.answer(incoming["session"])
        offer = await other.expect("sdp", session=incoming["session"], originator="remote")
        assert offer["type"] == "offer" and "a=fingerprint:" in offer["sdp"]
        await sdk.expect("sip_state", session=mine["session"], state="confirmed")
        await other.expect("confirmed", session=incoming["session"])
        assert (await sdk.expect_call("active", call_id))["answeredAt"] > 0
        await sdk.expect_call("bridge", call_id)

        await other.hangup(incoming["session"])
        hangup = await sdk.expect_call("hangup", call_id)
        assert hangup["hangupCause"] == "NORMAL_CLEARING"
        await sdk.expect("sip_state", session=mine["session"], state="ended")
    mine_leg, [theirs] = _legs(events, alice)
    assert mine_leg.leg_id == call_id and mine_leg.params == {"autoAnswer": True, "audio": True}
    assert theirs.params == {}
    ended = await events.wait_for(LegEnded, 2)
    assert {(e.cause, e.record.hangup_by) for e in ended} == {("NORMAL_CLEARING", "callee")}


async def test_the_users_repeated_200_is_acked_only_with_the_answer(
    node: RunningServer, admin: httpx.AsyncClient, events: EventLog
) -> None:
    """Flow I's subtle part, with two hand-written UDP phones: the user's 200 (its offer)
    cannot be acknowledged before the destination answered, so a copy of it meanwhile
    gets nothing; after that, every copy gets the same ACK, answer included."""
    alice, bob = await phones(admin, "1001", "1002")
    server = server_of(node, "udp")
    peers = [await RawUdpPhone(p.account, p.password, DOMAIN).open() for p in (alice, bob)]
    user, destination = peers
    try:
        for phone in peers:
            await phone.register(server)

        async def barrier(phone: RawUdpPhone) -> None:
            """A round trip on the same socket: what the phone sent before is handled."""
            options = phone.request(
                "OPTIONS",
                f"sip:{DOMAIN}",
                call_id=f"opt-{len(phone.messages)}",
                cseq=1,
                to=f"<sip:{DOMAIN}>",
            )
            phone.send(options, server)
            await phone.wait("SIP/2.0 200", method="OPTIONS")

        async with _as_user(node, admin, alice) as api:
            leg_id = await _click(api, "1002", destination_timeout=20)
            invite = await user.wait("INVITE ")
            assert invite.body == ""
            offer = sdp(41000)
            contact = f"Contact: {user.contact}\r\n"
            ok = invite.response(200, "OK", to_tag="usertag", extra=contact, body=offer)
            user.send(ok, server)
            relayed = await destination.wait("INVITE ")
            assert relayed.body == offer
            user.send(ok, server)  # "retransmitted": the destination has not answered
            await barrier(user)
            assert not [m for m in user.messages if m.first_line.startswith("ACK")]

            answer = sdp(42000)
            their_contact = f"Contact: {destination.contact}\r\n"
            destination.send(
                relayed.response(200, "OK", to_tag="desttag", extra=their_contact, body=answer),
                server,
            )
            await destination.wait("ACK ")
            first_ack = await user.wait("ACK ")
            user.send(ok, server)
            second_ack = await user.wait("ACK ")
            for ack in (first_ack, second_ack):
                assert ack.body == answer
                assert ack.get("CSeq") == f"{invite.get('CSeq').split()[0]} ACK"
                assert ";tag=usertag" in ack.get("To")

            assert (await api.delete(f"/api/calls/active/{leg_id}")).status_code == 200
            for phone in peers:
                bye = await phone.wait("BYE ")
                phone.send(bye.response(200, "OK", to_tag=None), server)
        ended = await events.wait_for(LegEnded, 2)
        assert {(e.cause, e.record.hangup_by) for e in ended} == {("NORMAL_CLEARING", "caller")}
    finally:
        for phone in peers:
            phone.close()


# --------------------------------------------------------------------------- not connected


async def test_the_user_declines_and_the_destination_never_rings(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    alice, _, user, destination = await _ready(sipp, node, admin, "uas_busy.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
    [end] = await events.wait_for(LegEnded)
    await user.wait_calls(1)
    await user.stop()
    _never_rung(await destination.stop())
    assert (end.leg_id, end.cause, end.sip_code) == (leg_id, "USER_BUSY", 486)
    assert end.record.hangup_by == "caller" and end.record.answered_at is None
    assert [e.leg_id for e in events.of(LegRinging)] == [leg_id]
    assert not events.of(LegAnswered)


async def test_the_user_does_not_answer(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """`params.timeout` is how long the user's phones ring; then they are cancelled."""
    alice, _, user, destination = await _ready(sipp, node, admin, "uas_noanswer.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002", timeout=0.5)
    [end] = await events.wait_for(LegEnded)
    await user.wait_calls(1)
    seen_by_alice = await user.stop()
    _never_rung(await destination.stop())
    assert len(seen_by_alice.received("CANCEL ")) == 1
    assert (end.leg_id, end.cause, end.sip_code) == (leg_id, "NO_ANSWER", 480)
    assert end.record.hangup_by == "system"


async def test_the_destination_is_busy(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """The user's answered leg is released with the destination's cause: its offer is
    answered (every stream rejected) in the ACK, then a BYE says why."""
    alice, _, user, destination = await _ready(sipp, node, admin, USER_PHONE, "uas_busy.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
    seen_by_alice, _ = await _seen(user, destination)

    [ack] = seen_by_alice.received("ACK ")
    assert "m=audio 0 RTP/AVP 0" in _sdp(ack)  # the offer, answered and rejected
    [bye] = seen_by_alice.received("BYE ")
    assert _reason(bye) == 'SIP;cause=486;text="Busy Here"'
    mine, [theirs] = _legs(events, alice)
    ended = await events.wait_for(LegEnded, 2)
    assert {(e.leg_id, e.cause, e.sip_code) for e in ended} == {
        (mine.leg_id, "USER_BUSY", 486),
        (theirs.leg_id, "USER_BUSY", 486),
    }
    records = await records_by_leg(node)
    assert records[leg_id].answered_at is not None  # the user did answer
    assert records[leg_id].hangup_by == "callee" and records[theirs.leg_id].answered_at is None
    assert not events.of(LegBridged)


async def test_the_destination_does_not_answer(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """`params.destination_timeout`: the destination is cancelled, the user released."""
    alice, _, user, destination = await _ready(sipp, node, admin, USER_PHONE, "uas_noanswer.xml")
    async with _as_user(node, admin, alice) as api:
        await _click(api, "1002", destination_timeout=0.5)
    seen_by_alice, seen_by_bob = await _seen(user, destination)
    assert len(seen_by_bob.received("CANCEL ")) == 1
    assert _reason(seen_by_alice.received("BYE ")[0]).startswith("SIP;cause=480;")
    ended = await events.wait_for(LegEnded, 2)
    assert {(e.cause, e.sip_code, e.record.hangup_by) for e in ended} == {
        ("NO_ANSWER", 480, "system")
    }


async def test_hangup_from_the_api_while_the_user_rings(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """The user's phone is cancelled and nothing else rings."""
    tune(node, ring_timeout=20.0)
    alice, _, user, destination = await _ready(sipp, node, admin, "uas_noanswer.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
        await user.wait_for_log("CALLBOARD-CALL-START")
        response = await api.delete(f"/api/calls/active/{leg_id}")
        assert response.status_code == 200, response.text
    [end] = await events.wait_for(LegEnded)
    await user.wait_calls(1)
    seen_by_alice = await user.stop()
    _never_rung(await destination.stop())
    assert len(seen_by_alice.received("CANCEL ")) == 1
    assert (end.leg_id, end.cause, end.sip_code) == (leg_id, "ORIGINATOR_CANCEL", 487)
    assert end.record.hangup_by == "caller"
    assert [e.leg_id for e in events.of(LegRinging)] == [leg_id]


async def test_hangup_from_the_api_while_the_destination_rings(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """The destination is cancelled, and the user's answered phone released."""
    tune(node, ring_timeout=20.0)
    alice, _, user, destination = await _ready(sipp, node, admin, USER_PHONE, "uas_noanswer.xml")
    async with _as_user(node, admin, alice) as api:
        leg_id = await _click(api, "1002")
        await destination.wait_for_log("CALLBOARD-CALL-START")
        response = await api.delete(f"/api/calls/active/{leg_id}")
        assert response.status_code == 200, response.text
    seen_by_alice, seen_by_bob = await _seen(user, destination)
    assert len(seen_by_bob.received("CANCEL ")) == 1
    assert _reason(seen_by_alice.received("BYE ")[0]) == 'SIP;cause=487;text="Request Terminated"'
    mine, [theirs] = _legs(events, alice)
    ended = await events.wait_for(LegEnded, 2)
    assert {(e.leg_id, e.cause, e.record.hangup_by) for e in ended} == {
        (mine.leg_id, "ORIGINATOR_CANCEL", "caller"),
        (theirs.leg_id, "ORIGINATOR_CANCEL", "caller"),
    }


async def test_no_registered_device_fails_at_once(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """Nothing to ring: the request itself fails, over REST and over the socket, and no
    leg ever existed."""
    alice, bob = await phones(admin, "1001", "1002")
    destination = await answering(sipp, node, bob)
    async with _as_user(node, admin, alice) as api:
        response = await api.post("/api/calls", json={"destination": "1002"})
    assert response.status_code == 409, response.text
    assert response.json()["id"] == "app.call.originate.no_device"
    async with WebitelClient("alice") as sdk:
        await sdk.connect(f"{node.url}/ws", await make_token(admin, alice.user_id))
        with pytest.raises(WebitelRejected) as refused:
            await sdk.invite("1002", {"timeout": 30})
        # The SDK rejects with the server's error object as is.
        error = refused.value.error["raw"]
        assert (error["id"], error["code"]) == ("app.call.originate.no_device", 409)
        assert "no registered device" in error["detail"]
    _never_rung(await destination.stop())
    assert list(events) == []
