"""What waits to be written to one client's socket.

The call engine hands every event to every socket of its user in turn, inside its own
step: putting a frame here must never wait. The outbox is bounded: a client that falls
that far behind (a frozen tab, a dead network) is dropped, and its frames with it, so
that neither memory nor the engine waits for it. It is a plain deque with one waiting
writer, which is all a single-writer queue needs (an `asyncio.Queue` per socket costs
some 3 KB more).
"""

from __future__ import annotations

import asyncio
from collections import deque


class Outbox:
    __slots__ = ("_frames", "_limit", "_waiter", "closing")

    def __init__(self, limit: int) -> None:
        self._frames: deque[str] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        #: Set once the socket is to be closed: (WebSocket close code, reason).
        self.closing: tuple[int, str] | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: str) -> bool:
        """Queue `frame`; False when closing, or when the client is too far behind (the
        caller then drops it)."""
        if self.closing is not None or len(self._frames) >= self._limit:
            return False
        self._frames.append(frame)
        self._wake()
        return True

    def close(self, code: int, reason: str = "", *, flush: bool = True) -> None:
        """Close after the frames already queued (`flush`), or at once, dropping them."""
        if self.closing is None:
            self.closing = (code, reason)
        if not flush:
            self._frames.clear()
        self._wake()

    async def get(self) -> str | None:
        """The next frame, waiting for one; None once closing and nothing is left."""
        while not self._frames:
            if self.closing is not None:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.popleft()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
