"""Content-Length framing of SIP over stream transports (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1).

A SIP message on TCP or TLS ends where its Content-Length says: find the blank line that
closes the header section, read Content-Length (long or compact ``l`` form, any case,
with the whitespace and line folding RFC 3261 allows), then take exactly that many body
bytes. CRLFs between messages are ignored, except that a double CRLF is a keep-alive
"ping" that gets a single CRLF "pong".

Framing errors are final for a connection, because once the framing is lost nothing
that follows can be trusted (a guess could smuggle a second message in a body):

* no Content-Length header (it is mandatory on streams, RFC 3261 §20.14);
* a Content-Length that is not a number, or two that disagree;
* a message (header section or header plus announced body) larger than the limit.

The framer raises :class:`FramingError`; the connection hands the error and the header
bytes it has to the layer's ``on_framing_error`` hook (which may answer ``400`` or
``513`` on the flow) and then closes the connection after flushing that answer.
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "FramingError",
    "FramingErrorReason",
    "StreamFramer",
    "is_keepalive",
]

#: Default bound on one message, header and body together (bytes).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024

# "\r\n" + header name + HCOLON (*WSP ":" SWS, where SWS may fold onto the next line),
# then the rest of the line. The search is bounded to the header section, and a header
# name must start right after a CRLF, so folded continuation lines and the start line
# never match.
_CONTENT_LENGTH = re.compile(
    rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)",
    re.IGNORECASE,
)
_MAX_CONTENT_LENGTH_DIGITS = 10
_CR = 13
_CRLF = b"\r\n"
_CRLFCRLF = b"\r\n\r\n"
_WSP = b" \t"


class FramingErrorReason(enum.StrEnum):
    MISSING_CONTENT_LENGTH = "missing Content-Length"
    BAD_CONTENT_LENGTH = "bad Content-Length"
    TOO_LARGE = "message too large"


class FramingError(Exception):
    """A stream's framing is broken; the connection must be closed.

    ``data`` holds the header section when it was found (including the blank line), or
    the first bytes of the unterminated head, at most the size limit; it never holds an
    unbounded amount of data.
    """

    def __init__(self, reason: FramingErrorReason, detail: str, data: bytes) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.data = data


def is_keepalive(data: bytes) -> bool:
    """True for an empty message or one made only of CR and LF bytes (a keep-alive)."""
    return not data.strip(b"\r\n")


class StreamFramer:
    """Incremental Content-Length framer.

    Subclasses (the TCP/TLS protocol) implement :meth:`_on_frame` and :meth:`_on_ping`
    and call :meth:`_feed` with every chunk read. The framer copies only what it must:
    complete messages in a chunk are sliced straight out of it, and only an incomplete
    tail is kept in a buffer, which grows by appending (so a message trickling in byte by
    byte costs linear time). While a body is awaited, no rescanning happens at all.
    """

    __slots__ = ("_buf", "_framing_stopped", "_max_size", "_need", "_scan")

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_message_size < 16:
            raise ValueError("max_message_size is unreasonably small")
        self._max_size = max_message_size
        self._buf = bytearray()
        # Bytes the buffer must hold before a complete message can be there (while a body
        # is awaited), and where the search for the blank line resumes (while a header
        # section is incomplete). Both are offsets into _buf.
        self._need = 0
        self._scan = 0
        self._framing_stopped = False

    # -- hooks ---------------------------------------------------------------------------

    def _on_frame(self, message: bytes) -> None:
        raise NotImplementedError

    def _on_ping(self) -> None:
        raise NotImplementedError

    # -- API -----------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete message held back."""
        return len(self._buf)

    def _stop_framing(self) -> None:
        """Deliver nothing more (the connection is closing)."""
        self._framing_stopped = True
        self._buf.clear()

    def _feed(self, data: bytes) -> None:
        """Consume one chunk; deliver every message it completes. Raises FramingError."""
        if self._framing_stopped:
            return
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return
            self._process(buf)
        else:
            self._process(data)

    def _process(self, data: bytes | bytearray) -> None:
        buffered = data is self._buf
        max_size = self._max_size
        n = len(data)
        pos = 0
        scan = self._scan
        self._scan = 0
        self._need = 0
        while pos < n:
            if data[pos] == _CR:
                # CRLFs before a start line are ignored (RFC 3261 §7.5); a double CRLF is
                # a keep-alive ping (RFC 5626 §3.5.1).
                if data.startswith(_CRLFCRLF, pos):
                    pos += 4
                    self._on_ping()
                    if self._framing_stopped:
                        return
                    continue
                if n - pos < 4 and _CRLFCRLF.startswith(data[pos:]):
                    break  # maybe the first half of a ping: wait for more
                if data.startswith(_CRLF, pos):
                    pos += 2
                    continue
            start = pos
            head_end = data.find(_CRLFCRLF, scan if scan > start else start)
            scan = 0
            if head_end < 0:
                if n - start > max_size:
                    raise FramingError(
                        FramingErrorReason.TOO_LARGE,
                        f"no end of header section within {max_size} bytes",
                        bytes(data[start : start + max_size]),
                    )
                self._scan = max(n - 3, start) - start
                break
            body_start = head_end + 4
            if body_start - start > max_size:
                raise FramingError(
                    FramingErrorReason.TOO_LARGE,
                    f"header section of {body_start - start} bytes exceeds {max_size}",
                    bytes(data[start : start + max_size]),
                )
            length = self._content_length(data, start, head_end)
            end = body_start + length
            if end - start > max_size:
                raise FramingError(
                    FramingErrorReason.TOO_LARGE,
                    f"message of {end - start} bytes exceeds {max_size}",
                    bytes(data[start:body_start]),
                )
            if end > n:
                self._need = end - start
                break
            if buffered:
                self._on_frame(bytes(data) if start == 0 and end == n else bytes(data[start:end]))
            else:
                assert isinstance(data, bytes)
                self._on_frame(data[start:end])
            if self._framing_stopped:
                return
            pos = end
        # Keep the unconsumed tail.
        if buffered:
            if pos:
                del self._buf[:pos]
        elif pos < n:
            self._buf += data[pos:] if pos else data

    @staticmethod
    def _content_length(data: bytes | bytearray, start: int, head_end: int) -> int:
        endpos = head_end + 2
        match = _CONTENT_LENGTH.search(data, start, endpos)
        if match is None:
            raise FramingError(
                FramingErrorReason.MISSING_CONTENT_LENGTH,
                "a message on a stream transport must carry Content-Length",
                bytes(data[start : head_end + 4]),
            )
        value = match.group(1).strip(_WSP)
        if not value.isdigit() or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
            raise FramingError(
                FramingErrorReason.BAD_CONTENT_LENGTH,
                f"Content-Length value {value[:20]!r} is not a number",
                bytes(data[start : head_end + 4]),
            )
        length = int(value)
        again = _CONTENT_LENGTH.search(data, match.end(), endpos)
        while again is not None:
            other = again.group(1).strip(_WSP)
            if (
                not other.isdigit()
                or len(other) > _MAX_CONTENT_LENGTH_DIGITS
                or int(other) != length
            ):
                raise FramingError(
                    FramingErrorReason.BAD_CONTENT_LENGTH,
                    "conflicting Content-Length headers",
                    bytes(data[start : head_end + 4]),
                )
            again = _CONTENT_LENGTH.search(data, again.end(), endpos)
        return length
