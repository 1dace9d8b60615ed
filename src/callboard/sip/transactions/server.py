"""Server transactions (RFC 3261 §17.2): INVITE (figure 7, with RFC 6026's Accepted
state) and non-INVITE (figure 8).

The endpoint creates a server transaction for every new request (ACK aside), with the
flow responses go out on (§18.2.2), and hands it to the transaction user, which answers
through :meth:`ServerTransaction.send_response` (or :meth:`ServerTransaction.respond`).
Retransmitted requests come back through :meth:`ServerTransaction.receive_request` and
are absorbed by resending the last response.

The INVITE transaction sends ``100 Trying`` by itself when the TU has not answered
within 200 ms (§17.2.1), retransmits a non-2xx final response on Timer G until the ACK
comes, and gives up on Timer H. After a 2xx it waits in Accepted (RFC 6026) for
64*T1, absorbing retransmitted INVITEs so they never look like new calls; the 2xx
itself is retransmitted by the TU until the ACK (the endpoint's
``send_2xx_reliably`` does that).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import ClassVar

from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions.base import (
    Transaction,
    TransactionHost,
    TransactionState,
    notify,
)
from callboard.sip.transactions.errors import TransactionStateError, TransportFailure
from callboard.sip.transactions.keys import RequestId, ServerKey
from callboard.sip.transport import Flow

__all__ = [
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "new_tag",
]

_S = TransactionState


def new_tag() -> str:
    """A fresh From/To tag (RFC 3261 §19.3: at least 32 random bits; here 64)."""
    return secrets.token_hex(8)


class ServerTransaction(Transaction):
    """The part of a server transaction common to INVITE and non-INVITE."""

    __slots__ = (
        "_last",
        "_local_tag",
        "key",
        "on_timeout",
        "on_transport_error",
        "request_id",
        "status",
    )

    _INITIAL: ClassVar[TransactionState]

    def __init__(self, host: TransactionHost, request: SipRequest, key: ServerKey, flow: Flow):
        super().__init__(host, request, self._INITIAL, flow)
        self.key = key
        #: The status code of the last response sent (0: none yet).
        self.status = 0
        #: ``on_timeout()``: Timer H fired, the ACK of a non-2xx final never came.
        self.on_timeout: Callable[[], None] | None = None
        #: ``on_transport_error(error)``: a response could not be sent.
        self.on_transport_error: Callable[[TransportFailure], None] | None = None
        self._last = b""
        self._local_tag: str | None = None
        #: Set by the table for a request without To tag (merged-request detection).
        self.request_id: RequestId | None = None

    @property
    def flow_out(self) -> Flow:
        """The flow responses are sent on."""
        flow = self.flow
        assert flow is not None
        return flow

    @property
    def final_sent(self) -> bool:
        return self.status >= 200

    @property
    def local_tag(self) -> str:
        """The To tag of this transaction's responses: the request's own for an
        in-dialog request, else one made up once (so 180 and 200 carry the same)."""
        tag = self._local_tag
        if tag is None:
            request = self._request
            tag = self._local_tag = (request.to_tag if request else None) or new_tag()
        return tag

    @local_tag.setter
    def local_tag(self, tag: str) -> None:
        self._local_tag = tag

    def create_response(self, status: int, reason: str | None = None) -> SipResponse:
        """A response to the request (§8.2.6), with this transaction's To tag unless it
        is a 100."""
        return self.request.create_response(
            status, reason, to_tag=None if status == 100 else self.local_tag
        )

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> SipResponse:
        """Build, send and return a response with extra header fields and a body."""
        response = self.create_response(status, reason)
        for name, value in headers:
            response.headers.add(name, value)
        response.body = body
        self.send_response(response)
        return response

    def send_response(self, response: SipResponse) -> None:
        raise NotImplementedError

    def receive_request(self, request: SipRequest) -> bool:
        """A retransmission of the request (or, for INVITE, an ACK) matched to this
        transaction. False when the endpoint should pass it on to the TU instead."""
        raise NotImplementedError

    def transport_failed(self, error: TransportFailure) -> None:
        """A response could not be sent (§17.2.4)."""
        if self.state is _S.TERMINATED:
            return
        self._enter(_S.TERMINATED)
        notify(self.on_transport_error, error)

    def _transmit(self, data: bytes) -> None:
        flow = self.flow
        assert flow is not None
        if not flow.send(data) and (flow.kind.reliable or flow.closed):
            self._host.resend_response(self, data)

    def _record(self, response: SipResponse) -> bytes:
        data = response.encode()
        self._last = data
        self.status = response.status
        return data


class ServerInviteTransaction(ServerTransaction):
    """The INVITE server transaction (figure 7, and RFC 6026's Accepted state)."""

    __slots__ = ("cancelled",)

    _INITIAL = _S.PROCEEDING
    _TRANSITIONS = {
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.ACCEPTED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.CONFIRMED, _S.TERMINATED}),
        _S.CONFIRMED: frozenset({_S.TERMINATED}),
        _S.ACCEPTED: frozenset({_S.TERMINATED}),
    }

    def __init__(self, host: TransactionHost, request: SipRequest, key: ServerKey, flow: Flow):
        super().__init__(host, request, key, flow)
        #: Set by the endpoint when a CANCEL for this INVITE arrived.
        self.cancelled = False
        self._on_enter(_S.PROCEEDING)

    def _on_enter(self, state: TransactionState) -> None:
        timers = self._host.timers
        if state is _S.PROCEEDING:
            self._retransmit = self._later(timers.trying_delay, self._timer_trying)
        elif state is _S.COMPLETED:
            self._cancel_timers()
            if not self._reliable:
                self._interval = timers.t1
                self._retransmit = self._later(timers.t1, self._timer_g)
                self._release_request()
            self._timeout = self._later(timers.timeout, self._timer_h)
        elif state is _S.CONFIRMED:
            self._cancel_timers()
            self._last = b""
            self._timeout = self._later(timers.timer_i_for(self._reliable), self._timer_i)
        elif state is _S.ACCEPTED:
            self._cancel_timers()
            self._last = b""
            if not self._reliable:
                self._release_request()
            self._timeout = self._later(timers.timeout, self._timer_l)
        elif state is _S.TERMINATED:
            self._last = b""

    def _release_request(self) -> None:
        """After the final response, over UDP, absorbing retransmitted INVITEs and ACKs
        takes only the key and the response bytes: let the parsed INVITE go (some 5 KB
        per call, held 64*T1 in Accepted and for the whole call by the TU that keeps
        this transaction). Over TCP/TLS it stays, to reconnect by its Via (§18.2.2)."""
        _ = self.local_tag  # keep the To tag the responses carried
        self._request = None

    # -- from the transaction user -------------------------------------------------------

    def send_response(self, response: SipResponse) -> None:
        status = response.status
        state = self.state
        if state is _S.PROCEEDING:
            data = self._record(response)
            if status < 200:
                if self._retransmit is not None:
                    self._retransmit.cancel()  # no automatic 100 any more
                    self._retransmit = None
            elif status < 300:
                self._enter(_S.ACCEPTED)
            else:
                self._enter(_S.COMPLETED)
            self._transmit(data)
        elif state is _S.ACCEPTED and 200 <= status < 300:
            # The TU retransmitting its 2xx (§13.3.1.4), or a 2xx of another dialog.
            self.status = status
            self._transmit(response.encode())
        else:
            raise TransactionStateError(
                f"cannot send {status} from the {state.value} state of {self!r}"
            )

    # -- from the network ----------------------------------------------------------------

    def receive_request(self, request: SipRequest) -> bool:
        state = self.state
        if request.method == "ACK":
            if state is _S.COMPLETED:
                self._enter(_S.CONFIRMED)
            # In Accepted, an ACK that reuses the INVITE's branch acknowledges the 2xx:
            # it is the TU's.
            return state is not _S.ACCEPTED
        if state is _S.PROCEEDING:
            if self._last:
                self._transmit(self._last)
            else:
                self._timer_trying()
        elif state is _S.COMPLETED:
            self._transmit(self._last)
        # Confirmed and Accepted absorb retransmitted INVITEs silently (RFC 6026 §8.5).
        return True

    # -- timers --------------------------------------------------------------------------

    def _timer_trying(self) -> None:
        self._retransmit = None
        if self.state is _S.PROCEEDING and not self._last:
            self._transmit(self._record(self.create_response(100)))

    def _timer_g(self) -> None:
        self._retransmit = None
        if self.state is _S.COMPLETED:
            self._transmit(self._last)
            self._retransmit = self._later(self._next_interval(), self._timer_g)

    def _timer_h(self) -> None:
        self._timeout = None
        if self.state is _S.COMPLETED:
            self._enter(_S.TERMINATED)
            notify(self.on_timeout)

    def _timer_i(self) -> None:
        self._timeout = None
        if self.state is _S.CONFIRMED:
            self._enter(_S.TERMINATED)

    def _timer_l(self) -> None:
        self._timeout = None
        if self.state is _S.ACCEPTED:
            self._enter(_S.TERMINATED)


