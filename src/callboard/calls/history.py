"""The call history: every finished leg becomes a record, written in the background.

The engine never waits for the database: `LegEnded` events are queued and written in
batches. A failed write is logged and retried once; the queue is bounded, and what does
not fit is logged as lost rather than slowing calls down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from sqlalchemy import Table, insert

from callboard.calls.events import LegEnded, LegRecord
from callboard.events.bus import EventBus
from callboard.store.database import Database
from callboard.store.models import CallRecord

#: One INSERT executed for the whole batch (executemany), not the ORM's unit of work: at
#: a few hundred calls a second the ORM's per-object bookkeeping cost the event loop
#: some 8% of its time, in flushes long enough to delay SIP messages.
_INSERT = insert(cast(Table, CallRecord.__table__))

log = logging.getLogger(__name__)

BATCH = 200


class HistoryWriter:
    def __init__(
        self, db: Database, bus: EventBus, *, max_queue: int = 100_000, coalesce: float = 0.2
    ) -> None:
        self.db = db
        #: How long a record waits for others to share its transaction. Each transaction
        #: costs several hand-offs to the database thread and wake-ups of the event loop:
        #: at 100 calls a second, one per call was some 7% of the loop's time.
        self.coalesce = coalesce
        self._queue: asyncio.Queue[LegRecord] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = bus.subscribe(LegEnded, self._on_ended)

    def _on_ended(self, event: LegEnded) -> None:
        try:
            self._queue.put_nowait(event.record)
        except asyncio.QueueFull:
            log.error("call history queue full: record of leg %s lost", event.leg_id)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="call-history-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._unsubscribe()
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def flush(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self.coalesce > 0 and self._queue.qsize() < BATCH - 1:
                await asyncio.sleep(self.coalesce)
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("writing %d call records failed; retrying once", len(batch))
                try:
                    await self._write(batch)
                except Exception:
                    log.exception("%d call records lost", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[LegRecord]) -> None:
        async with self.db.transaction() as session:
            await session.execute(_INSERT, [_row(record) for record in batch])


def _row(record: LegRecord) -> dict[str, Any]:
    """The call_records row of a finished leg (column name: value)."""
    answered = record.answered_at
    return dict(
        id=record.leg_id,
        call_id=record.call_id,
        parent_id=record.parent_id,
        domain_id=record.domain_id,
        user_id=record.user_id,
        direction=record.direction.value,
        from_number=record.caller.number,
        from_name=record.caller.name,
        from_type=record.caller.kind.value,
        from_user_id=record.caller.user_id,
        to_number=record.callee.number,
        to_name=record.callee.name,
        to_type=record.callee.kind.value,
        to_user_id=record.callee.user_id,
        destination=record.destination,
        sip_call_id=record.sip_call_id,
        trunk_id=record.trunk_id,
        created_at=record.created_at,
        answered_at=answered,
        bridged_at=record.bridged_at,
        hangup_at=record.hangup_at,
        duration=max(0, (record.hangup_at - record.created_at) // 1000),
        bill_sec=0 if answered is None else max(0, (record.hangup_at - answered) // 1000),
        hold_sec=record.hold_sec,
        cause=record.cause.value,
        sip_code=record.sip_code,
        hangup_by=record.hangup_by,
        transfer_to=record.transfer_to,
        variables=record.variables,
    )
