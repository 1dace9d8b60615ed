"""What every transaction shares: the states, the owner's interface, and the timers.

Each transaction class is an explicit state machine. Its states are members of
:class:`TransactionState`; the transitions it allows are one table (``_TRANSITIONS``),
and every change of state goes through one method, ``_enter``, which checks the table
and runs the entry actions of the new state (``_on_enter``: stop the timers that end
with the old state, start those of the new one, send what the state sends). Events (a
message received, a response from the transaction user, a timer firing) are handled by
methods that decide the next state and call ``_enter``.

Timers are ``loop.call_later`` handles kept in two slots, since no state runs more than
two timers at once: a retransmission timer (A, E, G; also the 100 Trying delay) and a
timeout timer (B, F, H, L, or the lingering D, I, J, K). A timer of zero runs through
``loop.call_soon``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol

from callboard.sip.transactions.errors import TransactionStateError
from callboard.sip.transactions.timers import TimerConfig
from callboard.sip.transport import Flow

if TYPE_CHECKING:
    from callboard.sip.message import SipRequest
    from callboard.sip.transactions.client import ClientTransaction
    from callboard.sip.transactions.server import ServerTransaction

__all__ = ["Transaction", "TransactionHost", "TransactionState"]

_log = logging.getLogger("callboard.sip.transactions")


class TransactionState(enum.Enum):
    """The states of RFC 3261 §17 (figures 5 to 8) and RFC 6026's Accepted."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionHost(Protocol):
    """What a transaction needs from the table that owns it."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def timers(self) -> TimerConfig: ...

    def add_client(self, transaction: ClientTransaction) -> None:
        """Index a client transaction whose request is about to be sent."""

    def terminated(self, transaction: Transaction) -> None:
        """Forget a transaction that has reached the Terminated state."""

    def resend_response(self, transaction: ServerTransaction, data: bytes) -> None:
        """Send a response whose connection is gone another way (RFC 3261 §18.2.2)."""


def notify(callback: Callable[..., None] | None, *args: object) -> None:
    """Call a transaction user's callback; an exception is logged, never propagated
    into the state machine."""
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        _log.exception("transaction user callback %r failed", callback)


class Transaction:
    """The base of client and server transactions."""

    __slots__ = (
        "_host",
        "_interval",
        "_reliable",
        "_request",
        "_retransmit",
        "_timeout",
        "flow",
        "method",
        "state",
    )

    _TRANSITIONS: ClassVar[Mapping[TransactionState, frozenset[TransactionState]]]

    def __init__(
        self,
        host: TransactionHost,
        request: SipRequest,
        state: TransactionState,
        flow: Flow | None,
    ) -> None:
        self._host = host
        self._request: SipRequest | None = request
        self.method = request.method
        self.state = state
        self.flow = flow
        self._reliable = flow is not None and flow.kind.reliable
        self._interval = 0.0
        self._retransmit: asyncio.Handle | None = None
        self._timeout: asyncio.Handle | None = None

    @property
    def request(self) -> SipRequest:
        """The request. A non-INVITE server transaction lets go of it once its final
        response is sent (it lingers for 64*T1 over UDP only to answer retransmissions),
        and then raises :class:`TransactionStateError` here."""
        request = self._request
        if request is None:
            raise TransactionStateError(f"{self!r} has released its request")
        return request

    @property
    def terminated(self) -> bool:
        return self.state is TransactionState.TERMINATED

    @property
    def reliable(self) -> bool:
        """Whether the transport is reliable (no retransmissions, zero linger timers)."""
        return self._reliable

    def _enter(self, state: TransactionState) -> None:
        """Change state: check the transition and run the entry actions of the new
        state (``_on_enter``). Terminated always stops every timer and leaves the table."""
        if state not in self._TRANSITIONS.get(self.state, frozenset()):
            raise TransactionStateError(
                f"{type(self).__name__}: no transition from {self.state.value} to {state.value}"
            )
        self.state = state
        if state is TransactionState.TERMINATED:
            self._cancel_timers()
            self._host.terminated(self)
        self._on_enter(state)

    def _on_enter(self, state: TransactionState) -> None:
        raise NotImplementedError

    def _later(self, delay: float, callback: Callable[[], None]) -> asyncio.Handle:
        loop = self._host.loop
        if delay <= 0:
            return loop.call_soon(callback)
        return loop.call_later(delay, callback)

    def _cancel_timers(self) -> None:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _next_interval(self) -> float:
        """Double the retransmission interval, capped at T2 (Timers E and G)."""
        self._interval = min(self._interval * 2, self._host.timers.t2)
        return self._interval

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value}>"
