"""The transaction user: what the endpoint hands requests and stray messages to.

The call engine and the registrar implement :class:`TransactionUser` (or subclass
:class:`DefaultTransactionUser` and call ``super()`` for what they leave alone). Every
method runs on the event loop and must not block; one that needs to wait (a database
lookup) starts a task and answers through the transaction later.
"""

from __future__ import annotations

import logging
from typing import Protocol

from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.transactions import ServerInviteTransaction, ServerTransaction
from callboard.sip.transport import Flow

__all__ = ["DefaultTransactionUser", "TransactionUser", "options_response"]

_log = logging.getLogger("callboard.sip.endpoint")


class TransactionUser(Protocol):
    """What the endpoint calls. Responses to requests the TU sends go to the callbacks
    given to ``endpoint.send_request`` instead."""

    def on_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        """A new request (INVITE, re-INVITE, BYE, REGISTER, OPTIONS, INFO, UPDATE,
        REFER, MESSAGE, NOTIFY, SUBSCRIBE, PRACK...), already checked: mandatory header
        fields, Max-Forwards, method allowed, URI scheme, Require; Route entries naming
        this server removed. Answer with ``transaction.respond(...)`` or
        ``transaction.send_response(...)``, now or later; a 2xx to INVITE with
        ``endpoint.send_2xx_reliably(...)``."""

    def on_ack(self, request: SipRequest, flow: Flow) -> None:
        """An ACK that no server transaction absorbed: the ACK of a 2xx."""

    def on_cancel(self, request: SipRequest, transaction: ServerInviteTransaction) -> None:
        """A CANCEL for an INVITE that has no final response yet. The endpoint has
        answered the CANCEL with 200; the TU should answer the INVITE with 487."""

    def on_stray_response(self, response: SipResponse, flow: Flow) -> None:
        """A response to one of our requests that matches no client transaction: a
        retransmitted 2xx after the INVITE transaction ended, or a 2xx from another
        fork. The TU acknowledges a 2xx to INVITE (and may end that dialog)."""


def options_response(
    transaction: ServerTransaction,
    *,
    allow: tuple[str, ...],
    accept: tuple[str, ...] = ("application/sdp",),
    supported: tuple[str, ...] = (),
    server: str | None = None,
) -> SipResponse:
    """A 200 to OPTIONS that lists the capabilities (RFC 3261 §11.2)."""
    response = transaction.create_response(200)
    headers = response.headers
    headers.add("Allow", ", ".join(allow))
    headers.add("Accept", ", ".join(accept))
    headers.add("Accept-Encoding", "identity")
    headers.add("Accept-Language", "en")
    if supported:
        headers.add("Supported", ", ".join(supported))
    if server:
        headers.add("Server", server)
    return response


class DefaultTransactionUser:
    """A transaction user that serves nothing but OPTIONS: the default of an endpoint
    without one, and a base class for real ones.

    OPTIONS gets 200 with the endpoint's capabilities; another request gets
    ``480 Temporarily Unavailable``; a cancelled INVITE gets 487. ACKs and stray
    responses are dropped.
    """

    def __init__(
        self,
        *,
        allow: tuple[str, ...],
        accept: tuple[str, ...] = ("application/sdp",),
        supported: tuple[str, ...] = (),
        server: str | None = None,
    ) -> None:
        self.allow = allow
        self.accept = accept
        self.supported = supported
        self.server = server

    def on_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        if request.method == "OPTIONS":
            transaction.send_response(
                options_response(
                    transaction,
                    allow=self.allow,
                    accept=self.accept,
                    supported=self.supported,
                    server=self.server,
                )
            )
            return
        transaction.respond(480)

    def on_ack(self, request: SipRequest, flow: Flow) -> None:
        _log.debug("ACK %s from %s: no dialog", request.call_id, flow.remote)

    def on_cancel(self, request: SipRequest, transaction: ServerInviteTransaction) -> None:
        if not transaction.final_sent and not transaction.terminated:
            transaction.respond(487)

    def on_stray_response(self, response: SipResponse, flow: Flow) -> None:
        _log.debug("stray %d %s from %s dropped", response.status, response.cseq, flow.remote)
