"""Client transactions (RFC 3261 §17.1): INVITE (figure 5) and non-INVITE (figure 6).

The endpoint creates a client transaction, picks the flow, puts the top Via in, and
calls :meth:`ClientTransaction.start`, which sends the request and starts the timers.
Responses the endpoint matches to the transaction come in through
:meth:`ClientTransaction.receive_response`. The transaction user hears of them through
callbacks (``on_response``, ``on_timeout``, ``on_transport_error``), and can also
``await transaction.final_response()``.

The INVITE transaction acknowledges non-2xx final responses itself (§17.1.1.3). It ends
at the first 2xx (RFC 3261; a 2xx retransmission or a 2xx from another fork that
arrives later reaches the transaction user as a stray response, to be acknowledged by
the dialog layer). A CANCEL (:func:`create_cancel`) is queued on the INVITE transaction
until a provisional response arrives (§9.1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

from callboard.sip.headers import Headers
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions.base import (
    Transaction,
    TransactionHost,
    TransactionState,
    notify,
)
from callboard.sip.transactions.errors import (
    TransactionAborted,
    TransactionError,
    TransactionStateError,
    TransactionTimeout,
    TransportFailure,
)
from callboard.sip.transactions.keys import ClientKey, client_key
from callboard.sip.transport import Flow

__all__ = [
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "ResponseCallback",
    "TimeoutCallback",
    "TransportErrorCallback",
    "create_cancel",
]

#: ``on_response(response)``: every provisional and final response.
ResponseCallback = Callable[[SipResponse], None]
#: ``on_timeout()``: Timer B or F fired (or no final response 64*T1 after a CANCEL).
TimeoutCallback = Callable[[], None]
#: ``on_transport_error(error)``: the request could not be sent, or its connection closed.
TransportErrorCallback = Callable[[TransportFailure], None]

_S = TransactionState


class ClientTransaction(Transaction):
    """The part of a client transaction common to INVITE and non-INVITE."""

    __slots__ = (
        "_data",
        "_error",
        "_future",
        "branch",
        "final",
        "key",
        "on_response",
        "on_timeout",
        "on_transport_error",
    )

    _INITIAL: ClassVar[TransactionState]

    def __init__(
        self,
        host: TransactionHost,
        request: SipRequest,
        branch: str,
        *,
        on_response: ResponseCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        on_transport_error: TransportErrorCallback | None = None,
    ) -> None:
        super().__init__(host, request, self._INITIAL, None)
        self.branch = branch
        self.key: ClientKey = client_key(branch, request.method)
        self.on_response = on_response
        self.on_timeout = on_timeout
        self.on_transport_error = on_transport_error
        #: The final response, once received (for INVITE, the first one).
        self.final: SipResponse | None = None
        self._data = b""
        self._error: TransactionError | None = None
        self._future: asyncio.Future[SipResponse] | None = None

    # -- driven by the endpoint ----------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the request has been handed to a flow."""
        return self.flow is not None

    def start(self, flow: Flow) -> None:
        """Send the request (which carries its top Via by now) on ``flow``, enter the
        table and start the timers of the initial state."""
        if self.flow is not None or self.state is not self._INITIAL:
            raise TransactionStateError(f"{self!r} was already started")
        self.flow = flow
        self._reliable = flow.kind.reliable
        self._data = self.request.encode()
        self._host.add_client(self)
        if not flow.send(self._data) and (self._reliable or flow.closed):
            self.transport_failed(TransportFailure(f"cannot send {self.method} on {flow!r}"))
            return
        self._on_enter(self.state)

    def transport_failed(self, error: TransportFailure) -> None:
        """The request cannot be sent or its connection closed (§17.1.4)."""
        if self.state is _S.TERMINATED or self.final is not None:
            return
        self._enter(_S.TERMINATED)
        self._fail(error)
        notify(self.on_transport_error, error)

    def receive_response(self, response: SipResponse) -> bool:
        """Handle a response matched to this transaction; False when it does not belong
        to it after all (a 2xx after a non-2xx), so the endpoint treats it as stray."""
        raise NotImplementedError

    # -- for the transaction user --------------------------------------------------------

    async def final_response(self) -> SipResponse:
        """The final response (for INVITE the first one, 2xx or not).

        Raises :class:`TransactionTimeout`, :class:`TransportFailure` or
        :class:`TransactionAborted`.
        """
        if self.final is not None:
            return self.final
        if self._error is not None:
            raise self._error
        future = self._future
        if future is None:
            future = self._future = self._host.loop.create_future()
        return await asyncio.shield(future)

    @property
    def error(self) -> TransactionError | None:
        """Why the transaction failed, if it did."""
        return self._error

    # -- helpers -------------------------------------------------------------------------

    def _resolve(self, response: SipResponse) -> None:
        self.final = response
        future = self._future
        if future is not None and not future.done():
            future.set_result(response)

    def _fail(self, error: TransactionError) -> None:
        self._error = error
        future = self._future
        if future is not None and not future.done():
            future.set_exception(error)
            # Retrieved here: nobody may be awaiting it any more.
            future.exception()

    def _time_out(self, what: str) -> None:
        self._enter(_S.TERMINATED)
        self._fail(TransactionTimeout(f"{self.method}: {what}"))
        notify(self.on_timeout)

    def abort(self) -> None:
        """Give up a request that was never sent (a queued CANCEL)."""
        if self.state is _S.TERMINATED:
            return
        if self.flow is not None:
            raise TransactionStateError(f"{self!r} was already sent")
        self._enter(_S.TERMINATED)
        self._fail(TransactionAborted(f"{self.method} was not sent"))


