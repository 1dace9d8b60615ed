"""Errors of the SIP message layer, each carrying the response a server should answer with.

A parser error is not only "this is broken": RFC 3261 and RFC 4475 say which status a
server answers to each kind of broken request (400 in general, 505 for a SIP version it
does not speak, 416 for a Request-URI scheme it does not handle, 420 for an extension it
does not support, 513 for a message over its size limit). Every error therefore carries
``status`` and ``reason``; an upper layer answers ``f"{status} {reason}"`` to a request,
or drops the message when it was a response (nobody answers a response).

``reason`` is safe to put on a status line as it is: it never holds CR, LF or other
control characters, and it never echoes raw input back to the sender.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callboard.sip.message import SipRequest, SipResponse

__all__ = [
    "BadExtension",
    "MessageTooLarge",
    "SipError",
    "SipParseError",
    "UnsupportedUriScheme",
    "VersionNotSupported",
]

_MAX_REASON = 120


def _clean_reason(text: str) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned[:_MAX_REASON] or "Bad Request"


class SipError(Exception):
    """Base class of every error raised by the SIP stack."""


class SipParseError(SipError):
    """A message (or one of its header fields) is not valid SIP.

    ``status`` is the response code a server should send back for a request, ``reason``
    a reason phrase for it. ``message`` is the message as far as it could be framed, when
    the start line and header section could be split but a header value is bad: with it
    an upper layer can still build a response (it has the Via, From, To, Call-ID and CSeq
    values as text), or log what arrived. It is ``None`` when the framing itself failed.
    """

    default_status = 400

    def __init__(self, reason: str, status: int | None = None) -> None:
        self.reason = _clean_reason(reason)
        self.status = self.default_status if status is None else status
        self.message: SipRequest | SipResponse | None = None
        super().__init__(f"{self.status} {self.reason}")


class MessageTooLarge(SipParseError):
    """The message is over the configured size limit.

    RFC 3261 §21.5.14 names this ``513 Message Too Large``; 413 is about the body alone.
    """

    default_status = 513

    def __init__(self, reason: str = "Message Too Large") -> None:
        super().__init__(reason)


class VersionNotSupported(SipParseError):
    """The request's SIP-Version is not SIP/2.0 (RFC 3261 §21.5.9)."""

    default_status = 505

    def __init__(self, reason: str = "Version Not Supported") -> None:
        super().__init__(reason)


class UnsupportedUriScheme(SipParseError):
    """The Request-URI scheme is one this element does not handle (RFC 3261 §8.2.2.1).

    Raised by request validation, not by the parser: RFC 4475 §3.3.2 requires a parser to
    accept a Request-URI of any scheme.
    """

    default_status = 416

    def __init__(self, reason: str = "Unsupported URI Scheme") -> None:
        super().__init__(reason)


class BadExtension(SipParseError):
    """The request requires option tags this element does not support (RFC 3261 §8.2.2.3).

    The response must list them in an ``Unsupported`` header field: they are in
    ``unsupported``.
    """

    default_status = 420

    def __init__(self, unsupported: tuple[str, ...], reason: str = "Bad Extension") -> None:
        self.unsupported = unsupported
        super().__init__(reason)
