"""A 2xx to INVITE waiting for its ACK (RFC 3261 §13.3.1.4).

The 2xx of an INVITE is not retransmitted by the server transaction (it leaves for the
Accepted state, RFC 6026); the UAS core retransmits it itself at T1, 2*T1, ... capped at
T2, until the ACK arrives or 64*T1 has passed. It does so over every transport, TCP and
TLS included, as §13.3.1.4 says: proxies forward a 2xx statelessly, so the hop that lost
it may be a UDP hop behind a TCP one, and only the UAS can send it again.

The endpoint's ``send_2xx_reliably`` creates one of these and completes it when an ACK
with the same Call-ID and CSeq number arrives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions.errors import TransactionTimeout
from callboard.sip.transactions.timers import TimerConfig
from callboard.sip.transport import Flow

__all__ = ["AckKey", "PendingAck"]

_log = logging.getLogger("callboard.sip.endpoint")

#: (Call-ID, CSeq number) of the INVITE.
AckKey = tuple[str, int]


class PendingAck:
    """One 2xx being retransmitted until its ACK.

    ``on_ack(ack)`` and ``on_timeout()`` are optional callbacks; ``await wait()`` gives
    the ACK or raises :class:`TransactionTimeout`.
    """

    __slots__ = (
        "_data",
        "_deadline",
        "_done",
        "_future",
        "_interval",
        "_loop",
        "_retransmit",
        "_timers",
        "ack",
        "flow",
        "key",
        "on_ack",
        "on_timeout",
        "response",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timers: TimerConfig,
        key: AckKey,
        response: SipResponse,
        flow: Flow,
        done: Callable[[PendingAck], None],
        *,
        on_ack: Callable[[SipRequest], None] | None = None,
        on_timeout: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._timers = timers
        self.key = key
        self.response = response
        self.flow = flow
        self.on_ack = on_ack
        self.on_timeout = on_timeout
        #: The ACK, once it came.
        self.ack: SipRequest | None = None
        self._done = done
        self._data = response.encode()
        self._future: asyncio.Future[SipRequest] | None = None
        self._interval = timers.t1
        self._retransmit: asyncio.TimerHandle | None = loop.call_later(timers.t1, self._resend)
        self._deadline: asyncio.TimerHandle | None = loop.call_later(timers.timeout, self._expire)

    @property
    def pending(self) -> bool:
        """Whether the ACK is still awaited."""
        return self._deadline is not None

    async def wait(self) -> SipRequest:
        """The ACK; raises :class:`TransactionTimeout` after 64*T1 without one."""
        if self.ack is not None:
            return self.ack
        if self._future is None:
            self._future = self._loop.create_future()
            if not self.pending:
                self._future.set_exception(TransactionTimeout("no ACK for the 2xx"))
        return await asyncio.shield(self._future)

    def acknowledged(self, ack: SipRequest) -> None:
        """The ACK arrived (called by the endpoint)."""
        if not self.pending:
            return
        self._stop()
        self.ack = ack
        if self._future is not None and not self._future.done():
            self._future.set_result(ack)
        if self.on_ack is not None:
            try:
                self.on_ack(ack)
            except Exception:
                _log.exception("on_ack callback failed")

    def cancel(self) -> None:
        """Stop retransmitting and waiting (the dialog ended some other way)."""
        if self.pending:
            self._stop()
            if self._future is not None and not self._future.done():
                self._future.cancel()

    def _stop(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._done(self)

    def _resend(self) -> None:
        self._retransmit = None
        if not self.pending:
            return
        self.flow.send(self._data)
        self._interval = min(self._interval * 2, self._timers.t2)
        self._retransmit = self._loop.call_later(self._interval, self._resend)

    def _expire(self) -> None:
        self._deadline = None
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        self._done(self)
        if self._future is not None and not self._future.done():
            self._future.set_exception(TransactionTimeout("no ACK for the 2xx"))
            self._future.exception()
        if self.on_timeout is not None:
            try:
                self.on_timeout()
            except Exception:
                _log.exception("on_timeout callback failed")
