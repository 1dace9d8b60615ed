"""The directory cache of the call engine: single-flight loads, stale-while-refresh."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from callboard.directory.telephony import DirectoryView
from callboard.security.secretbox import SecretBox
from callboard.store.database import Database


class CountingLoad:
    """A load that blocks until released and counts how often it ran."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        return self.value


def make_view(ttl: float = 30.0) -> DirectoryView:
    # The cache logic never touches the database or the secret box.
    return DirectoryView(cast(Database, None), cast(SecretBox, None), ttl=ttl)


async def test_concurrent_misses_share_one_load() -> None:
    view = make_view()
    load = CountingLoad("alice")
    waiters = [asyncio.create_task(view._cached(("user", 1), load)) for _ in range(50)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiters) == ["alice"] * 50
    assert load.calls == 1
    assert await view._cached(("user", 1), load) == "alice"
    assert load.calls == 1


async def test_expired_entry_is_served_while_one_task_refreshes_it() -> None:
    view = make_view(ttl=0.0)
    first = CountingLoad("old")
    first.release.set()
    assert await view._cached(("user", 1), first) == "old"

    second = CountingLoad("new")
    answers = [await view._cached(("user", 1), second) for _ in range(10)]
    assert answers == ["old"] * 10
    await asyncio.sleep(0)
    assert second.calls == 1
    second.release.set()
    await asyncio.sleep(0.01)
    view.ttl = 30.0
    assert await view._cached(("user", 1), second) == "new"


async def test_a_load_started_before_invalidate_is_not_stored() -> None:
    view = make_view()
    stale = CountingLoad("before the change")
    waiter = asyncio.create_task(view._cached(("user", 1), stale))
    await asyncio.sleep(0)
    view.invalidate()
    stale.release.set()
    assert await waiter == "before the change"

    fresh = CountingLoad("after the change")
    fresh.release.set()
    assert await view._cached(("user", 1), fresh) == "after the change"
    assert fresh.calls == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_load() -> None:
    view = make_view()
    load = CountingLoad("alice")
    impatient = asyncio.create_task(view._cached(("user", 1), load))
    patient = asyncio.create_task(view._cached(("user", 1), load))
    await asyncio.sleep(0)
    impatient.cancel()
    load.release.set()
    assert await patient == "alice"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert load.calls == 1


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    view = make_view()
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("database is down")

    results = await asyncio.gather(
        *(view._cached(("user", 1), broken) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1

    healthy = CountingLoad("alice")
    healthy.release.set()
    assert await view._cached(("user", 1), healthy) == "alice"
