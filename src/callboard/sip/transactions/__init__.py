"""The SIP transaction layer (RFC 3261 §17, RFC 6026): client and server transactions
for INVITE and non-INVITE, their timers, matching keys and table."""

from callboard.sip.transactions.base import Transaction, TransactionHost, TransactionState
from callboard.sip.transactions.client import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ResponseCallback,
    TimeoutCallback,
    TransportErrorCallback,
    create_cancel,
)
from callboard.sip.transactions.errors import (
    TransactionAborted,
    TransactionError,
    TransactionStateError,
    TransactionTimeout,
    TransportFailure,
)
from callboard.sip.transactions.keys import (
    MAGIC_COOKIE,
    ClientKey,
    RequestId,
    ServerKey,
    client_key,
    new_branch,
    request_id_of,
    server_key,
)
from callboard.sip.transactions.server import (
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    new_tag,
)
from callboard.sip.transactions.table import TransactionTable
from callboard.sip.transactions.timers import TimerConfig

__all__ = [
    "MAGIC_COOKIE",
    "ClientInviteTransaction",
    "ClientKey",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "RequestId",
    "ResponseCallback",
    "ServerInviteTransaction",
    "ServerKey",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "TimeoutCallback",
    "TimerConfig",
    "Transaction",
    "TransactionAborted",
    "TransactionError",
    "TransactionHost",
    "TransactionState",
    "TransactionStateError",
    "TransactionTable",
    "TransactionTimeout",
    "TransportErrorCallback",
    "TransportFailure",
    "client_key",
    "create_cancel",
    "new_branch",
    "new_tag",
    "request_id_of",
    "server_key",
]