class ClientInviteTransaction(ClientTransaction):
    """The INVITE client transaction (figure 5)."""

    __slots__ = ("_ack", "_cancel")

    _INITIAL = _S.CALLING
    _TRANSITIONS = {
        _S.CALLING: frozenset({_S.PROCEEDING, _S.COMPLETED, _S.TERMINATED}),
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.TERMINATED}),
    }

    def __init__(
        self,
        host: TransactionHost,
        request: SipRequest,
        branch: str,
        *,
        on_response: ResponseCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        on_transport_error: TransportErrorCallback | None = None,
    ) -> None:
        super().__init__(
            host,
            request,
            branch,
            on_response=on_response,
            on_timeout=on_timeout,
            on_transport_error=on_transport_error,
        )
        self._ack = b""
        self._cancel: ClientNonInviteTransaction | None = None

    @property
    def provisional_received(self) -> bool:
        return self.state is not _S.CALLING or self.final is not None

    @property
    def cancel_transaction(self) -> ClientNonInviteTransaction | None:
        """The CANCEL of this INVITE, queued or sent."""
        return self._cancel

    def _on_enter(self, state: TransactionState) -> None:
        timers = self._host.timers
        if state is _S.CALLING:
            if not self._reliable:
                self._interval = timers.t1
                self._retransmit = self._later(timers.t1, self._timer_a)
            self._timeout = self._later(timers.timeout, self._timer_b)
        elif state is _S.PROCEEDING:
            # No timer in Proceeding (§17.1.1.2); the TU bounds the ringing.
            self._cancel_timers()
            self._send_cancel()
        elif state is _S.COMPLETED:
            self._cancel_timers()
            self._abort_cancel()
            self._timeout = self._later(timers.timer_d_for(self._reliable), self._timer_d)
        elif state is _S.TERMINATED:
            self._abort_cancel()
            self._data = b""
            self._ack = b""

    # -- events --------------------------------------------------------------------------

    def receive_response(self, response: SipResponse) -> bool:
        status = response.status
        state = self.state
        if status < 200:
            if state is _S.CALLING:
                self._enter(_S.PROCEEDING)
            elif state is not _S.PROCEEDING:
                return True
            notify(self.on_response, response)
            return True
        if status < 300:
            if state is _S.CALLING or state is _S.PROCEEDING:
                self._enter(_S.TERMINATED)
                self._resolve(response)
                notify(self.on_response, response)
                return True
            return False
        if state is _S.CALLING or state is _S.PROCEEDING:
            self._ack = self._build_ack(response)
            self._send(self._ack)
            self._enter(_S.COMPLETED)
            self._resolve(response)
            notify(self.on_response, response)
        elif state is _S.COMPLETED:
            # A retransmission of the final response: acknowledge it again.
            self._send(self._ack)
        return True

    def _timer_a(self) -> None:
        self._retransmit = None
        if self.state is _S.CALLING:
            self._send(self._data)
            self._interval *= 2
            self._retransmit = self._later(self._interval, self._timer_a)

    def _timer_b(self) -> None:
        self._timeout = None
        if self.state is _S.CALLING:
            self._time_out("Timer B fired")

    def _timer_d(self) -> None:
        self._timeout = None
        if self.state is _S.COMPLETED:
            self._enter(_S.TERMINATED)

    def _timer_cancelled(self) -> None:
        # §9.1: no final response 64*T1 after the CANCEL went out.
        self._timeout = None
        if self.state is _S.PROCEEDING:
            self._time_out("no final response after CANCEL")

    # -- CANCEL --------------------------------------------------------------------------

    def attach_cancel(self, cancel: ClientNonInviteTransaction) -> None:
        """Hold ``cancel`` until a provisional response arrives, or send it now if one
        has. Used by the endpoint's ``cancel()``."""
        if self._cancel is not None:
            raise TransactionStateError("this INVITE already has a CANCEL")
        self._cancel = cancel
        if self.state is _S.PROCEEDING:
            self._send_cancel()
        elif self.state is not _S.CALLING:
            self._abort_cancel()

    def _send_cancel(self) -> None:
        cancel = self._cancel
        if cancel is None or cancel.started or cancel.terminated or self.flow is None:
            return
        # The CANCEL may have been made before the INVITE had its Via (§9.1: the same).
        cancel.request.headers.set("Via", self.request.headers.get("via", ""))
        cancel.start(self.flow)
        if self._timeout is None:
            self._timeout = self._later(self._host.timers.timeout, self._timer_cancelled)

    def _abort_cancel(self) -> None:
        cancel = self._cancel
        if cancel is not None and not cancel.started:
            cancel.abort()

    # -- helpers -------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        flow = self.flow
        if flow is not None:
            flow.send(data)

    def _build_ack(self, response: SipResponse) -> bytes:
        """The ACK of a non-2xx final response (§17.1.1.3): the INVITE's Request-URI,
        top Via, Route, From and Call-ID, the response's To, CSeq number with ACK."""
        request = self.request
        source = request.headers
        headers = Headers()
        headers.add("Via", source.get("via", ""))
        headers.copy_lines(source, "route")
        headers.add("Max-Forwards", "70")
        headers.copy_lines(source, "from")
        headers.add("To", response.headers.get("to", ""))
        headers.copy_lines(source, "call-id")
        headers.add("CSeq", f"{request.cseq.number} ACK")
        return SipRequest("ACK", request.uri, headers).encode()


