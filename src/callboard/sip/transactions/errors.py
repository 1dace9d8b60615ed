"""Why a transaction failed: the errors ``await transaction.final_response()`` raises."""

from __future__ import annotations

from callboard.sip.errors import SipError

__all__ = [
    "TransactionAborted",
    "TransactionError",
    "TransactionStateError",
    "TransactionTimeout",
    "TransportFailure",
]


class TransactionError(SipError):
    """Base class of transaction failures."""


class TransactionTimeout(TransactionError):
    """No final response in time (Timer B or F), no ACK in time (Timer H, or a 2xx
    retransmitted for 64*T1), or no final response 64*T1 after a CANCEL (§9.1)."""


class TransportFailure(TransactionError):
    """The message could not be sent (RFC 3261 §17.1.4, §17.2.4): no route, connection
    refused or closed, no listener for the transport."""


class TransactionAborted(TransactionError):
    """The request was never sent: a CANCEL queued until a provisional response came,
    when the INVITE got its final response (or failed) first."""


class TransactionStateError(TransactionError):
    """The transaction user asked for something the current state does not allow, such
    as a second final response."""
