"""Calls between registered SIPp agents through the B2BUA, over UDP and TCP: what each
peer saw, the leg events, and the call-history rows."""

from __future__ import annotations

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
)
from callboard.store.models import CallRecord
from tests.integration.conftest import DOMAIN, EventLog, tune
from tests.integration.helpers import (
    agent,
    answering,
    body,
    call_between,
    finals,
    header,
    phones,
    records_by_leg,
    server_of,
)
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippResult, Transport

TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])


def _two_legs(events: EventLog) -> tuple[LegRinging, LegRinging]:
    caller, callee = events.of(LegRinging)
    assert caller.parent_id is None and callee.parent_id == caller.leg_id
    assert (caller.direction, callee.direction) == (Direction.OUTBOUND, Direction.INBOUND)
    return caller, callee


def _check_bridged(events: EventLog, a: str, b: str) -> None:
    bridged = {(e.leg_id, e.bridged_id) for e in events.of(LegBridged)}
    assert {(a, b), (b, a)} <= bridged


async def _ended_both(
    node: RunningServer, events: EventLog, caller: LegRinging, callee: LegRinging
) -> tuple[CallRecord, CallRecord]:
    ended = await events.wait_for(LegEnded, 2)
    assert {e.leg_id for e in ended} == {caller.leg_id, callee.leg_id}
    records = await records_by_leg(node)
    return records[caller.leg_id], records[callee.leg_id]


# --------------------------------------------------------------------------- answered


