"""The transaction table: every live transaction of an endpoint, by its matching key.

It is also what transactions see of their owner (:class:`TransactionHost`): the event
loop, the timer values, and the calls that add and remove them. Terminated transactions
leave the table at once, so memory follows the number of live transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callboard.sip.message import SipRequest
from callboard.sip.transactions.base import Transaction
from callboard.sip.transactions.client import ClientTransaction
from callboard.sip.transactions.errors import TransportFailure
from callboard.sip.transactions.keys import ClientKey, RequestId, ServerKey, request_id_of
from callboard.sip.transactions.server import ServerTransaction
from callboard.sip.transactions.timers import TimerConfig
from callboard.sip.transport import Flow

__all__ = ["TransactionTable"]


def _drop_response(transaction: ServerTransaction, data: bytes) -> None:
    transaction.transport_failed(TransportFailure("the connection of the request is gone"))


class TransactionTable:
    """Client and server transactions by key, and client transactions by connection."""

    __slots__ = (
        "_by_flow",
        "_loop",
        "_timers",
        "client",
        "on_terminated",
        "out_of_dialog",
        "resend",
        "server",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        timers: TimerConfig,
        resend: Callable[[ServerTransaction, bytes], None] | None = None,
    ) -> None:
        self._loop = loop
        self._timers = timers
        self.client: dict[ClientKey, ClientTransaction] = {}
        self.server: dict[ServerKey, ServerTransaction] = {}
        #: Server transactions of requests without a To tag, by (Call-ID, From tag, CSeq
        #: number, method): how a merged request is told apart (§8.2.2.2).
        self.out_of_dialog: dict[RequestId, ServerTransaction] = {}
        #: What to do with a response whose connection is gone (§18.2.2).
        self.resend = resend or _drop_response
        self._by_flow: dict[Flow, set[ClientTransaction]] = {}
        #: Told of every transaction that terminates (metrics, tests).
        self.on_terminated: Callable[[Transaction], None] | None = None

    # -- TransactionHost -----------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def timers(self) -> TimerConfig:
        return self._timers

    def add_client(self, transaction: ClientTransaction) -> None:
        self.client[transaction.key] = transaction
        flow = transaction.flow
        if flow is not None and flow.kind.reliable:
            waiting = self._by_flow.get(flow)
            if waiting is None:
                waiting = self._by_flow[flow] = set()
            waiting.add(transaction)

    def terminated(self, transaction: Transaction) -> None:
        if self.on_terminated is not None:
            self.on_terminated(transaction)
        if isinstance(transaction, ServerTransaction):
            if self.server.get(transaction.key) is transaction:
                del self.server[transaction.key]
            request_id = transaction.request_id
            if request_id is not None and self.out_of_dialog.get(request_id) is transaction:
                del self.out_of_dialog[request_id]
            return
        assert isinstance(transaction, ClientTransaction)
        if self.client.get(transaction.key) is transaction:
            del self.client[transaction.key]
        flow = transaction.flow
        if flow is not None and flow.kind.reliable:
            waiting = self._by_flow.get(flow)
            if waiting is not None:
                waiting.discard(transaction)
                if not waiting:
                    del self._by_flow[flow]

    def resend_response(self, transaction: ServerTransaction, data: bytes) -> None:
        self.resend(transaction, data)

    # -- for the endpoint ----------------------------------------------------------------

    def add_server(self, transaction: ServerTransaction) -> None:
        self.server[transaction.key] = transaction
        request = transaction.request
        if request.to_tag is None:
            request_id = transaction.request_id = request_id_of(request)
            self.out_of_dialog[request_id] = transaction

    def merged_with(self, request: SipRequest) -> ServerTransaction | None:
        """The live transaction of another copy of ``request`` (same Call-ID, From tag
        and CSeq, no To tag) that reached us by a different path (§8.2.2.2)."""
        if request.to_tag is not None:
            return None
        return self.out_of_dialog.get(request_id_of(request))

    def flow_closed(self, flow: Flow) -> None:
        """Fail the client transactions still waiting for a response on ``flow``."""
        waiting = self._by_flow.pop(flow, None)
        if not waiting:
            return
        error = TransportFailure(f"the {flow.kind.value} connection to {flow.remote} closed")
        for transaction in list(waiting):
            transaction.transport_failed(error)

    def __len__(self) -> int:
        return len(self.client) + len(self.server)

    def clear(self) -> None:
        """Stop every timer and forget every transaction (the endpoint is stopping)."""
        for transaction in [*self.client.values(), *self.server.values()]:
            transaction._cancel_timers()
        self.client.clear()
        self.server.clear()
        self.out_of_dialog.clear()
        self._by_flow.clear()