class ClientNonInviteTransaction(ClientTransaction):
    """The non-INVITE client transaction (figure 6)."""

    __slots__ = ()

    _INITIAL = _S.TRYING
    _TRANSITIONS = {
        _S.TRYING: frozenset({_S.PROCEEDING, _S.COMPLETED, _S.TERMINATED}),
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.TERMINATED}),
    }

    def _on_enter(self, state: TransactionState) -> None:
        timers = self._host.timers
        if state is _S.TRYING:
            if not self._reliable:
                self._interval = timers.t1
                self._retransmit = self._later(timers.t1, self._timer_e)
            self._timeout = self._later(timers.timeout, self._timer_f)
        elif state is _S.COMPLETED:
            self._cancel_timers()
            self._timeout = self._later(timers.timer_k_for(self._reliable), self._timer_k)
        elif state is _S.TERMINATED:
            self._data = b""
        # Proceeding keeps Timers E and F running (E now fires every T2).

    def receive_response(self, response: SipResponse) -> bool:
        state = self.state
        if state is not _S.TRYING and state is not _S.PROCEEDING:
            return True  # Completed absorbs retransmissions of the final response
        if response.status < 200:
            if state is _S.TRYING:
                self._enter(_S.PROCEEDING)
            notify(self.on_response, response)
            return True
        self._enter(_S.COMPLETED)
        self._resolve(response)
        notify(self.on_response, response)
        return True

    def _timer_e(self) -> None:
        self._retransmit = None
        state = self.state
        if state is _S.TRYING or state is _S.PROCEEDING:
            flow = self.flow
            if flow is not None:
                flow.send(self._data)
            if state is _S.PROCEEDING:
                self._interval = self._host.timers.t2
            else:
                self._next_interval()
            self._retransmit = self._later(self._interval, self._timer_e)

    def _timer_f(self) -> None:
        self._timeout = None
        if self.state is _S.TRYING or self.state is _S.PROCEEDING:
            if self._retransmit is not None:
                self._retransmit.cancel()
                self._retransmit = None
            self._time_out("Timer F fired")

    def _timer_k(self) -> None:
        self._timeout = None
        if self.state is _S.COMPLETED:
            self._enter(_S.TERMINATED)


def create_cancel(invite: SipRequest, reason: str | None = None) -> SipRequest:
    """The CANCEL of ``invite`` (RFC 3261 §9.1): the same Request-URI, Call-ID, From and
    To (without a tag: the INVITE's To), CSeq number with method CANCEL, one Via equal to
    the INVITE's top Via (so the same branch), and the INVITE's Route header fields.

    ``reason`` is a Reason header value (RFC 3326), e.g.
    ``'SIP;cause=200;text="Call completed elsewhere"'``.
    """
    source = invite.headers
    headers = Headers()
    headers.add("Via", source.get("via", ""))
    headers.copy_lines(source, "route")
    headers.add("Max-Forwards", "70")
    headers.copy_lines(source, "from")
    headers.copy_lines(source, "to")
    headers.copy_lines(source, "call-id")
    headers.add("CSeq", f"{invite.cseq.number} CANCEL")
    if reason is not None:
        headers.add("Reason", reason)
    return SipRequest("CANCEL", invite.uri, headers)