@TRANSPORTS
async def test_answered_call_caller_hangs_up(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    alice, bob = await phones(admin, "1001", "1002")
    result, seen_by_bob = await call_between(sipp, node, alice, bob, transport, duration_ms=200)

    # The caller was challenged (407) and then answered; the callee got our INVITE
    # with the caller's identity and SDP, over its own transport.
    assert finals(result.received("SIP/2.0")) == [407, 200, 200]
    [invite] = seen_by_bob.received("INVITE ")
    assert invite.startswith(f"INVITE sip:{bob.account}@127.0.0.1:")
    assert header(invite, "From")[0].startswith(f'"Alice" <sip:1001@{DOMAIN}>')
    assert f"SIP/2.0/{transport.upper()}" in header(invite, "Via")[0]
    assert "m=audio" in body(invite) and "RTP/AVP 0 101" in body(invite)
    assert len(seen_by_bob.received("BYE ")) == 1

    caller, callee_leg = _two_legs(events)
    assert caller.callee.number == "1002" and callee_leg.caller.name == "Alice"
    assert len(events.of(LegAnswered)) == 2
    _check_bridged(events, caller.leg_id, callee_leg.leg_id)
    a, b = await _ended_both(node, events, caller, callee_leg)
    assert {e.cause for e in events.of(LegEnded)} == {"NORMAL_CLEARING"}
    assert (a.hangup_by, b.hangup_by) == ("caller", "caller")
    assert (a.direction, a.from_number, a.to_number) == ("outbound", "1001", "1002")
    assert (b.direction, b.from_number, b.to_number) == ("inbound", "1001", "1002")
    assert a.answered_at is not None and b.answered_at is not None
    assert a.sip_code == b.sip_code == 200 and a.call_id == b.call_id


@TRANSPORTS
async def test_callee_hangs_up(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    alice, bob = await phones(admin, "1001", "1002")
    result, seen_by_bob = await call_between(
        sipp,
        node,
        alice,
        bob,
        transport,
        scenario="uac_bye_from_callee.xml",
        answer="uas_hangup.xml",
        answer_ms=200,
    )
    assert len(result.received("BYE ")) == 1
    # Its REGISTER was challenged and accepted, and then its BYE answered.
    assert len(seen_by_bob.sent("BYE ")) == 1
    assert finals(seen_by_bob.received("SIP/2.0")) == [401, 200, 200]

    caller, callee_leg = _two_legs(events)
    a, b = await _ended_both(node, events, caller, callee_leg)
    assert {e.cause for e in events.of(LegEnded)} == {"NORMAL_CLEARING"}
    assert (a.hangup_by, b.hangup_by) == ("callee", "callee")
    assert a.answered_at is not None and a.sip_code == 200


# --------------------------------------------------------------------------- not answered


@TRANSPORTS
async def test_busy(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    alice, bob = await phones(admin, "1001", "1002")
    result, _ = await call_between(
        sipp, node, alice, bob, transport, scenario="uac_busy.xml", answer="uas_busy.xml"
    )
    assert finals(result.received("SIP/2.0")) == [407, 486]

    caller, callee_leg = _two_legs(events)
    assert not events.of(LegAnswered)
    a, b = await _ended_both(node, events, caller, callee_leg)
    assert [(e.cause, e.sip_code) for e in events.of(LegEnded)] == [("USER_BUSY", 486)] * 2
    assert (a.cause, a.sip_code, a.hangup_by, a.answered_at) == ("USER_BUSY", 486, "callee", None)
    assert (b.cause, b.sip_code) == ("USER_BUSY", 486)


@TRANSPORTS
async def test_no_answer_rings_out(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    """The ring timeout: the callee's INVITE is cancelled, the caller gets 480."""
    tune(node, ring_timeout=0.5)
    alice, bob = await phones(admin, "1001", "1002")
    result, seen_by_bob = await call_between(
        sipp, node, alice, bob, transport, scenario="uac_noanswer.xml", answer="uas_noanswer.xml"
    )
    assert finals(result.received("SIP/2.0")) == [407, 480]
    assert len(result.received("SIP/2.0 180")) >= 1
    assert len(seen_by_bob.received("CANCEL ")) == 1 and seen_by_bob.received("ACK ")

    caller, callee_leg = _two_legs(events)
    a, b = await _ended_both(node, events, caller, callee_leg)
    assert [(e.cause, e.sip_code) for e in events.of(LegEnded)] == [("NO_ANSWER", 480)] * 2
    assert (a.cause, a.hangup_by, a.answered_at) == ("NO_ANSWER", "system", None)
    assert (b.cause, b.sip_code, b.answered_at) == ("NO_ANSWER", 480, None)
    assert 0.45 <= (a.hangup_at - a.created_at) / 1000 < 2.5


@TRANSPORTS
async def test_caller_cancels_while_ringing(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    alice, bob = await phones(admin, "1001", "1002")
    result, seen_by_bob = await call_between(
        sipp,
        node,
        alice,
        bob,
        transport,
        scenario="uac_cancel.xml",
        duration_ms=200,
        answer="uas_noanswer.xml",
    )
    assert sorted(finals(result.received("SIP/2.0"))) == [200, 407, 487]  # 200 is the CANCEL's
    assert len(seen_by_bob.received("CANCEL ")) == 1

    caller, callee_leg = _two_legs(events)
    a, b = await _ended_both(node, events, caller, callee_leg)
    assert [(e.cause, e.sip_code) for e in events.of(LegEnded)] == [("ORIGINATOR_CANCEL", 487)] * 2
    assert (a.hangup_by, b.hangup_by) == ("caller", "caller")
    assert a.answered_at is None and b.answered_at is None


# --------------------------------------------------------------------------- in the call


@TRANSPORTS
async def test_hold_and_resume_by_reinvite(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    """The caller holds (a=sendonly) and resumes (a=sendrecv): each offer reaches the
    callee, each answer (recvonly, then sendrecv; the scenario checks them) comes back,
    and the caller's leg is held, then resumed."""
    alice, bob = await phones(admin, "1001", "1002")
    result, seen_by_bob = await call_between(
        sipp, node, alice, bob, transport, scenario="uac_hold.xml", duration_ms=100
    )

    offers = [body(m) for m in seen_by_bob.received("INVITE ")]
    assert len(offers) == 3
    assert ["a=sendrecv" in offers[0], "a=sendonly" in offers[1], "a=sendrecv" in offers[2]] == [
        True
    ] * 3
    answers = [body(m) for m in result.received("SIP/2.0 200") if "m=audio" in m]
    assert ["a=recvonly" in answers[-2], "a=sendrecv" in answers[-1]] == [True, True]

    caller, callee_leg = _two_legs(events)
    assert [e.leg_id for e in events.of(LegHeld)] == [caller.leg_id]
    assert [e.leg_id for e in events.of(LegResumed)] == [caller.leg_id]
    order = events.kinds()
    assert order.index("LegHeld") < order.index("LegResumed") < order.index("LegEnded")
    a, _b = await _ended_both(node, events, caller, callee_leg)
    assert a.cause == "NORMAL_CLEARING" and a.hold_sec == 0


@TRANSPORTS
async def test_dtmf_by_info(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    """INFO application/dtmf-relay: each digit is a LegDtmf of the sender's leg, and the
    INFO is relayed to the other party."""
    alice, bob = await phones(admin, "1001", "1002")
    _, seen_by_bob = await call_between(
        sipp, node, alice, bob, transport, scenario="uac_info_dtmf.xml", duration_ms=100
    )
    relayed = [body(m).strip() for m in seen_by_bob.received("INFO ")]
    assert [r.splitlines()[0] for r in relayed] == ["Signal=5", "Signal=#"]
    assert all(
        header(m, "Content-Type") == ["application/dtmf-relay"]
        for m in seen_by_bob.received("INFO ")
    )

    caller, _callee_leg = _two_legs(events)
    dtmf = events.of(LegDtmf)
    assert [(e.leg_id, e.digit) for e in dtmf] == [(caller.leg_id, "5"), (caller.leg_id, "#")]


# --------------------------------------------------------------------------- transfer


async def _blind_transfer(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
    *,
    talk_ms: int = 300,
) -> tuple[SippResult, SippResult, SippResult, dict[str, LegRinging]]:
    """Alice calls Bob and transfers him (REFER) to Carol, who hangs up `talk_ms` after
    she answered."""
    alice, bob, carol = await phones(admin, "1001", "1002", "1003")
    transferee = await answering(sipp, node, bob, transport)
    target = await answering(sipp, node, carol, transport, "uas_hangup.xml", duration_ms=talk_ms)
    referrer = await agent(sipp, alice, transport).call(
        server_of(node, transport),
        bob.extension,
        scenario="uac_refer.xml",
        duration_ms=100,
        keys={"refer_to": f"sip:{carol.extension}@{DOMAIN}"},
    )
    await target.wait_calls(1)
    await transferee.wait_calls(1)
    seen_by_bob, seen_by_carol = await transferee.stop(), await target.stop()
    legs = {e.callee.number if e.parent_id else "1001": e for e in events.of(LegRinging)}
    return referrer, seen_by_bob, seen_by_carol, legs


def _check_transfer(
    events: EventLog,
    referrer: SippResult,
    seen_by_bob: SippResult,
    seen_by_carol: SippResult,
    legs: dict[str, LegRinging],
) -> None:
    a, b, c = legs["1001"], legs["1002"], legs["1003"]
    # The referrer: 202, then NOTIFYs with message/sipfrag bodies ending in 200.
    assert finals(referrer.received("SIP/2.0"))[:3] == [407, 200, 202]
    notifies = referrer.received("NOTIFY ")
    fragments = [body(n).strip() for n in notifies]
    assert fragments[0] == "SIP/2.0 100 Trying" and fragments[-1] == "SIP/2.0 200 OK"
    assert all(header(n, "Event") == ["refer"] for n in notifies)
    assert all(header(n, "Content-Type") == ["message/sipfrag;version=2.0"] for n in notifies)
    assert header(notifies[-1], "Subscription-State")[0].startswith("terminated")
    # Carol was called on Bob's behalf, with Bob's SDP; Bob was re-INVITEd with Carol's.
    [invite] = seen_by_carol.received("INVITE ")
    assert header(invite, "From")[0].startswith(f'"Bob" <sip:1002@{DOMAIN}>')
    reinvite = seen_by_bob.received("INVITE ")[-1]
    assert body(reinvite) == body(seen_by_carol.sent("SIP/2.0 200")[0])
    assert len(seen_by_bob.received("BYE ")) == 1  # when Carol hung up

    assert c.parent_id == b.leg_id and c.caller.number == "1002"
    [transferred] = events.of(LegTransferred)
    assert (transferred.leg_id, transferred.destination) == (a.leg_id, "1003")
    bridged = [(e.leg_id, e.bridged_id) for e in events.of(LegBridged)]
    assert bridged[-2:] == [(b.leg_id, c.leg_id), (c.leg_id, b.leg_id)]
    causes = {e.leg_id: e.cause for e in events.of(LegEnded)}
    assert causes == {
        a.leg_id: "BLIND_TRANSFER",
        b.leg_id: "NORMAL_CLEARING",
        c.leg_id: "NORMAL_CLEARING",
    }
    order = [(type(e).__name__, e.leg_id) for e in events]
    assert order.index(("LegTransferred", a.leg_id)) < order.index(("LegRinging", c.leg_id))
    assert order.index(("LegEnded", a.leg_id)) < order.index(("LegEnded", c.leg_id))


@TRANSPORTS
async def test_blind_transfer_server_releases_referrer(
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    events: EventLog,
    transport: Transport,
) -> None:
    """REFER from the caller: 202, NOTIFY sipfrags, the transferee is bridged to the
    target, and the server hangs up on the referrer once the transfer is done."""
    tune(node, transfer_bye_delay=0.2)
    referrer, seen_by_bob, seen_by_carol, legs = await _blind_transfer(
        node, admin, sipp, events, transport
    )
    assert len(referrer.received("BYE ")) == 1 and not referrer.sent("BYE ")
    _check_transfer(events, referrer, seen_by_bob, seen_by_carol, legs)
    await events.wait_for(LegEnded, 3)
    records = await records_by_leg(node)
    a, b, c = (records[legs[n].leg_id] for n in ("1001", "1002", "1003"))
    assert (a.cause, a.transfer_to, a.hangup_by) == ("BLIND_TRANSFER", "1003", "system")
    assert (b.cause, c.cause) == ("NORMAL_CLEARING", "NORMAL_CLEARING")
    assert c.parent_id == b.id and c.answered_at is not None and c.from_number == "1002"


async def test_blind_transfer_referrer_hangs_up(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """RFC 5589: the referrer hangs up itself after the final NOTIFY. Only its leg ends;
    the transferee and the target stay bridged until the target hangs up."""
    tune(node, transfer_bye_delay=30.0)
    # uac_refer.xml waits 2 s for the server's BYE before it sends its own; Carol
    # talks longer than that.
    referrer, seen_by_bob, seen_by_carol, legs = await _blind_transfer(
        node, admin, sipp, events, "udp", talk_ms=2600
    )
    assert len(referrer.sent("BYE ")) == 1 and not referrer.received("BYE ")
    _check_transfer(events, referrer, seen_by_bob, seen_by_carol, legs)
    # When Alice left, Bob and Carol were still talking.
    order = [(type(e).__name__, e.leg_id) for e in events]
    alice_left = order.index(("LegEnded", legs["1001"].leg_id))
    assert all(name != "LegEnded" for name, _ in order[:alice_left])
    records = await records_by_leg(node)
    a = records[legs["1001"].leg_id]
    assert (a.cause, a.transfer_to, a.hangup_by) == ("BLIND_TRANSFER", "1003", "caller")


# --------------------------------------------------------------------------- refused


async def test_unknown_extension_gets_404(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    [alice] = await phones(admin, "1001")
    result = await agent(sipp, alice).call(
        server_of(node, "udp"), "1999", scenario="uac_rejected.xml"
    )
    assert finals(result.received("SIP/2.0")) == [407, 404]
    [leg] = events.of(LegRinging)
    [end] = events.of(LegEnded)
    assert (leg.destination, end.cause, end.sip_code) == ("1999", "UNALLOCATED_NUMBER", 404)
    record = (await records_by_leg(node))[leg.leg_id]
    assert (record.to_number, record.cause, record.sip_code) == ("1999", "UNALLOCATED_NUMBER", 404)


async def test_user_registered_nowhere_gets_480(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    alice, _bob = await phones(admin, "1001", "1002")
    result = await agent(sipp, alice).call(
        server_of(node, "udp"), "1002", scenario="uac_rejected.xml"
    )
    assert finals(result.received("SIP/2.0")) == [407, 480]
    [leg] = events.of(LegRinging)
    [end] = events.of(LegEnded)
    assert (end.leg_id, end.cause, end.sip_code) == (leg.leg_id, "USER_NOT_REGISTERED", 480)
    record = (await records_by_leg(node))[leg.leg_id]
    assert (record.to_number, record.cause, record.sip_code) == ("1002", "USER_NOT_REGISTERED", 480)


async def test_webrtc_offer_to_plain_rtp_phone_gets_488(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    """Until media is anchored, a WebRTC offer cannot reach a plain RTP phone: 488 with
    a Warning that says why, and the phone is never rung."""
    alice, bob = await phones(admin, "1001", "1002")
    callee = await answering(sipp, node, bob)
    result = await agent(sipp, alice).call(
        server_of(node, "udp"), bob.extension, scenario="uac_webrtc_offer.xml"
    )
    [refusal] = result.received("SIP/2.0 488")
    [warning] = header(refusal, "Warning")
    assert warning.startswith("399 ") and "Incompatible media" in warning
    assert "WebRTC" in warning or "webrtc" in warning
    seen_by_bob = await callee.stop()
    assert not seen_by_bob.received("INVITE ")
    [end] = events.of(LegEnded)
    assert (end.cause, end.sip_code) == ("INCOMPATIBLE_DESTINATION", 488)
