"""Parallel forking: a user with two registered phones; both ring, the first to answer
wins, the other is cancelled."""

from __future__ import annotations

import httpx

from callboard.calls.events import LegAnswered, LegBridged, LegEnded, LegRinging
from tests.integration.conftest import EventLog, provision, provision_devices
from tests.integration.helpers import agent, answering, finals, header, records_by_leg, server_of
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def test_both_phones_ring_first_answer_wins(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: EventLog
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    desk, mobile = await provision_devices(admin, "1002", ["1002", "1102"], name="Bob")
    # The desk phone answers at once; the mobile rings until it is cancelled.
    answers = await answering(sipp, node, desk, "udp", "uas_answer.xml")
    rings = await answering(sipp, node, mobile, "udp", "uas_noanswer.xml")
    result = await agent(sipp, alice).call(server_of(node, "udp"), "1002", duration_ms=200)
    assert finals(result.received("SIP/2.0")) == [407, 200, 200]
    await answers.wait_calls(1)
    await rings.wait_calls(1)
    seen_by_desk, seen_by_mobile = await answers.stop(), await rings.stop()

    # Both phones got the INVITE, each at its own contact, with its own Call-ID.
    [to_desk], [to_mobile] = seen_by_desk.received("INVITE "), seen_by_mobile.received("INVITE ")
    assert to_desk.startswith("INVITE sip:1002@") and to_mobile.startswith("INVITE sip:1102@")
    assert header(to_desk, "Call-ID") != header(to_mobile, "Call-ID")
    assert header(to_desk, "To") == header(to_mobile, "To")
    # The one that did not answer was cancelled ("completed elsewhere", RFC 3326), and
    # its 487 acknowledged; the winner talked until the caller's BYE.
    [cancel] = seen_by_mobile.received("CANCEL ")
    assert 'cause=200;text="Call completed elsewhere"' in header(cancel, "Reason")[0]
    assert seen_by_mobile.received("ACK ") and not seen_by_mobile.received("BYE ")
    assert seen_by_desk.received("BYE ")

    # One leg for Bob (the user), whatever the number of his phones.
    caller, callee = events.of(LegRinging)
    assert callee.user_id == int(desk.user_id) and callee.parent_id == caller.leg_id
    assert len(events.of(LegAnswered)) == 2
    assert {(e.leg_id, e.bridged_id) for e in events.of(LegBridged)} == {
        (caller.leg_id, callee.leg_id),
        (callee.leg_id, caller.leg_id),
    }
    await events.wait_for(LegEnded, 2)
    assert {e.cause for e in events.of(LegEnded)} == {"NORMAL_CLEARING"}
    record = (await records_by_leg(node))[callee.leg_id]
    assert record.answered_at is not None and record.sip_call_id == header(to_desk, "Call-ID")[0]
