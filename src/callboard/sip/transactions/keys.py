"""Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).

A response matches a client transaction by the branch of its top Via and its CSeq
method (the method tells an INVITE from the CANCEL that shares its branch).

A request matches a server transaction by the branch and sent-by of its top Via and its
method, where ACK counts as INVITE (it belongs to the INVITE's transaction when it
acknowledges a non-2xx response) and CANCEL counts as itself. A request whose branch
lacks the ``z9hG4bK`` cookie comes from an RFC 2543 element; it is matched by Call-ID,
From tag, CSeq number, the top Via and the method instead, which is what §17.2.3's
backward-compatible rules come down to for the requests a user agent receives.
"""

from __future__ import annotations

import secrets

from callboard.sip.headers import Via
from callboard.sip.message import SipRequest

__all__ = [
    "MAGIC_COOKIE",
    "ClientKey",
    "RequestId",
    "ServerKey",
    "client_key",
    "new_branch",
    "request_id_of",
    "server_key",
]

MAGIC_COOKIE = "z9hG4bK"

ClientKey = tuple[str, str]
ServerKey = tuple[str, ...]
#: (Call-ID, From tag, CSeq number, method): what merged requests share (§8.2.2.2).
RequestId = tuple[str, str, int, str]


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 96 random bits."""
    return MAGIC_COOKIE + secrets.token_urlsafe(12)


def client_key(branch: str, method: str) -> ClientKey:
    return (branch, method)


def _sent_by(via: Via) -> str:
    host = via.host.lower()
    return host if via.port is None else f"{host}:{via.port}"


def request_id_of(request: SipRequest) -> RequestId:
    return (request.call_id, request.from_tag or "", request.cseq.number, request.method)


def server_key(request: SipRequest, method: str | None = None) -> ServerKey:
    """The key of the server transaction ``request`` belongs to; ``method`` overrides
    the request's own (CANCEL looks up the INVITE it cancels with ``"INVITE"``)."""
    if method is None:
        method = request.method
        if method == "ACK":
            method = "INVITE"
    via = request.via
    branch = via.branch
    if branch is not None and len(branch) > 7 and branch.startswith(MAGIC_COOKIE):
        return (branch, _sent_by(via), method)
    cseq = request.cseq
    return (
        "",
        request.call_id,
        request.from_tag or "",
        str(cseq.number),
        _sent_by(via),
        branch or "",
        method,
    )
