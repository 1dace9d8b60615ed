"""Finished legs reach the call history without the engine waiting for the database."""

from __future__ import annotations

from sqlalchemy import select

from callboard.calls.causes import HangupCause
from callboard.calls.events import Direction, LegEnded, LegRecord, Party, PartyKind
from callboard.calls.history import HistoryWriter
from callboard.config import Settings
from callboard.directory.bootstrap import create_tenant
from callboard.events.bus import EventBus
from callboard.store.database import Database
from callboard.store.models import CallRecord


def _ended(leg: str, *, answered: int | None) -> LegEnded:
    record = LegRecord(
        leg_id=leg,
        call_id="call-1",
        parent_id=None if leg == "a" else "a",
        domain_id=1,
        user_id=None,
        direction=Direction.OUTBOUND if leg == "a" else Direction.INBOUND,
        caller=Party("1001", "Alice", PartyKind.USER, None),
        callee=Party("1002", "Bob", PartyKind.USER, None),
        destination="1002",
        sip_call_id=f"sip-{leg}",
        created_at=1_700_000_000_000,
        answered_at=answered,
        bridged_at=answered,
        hangup_at=1_700_000_065_500,
        hold_sec=3,
        cause=HangupCause.NORMAL_CLEARING if answered else HangupCause.NO_ANSWER,
        sip_code=200 if answered else 480,
        hangup_by="caller",
    )
    return LegEnded(
        leg_id=leg,
        call_id="call-1",
        domain_id=1,
        user_id=None,
        timestamp=record.hangup_at,
        cause=record.cause,
        sip_code=record.sip_code,
        record=record,
    )


async def test_records_written_in_background(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    await db.migrate()
    await create_tenant(db, "callboard.lo")
    bus = EventBus()
    writer = HistoryWriter(db, bus)
    writer.start()
    try:
        bus.publish(_ended("a", answered=1_700_000_005_000))
        bus.publish(_ended("b", answered=None))
        await writer.flush()
        async with db.transaction() as session:
            rows = {row.id: row for row in await session.scalars(select(CallRecord))}
        assert set(rows) == {"a", "b"}
        assert (rows["a"].duration, rows["a"].bill_sec, rows["a"].cause) == (
            65,
            60,
            "NORMAL_CLEARING",
        )
        assert (rows["b"].bill_sec, rows["b"].sip_code, rows["b"].parent_id) == (0, 480, "a")
        assert rows["a"].from_number == "1001" and rows["b"].direction == "inbound"
    finally:
        await writer.stop()
        await db.close()
