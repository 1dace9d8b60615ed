"""Calls between registered SIPp agents through Callboard's B2BUA."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from callboard.calls.events import LegAnswered, LegBridged, LegEnded, LegEvent, LegRinging
from callboard.sip.transport import TransportKind
from callboard.store.models import CallRecord
from tests.integration.conftest import DOMAIN, provision
from tests.support.server import RunningServer
from tests.support.sipp import Sipp


async def test_basic_call_udp(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, events: list[LegEvent]
) -> None:
    alice = await provision(admin, "1001", name="Alice")
    bob = await provision(admin, "1002", name="Bob")
    server = str(node.sip_address(TransportKind.UDP))

    callee = sipp.agent(bob.account, bob.password, domain=DOMAIN)
    answering = await callee.answer_calls(server=server, calls=1)
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
    await caller.register(server)
    result = await caller.call(server, bob.extension, duration_ms=300)
    assert result.ok, result.report()
    await answering.wait_calls(1)

    kinds = [type(event).__name__ for event in events]
    assert kinds[:2] == ["LegRinging", "LegRinging"]
    ringing = [e for e in events if isinstance(e, LegRinging)]
    a, b = ringing
    assert (a.user_id, b.user_id) == (int(alice.user_id), int(bob.user_id))
    assert (a.direction, b.direction) == ("outbound", "inbound")
    assert b.parent_id == a.leg_id and a.caller.name == "Alice" and b.callee.number == "1002"
    assert sum(isinstance(e, LegAnswered) for e in events) == 2
    bridged = {e.leg_id: e.bridged_id for e in events if isinstance(e, LegBridged)}
    assert bridged == {a.leg_id: b.leg_id, b.leg_id: a.leg_id}
    ended = [e for e in events if isinstance(e, LegEnded)]
    assert {e.cause for e in ended} == {"NORMAL_CLEARING"} and len(ended) == 2

    await node.telephony.history.flush()  # type: ignore[union-attr]
    async with node.runtime.db.transaction() as session:
        records = list(await session.scalars(select(CallRecord).order_by(CallRecord.created_at)))
    assert [(r.direction, r.from_number, r.to_number, r.hangup_by) for r in records] == [
        ("outbound", "1001", "1002", "caller"),
        ("inbound", "1001", "1002", "caller"),
    ]
    assert all(r.answered_at is not None and r.sip_code == 200 for r in records)
    await asyncio.sleep(0)