class ServerNonInviteTransaction(ServerTransaction):
    """The non-INVITE server transaction (figure 8)."""

    __slots__ = ()

    _INITIAL = _S.TRYING
    _TRANSITIONS = {
        _S.TRYING: frozenset({_S.PROCEEDING, _S.COMPLETED, _S.TERMINATED}),
        _S.PROCEEDING: frozenset({_S.COMPLETED, _S.TERMINATED}),
        _S.COMPLETED: frozenset({_S.TERMINATED}),
    }

    def _on_enter(self, state: TransactionState) -> None:
        if state is _S.COMPLETED:
            timer_j = self._host.timers.timer_j_for(self._reliable)
            self._timeout = self._later(timer_j, self._timer_j)
            if not self._reliable:
                # Lingering for 64*T1 to answer retransmissions needs only the bytes
                # of the final response: let the parsed request go (some 4 KB).
                self._request = None
        elif state is _S.TERMINATED:
            self._last = b""
            self._request = None

    def send_response(self, response: SipResponse) -> None:
        state = self.state
        if state is not _S.TRYING and state is not _S.PROCEEDING:
            raise TransactionStateError(
                f"cannot send {response.status} from the {state.value} state of {self!r}"
            )
        data = self._record(response)
        if response.status >= 200:
            self._enter(_S.COMPLETED)
        elif state is _S.TRYING:
            self._enter(_S.PROCEEDING)
        self._transmit(data)

    def receive_request(self, request: SipRequest) -> bool:
        if self.state is not _S.TRYING and self._last:
            self._transmit(self._last)
        return True

    def _timer_j(self) -> None:
        self._timeout = None
        if self.state is _S.COMPLETED:
            self._enter(_S.TERMINATED)
