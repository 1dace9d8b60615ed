"""The per-socket outbox: bounded, never waits on put, closes with or without flushing."""

from __future__ import annotations

import asyncio

from callboard.realtime.outbox import Outbox


async def test_frames_come_out_in_order_and_a_waiting_writer_is_woken() -> None:
    outbox = Outbox(limit=10)
    writer = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)
    assert not writer.done()
    assert outbox.put("a") and outbox.put("b")
    assert await writer == "a"
    assert await outbox.get() == "b"


async def test_a_full_outbox_refuses_without_waiting() -> None:
    outbox = Outbox(limit=2)
    assert outbox.put("a") and outbox.put("b")
    assert not outbox.put("c")
    assert len(outbox) == 2


async def test_close_after_the_queued_frames() -> None:
    outbox = Outbox(limit=10)
    outbox.put("error event")
    outbox.close(4001, "session revoked")
    assert not outbox.put("late")
    assert await outbox.get() == "error event"
    assert await outbox.get() is None
    assert outbox.closing == (4001, "session revoked")


async def test_drop_discards_what_waits_and_wakes_the_writer() -> None:
    outbox = Outbox(limit=10)
    writer = asyncio.create_task(outbox.get())
    await asyncio.sleep(0)
    outbox.close(1011, "too slow", flush=False)
    assert await writer is None
    outbox2 = Outbox(limit=10)
    outbox2.put("stale")
    outbox2.close(1011, "too slow", flush=False)
    assert await outbox2.get() is None
