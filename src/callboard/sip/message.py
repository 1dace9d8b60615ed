"""SIP requests and responses (RFC 3261 §7): parsing, serialising, and what the core reads.

:func:`parse_message` frames one message (a UDP datagram, or one message a stream
transport has already framed by its Content-Length) and checks the part of it that every
element relies on before it does anything else: the start line, the header section, the
body length, and the header fields that identify the transaction and the dialog (Via,
From, To, Call-ID, CSeq, Max-Forwards). A message that passes is safe to hand to the
transaction layer. Other header fields are parsed when first read (``msg.contacts``,
``msg.expires``, ...), and a malformed one raises the same :class:`SipParseError` then:
the element that needs the value is the one that answers for it.

Every error carries the status to answer with (see :mod:`callboard.sip.errors`); when the
message could be framed, the error also carries it (``error.message``), so that a 400
can still be built with :meth:`SipRequest.create_response`.

Serialising (:meth:`SipMessage.encode`, ``bytes(msg)``) writes canonical header names,
one header field line per stored line, and always a correct Content-Length.
"""

from __future__ import annotations

import datetime
import re
from typing import ClassVar, Final

from callboard.sip.errors import (
    BadExtension,
    MessageTooLarge,
    SipParseError,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from callboard.sip.grammar import is_token, split_commas
from callboard.sip.headers import (
    CANONICAL_NAMES,
    CSeq,
    Headers,
    Via,
    _normalise,
    parse_content_length,
    parse_cseq,
    parse_date,
    parse_expires,
    parse_max_forwards,
    parse_via,
)
from callboard.sip.uri import AbsoluteUri, NameAddress, SipUri, parse_uri

__all__ = [
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_SIZE",
    "KNOWN_METHODS",
    "REASON_PHRASES",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "default_reason",
    "parse_message",
    "validate_request",
]

#: Largest message accepted by default, header section and body together.
DEFAULT_MAX_SIZE: Final = 64 * 1024
#: Most header field lines accepted by default (after unfolding).
DEFAULT_MAX_HEADERS: Final = 256

#: Methods of RFC 3261 and the extensions Callboard knows.
KNOWN_METHODS = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    }
)

# Requests whose 101-299 responses can create a dialog and so echo Record-Route (§12.1.1).
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})

#: Default reason phrases (RFC 3261 §21 and the extensions that define codes).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    430: "Flow Failed",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}

_CLASS_REASONS = {
    1: "Trying",
    2: "OK",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}


def default_reason(status: int) -> str:
    """The reason phrase for ``status``, or one for its class when the code is unknown."""
    return REASON_PHRASES.get(status) or _CLASS_REASONS.get(status // 100, "Unknown")


def _vias(values: list[str]) -> tuple[Via, ...]:
    return tuple(parse_via(value) for value in values)


def _only(values: list[str], name: str) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise SipParseError(f"Multiple {name} Headers")
    return values[0]


def _from(values: list[str]) -> NameAddress:
    value = _only(values, "From")
    if value is None:
        raise SipParseError("Missing From Header")
    return NameAddress.parse(value)


def _to(values: list[str]) -> NameAddress:
    value = _only(values, "To")
    if value is None:
        raise SipParseError("Missing To Header")
    return NameAddress.parse(value)


def _call_id(values: list[str]) -> str:
    value = _only(values, "Call-ID")
    if value is None:
        raise SipParseError("Missing Call-ID Header")
    if not value or " " in value or "\t" in value:
        raise SipParseError("Malformed Call-ID Header")
    return value


def _cseq(values: list[str]) -> CSeq:
    value = _only(values, "CSeq")
    if value is None:
        raise SipParseError("Missing CSeq Header")
    return parse_cseq(value)


def _max_forwards(values: list[str]) -> int | None:
    value = _only(values, "Max-Forwards")
    return None if value is None else parse_max_forwards(value)


def _expires(values: list[str]) -> int | None:
    value = _only(values, "Expires")
    return None if value is None else parse_expires(value)


def _addresses(values: list[str]) -> tuple[NameAddress, ...]:
    return tuple(NameAddress.parse(value) for value in values)


def _contacts(values: list[str]) -> tuple[NameAddress, ...]:
    if "*" in values:
        # "Contact: *" is only valid alone (RFC 3261 §10.2.2); it is not an address.
        if len(values) > 1:
            raise SipParseError("Malformed Contact Header")
        return ()
    return _addresses(values)


def _tokens(values: list[str]) -> tuple[str, ...]:
    tokens = tuple(value for value in values if value)
    for token in tokens:
        if not is_token(token):
            raise SipParseError("Malformed Option Tag")
    return tokens


class SipMessage:
    """What requests and responses share: header fields, a body, and typed accessors.

    Accessors of mandatory header fields (``call_id``, ``cseq``, ``from_``, ``to``,
    ``via``) raise :class:`SipParseError` when the header field is missing or malformed;
    on a message returned by :func:`parse_message` they never do. Parsed values are
    cached until ``headers`` changes.
    """

    __slots__ = ("body", "headers")

    is_request: ClassVar[bool]

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = Headers() if headers is None else headers
        self.body = body

    # -- the header fields of every transaction and dialog ---------------------------

    @property
    def call_id(self) -> str:
        return self.headers.parsed("call-id", _call_id)

    @property
    def cseq(self) -> CSeq:
        return self.headers.parsed("cseq", _cseq)

    @property
    def vias(self) -> tuple[Via, ...]:
        """Every Via value, the top (most recent) one first."""
        return self.headers.parsed("via", _vias)

    @property
    def via(self) -> Via:
        """The top Via value."""
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Via Header")
        return vias[0]

    @property
    def branch(self) -> str | None:
        """The branch parameter of the top Via (the transaction id, RFC 3261 §17)."""
        return self.via.branch

    @property
    def from_(self) -> NameAddress:
        return self.headers.parsed("from", _from)

    @property
    def to(self) -> NameAddress:
        return self.headers.parsed("to", _to)

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @property
    def max_forwards(self) -> int | None:
        return self.headers.parsed("max-forwards", _max_forwards)

    # -- header fields parsed on first use -------------------------------------------

    @property
    def contacts(self) -> tuple[NameAddress, ...]:
        """The Contact values; empty for none and for the wildcard ``Contact: *``."""
        return self.headers.parsed("contact", _contacts)

    @property
    def is_contact_wildcard(self) -> bool:
        """Whether the Contact header field is ``*`` (a REGISTER removing every binding)."""
        return self.headers.getall("contact") == ["*"]

    @property
    def routes(self) -> tuple[NameAddress, ...]:
        return self.headers.parsed("route", _addresses)

    @property
    def record_routes(self) -> tuple[NameAddress, ...]:
        return self.headers.parsed("record-route", _addresses)

    @property
    def expires(self) -> int | None:
        return self.headers.parsed("expires", _expires)

    @property
    def require(self) -> tuple[str, ...]:
        return self.headers.parsed("require", _tokens)

    @property
    def proxy_require(self) -> tuple[str, ...]:
        return self.headers.parsed("proxy-require", _tokens)

    @property
    def supported(self) -> tuple[str, ...]:
        return self.headers.parsed("supported", _tokens)

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lower-cased and without parameters."""
        value = self.headers.get("content-type")
        if value is None:
            return None
        return value.partition(";")[0].strip().lower() or None

    @property
    def date(self) -> datetime.datetime | None:
        """The Date header field (only GMT is valid, RFC 4475 §3.1.2.12)."""
        value = self.headers.get("date")
        return None if value is None else parse_date(value)

    @property
    def content_length(self) -> int:
        """The body length, which is what ``encode`` writes as Content-Length."""
        return len(self.body)

    # -- serialising -----------------------------------------------------------------

    def start_line(self) -> str:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The message on the wire: CRLFs, canonical names, a correct Content-Length."""
        out = [self.start_line(), "\r\n"]
        self.headers.write(out, skip="content-length")
        out.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "".join(out).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.encode()


class SipRequest(SipMessage):
    """A SIP request: method, Request-URI, header fields and body."""

    __slots__ = ("method", "uri")

    is_request = True

    def __init__(
        self,
        method: str,
        uri: SipUri | AbsoluteUri | str,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        if not is_token(method):
            raise ValueError(f"invalid method {method!r}")
        super().__init__(headers, body)
        self.method = method
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def create_response(
        self, status: int, reason: str | None = None, *, to_tag: str | None = None
    ) -> SipResponse:
        """A response to this request, its header fields copied per RFC 3261 §8.2.6.

        Via (every value, in order), From, Call-ID and CSeq are copied unchanged, and To
        too, with ``to_tag`` added when the request's To has no tag yet. A 100 also
        echoes Timestamp (§8.2.6.1); a 101-299 response to a request that can create a
        dialog echoes Record-Route (§12.1.1).

        Only text is copied, so this works on the message a :class:`SipParseError`
        carries too, to answer a malformed request with its 400.
        """
        response = SipResponse(status, reason)
        headers = response.headers
        request_headers = self.headers
        headers.copy_lines(request_headers, "via")
        headers.copy_lines(request_headers, "from")
        to_value = request_headers.get("to")
        if to_value is not None:
            if to_tag is not None and self._to_tag_or_malformed() is None:
                to_value = f"{to_value};tag={to_tag}"
            headers.add("To", to_value)
        headers.copy_lines(request_headers, "call-id")
        headers.copy_lines(request_headers, "cseq")
        if status == 100:
            headers.copy_lines(request_headers, "timestamp")
        elif 100 < status < 300 and self.method in _DIALOG_CREATING:
            headers.copy_lines(request_headers, "record-route")
        return response

    def _to_tag_or_malformed(self) -> str | None:
        try:
            return self.to.tag
        except SipParseError:
            return "(malformed To)"  # leave a To that cannot be parsed as it is

    def __repr__(self) -> str:
        return f"<SipRequest {self.method} {self.uri}>"


class SipResponse(SipMessage):
    """A SIP response: status code, reason phrase, header fields and body."""

    __slots__ = ("reason", "status")

    is_request = False

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        if not 100 <= status <= 699:
            raise ValueError(f"invalid status code {status}")
        if reason is not None and ("\r" in reason or "\n" in reason):
            raise ValueError("a reason phrase cannot contain CR or LF")
        super().__init__(headers, body)
        self.status = status
        self.reason = default_reason(status) if reason is None else reason

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<SipResponse {self.status} {self.reason}>"


# -- parsing ---------------------------------------------------------------------------

_FOLD_CRLF = re.compile(r"\r\n[ \t]+")
_FOLD_LF = re.compile(r"\n[ \t]+")
_SIP_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)

# Raw header name (as written, with any whitespace before the colon) → (key, name to
# write). Bounded so that a flood of invented names cannot grow it without limit.
_NAME_CACHE: dict[str, tuple[str, str]] = {}
_NAME_CACHE_LIMIT = 4096


def _header_name(raw: str) -> tuple[str, str]:
    name = raw.rstrip(" \t")
    if not is_token(name):
        raise SipParseError("Malformed Header Name")
    result = _normalise(name)
    if len(_NAME_CACHE) < _NAME_CACHE_LIMIT:
        _NAME_CACHE[raw] = result
    return result


def parse_message(
    data: bytes,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_headers: int = DEFAULT_MAX_HEADERS,
) -> SipRequest | SipResponse:
    """Parse one SIP message from ``data``.

    ``data`` is a datagram, or one message a stream transport has framed. Octets after
    the body that Content-Length announces are discarded (RFC 3261 §18.3, RFC 4475
    §3.1.1.8); a Content-Length larger than the data is an error. Without Content-Length
    the body is the rest of the data (RFC 4475 §3.4.1). CRLFs before the start line are
    skipped (§7.5). Lines may end in bare LF instead of CRLF if every line does.

    Raises :class:`SipParseError` (or a subclass carrying another status) and nothing
    else, whatever the input.
    """
    if len(data) > max_size:
        raise MessageTooLarge()
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        body_start = end + 4
        newline = "\r\n"
        fold = _FOLD_CRLF
    else:
        end = data.find(b"\n\n")
        if end >= 0:
            body_start = end + 2
        elif data.endswith(b"\n"):
            # No empty line after the last header field line, so no body: RFC 3261 §7
            # requires the empty line, but a datagram cannot have been cut short at a
            # line end by the network, so a liberal receiver accepts it (RFC 4475's own
            # archive has such a message, baddn.dat).
            end = len(data) - 2 if data.endswith(b"\r\n") else len(data) - 1
            body_start = len(data)
        else:
            raise SipParseError("Incomplete Message")
        newline = "\r\n" if data[end : end + 2] == b"\r\n" else "\n"
        fold = _FOLD_CRLF if newline == "\r\n" else _FOLD_LF
    text = data[:end].decode("utf-8", "surrogateescape")
    # A CR or LF that is not part of a line break would end up inside a header value.
    breaks = text.count(newline)
    if newline == "\r\n":
        stray = text.count("\r") != breaks or text.count("\n") != breaks
    else:
        stray = "\r" in text
    if stray:
        raise SipParseError("Bare CR or LF in Header")
    if newline + " " in text or newline + "\t" in text:
        text = fold.sub(" ", text)
    lines = text.split(newline)
    if len(lines) - 1 > max_headers:
        raise SipParseError("Too Many Headers")

    message = _parse_start_line(lines[0])

    values: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    cache = _NAME_CACHE
    for index in range(1, len(lines)):
        raw_name, colon, value = lines[index].partition(":")
        if not colon:
            raise SipParseError("Malformed Header Line")
        known = cache.get(raw_name)
        key, name = known if known is not None else _header_name(raw_name)
        value = value.strip(" \t")
        existing = values.get(key)
        if existing is None:
            values[key] = [value]
            names[key] = name
        else:
            existing.append(value)
    message.headers = Headers._from_parsed(values, names)
    message.body = b""

    try:
        lengths = values.get("content-length")
        if lengths is None:
            message.body = data[body_start:]
        else:
            length = parse_content_length(lengths[0])
            if any(parse_content_length(other) != length for other in lengths[1:]):
                raise SipParseError("Conflicting Content-Length Headers")
            if length > len(data) - body_start:
                raise SipParseError("Content-Length Larger Than Message")
            message.body = data[body_start : body_start + length]
        _check_core(message, values)
    except SipParseError as error:
        error.message = message
        raise
    return message


def _parse_start_line(line: str) -> SipRequest | SipResponse:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version.upper() != "SIP/2.0":
            raise SipParseError("Unsupported SIP Version")
        if len(code) != 3 or not code.isascii() or not code.isdigit() or code[0] not in "123456":
            raise SipParseError("Malformed Status-Line")
        response = SipResponse.__new__(SipResponse)
        response.status = int(code)
        response.reason = reason
        return response
    # Exactly one SP between the three elements and none at the end (RFC 3261 §7.1,
    # RFC 4475 §3.1.2.8-§3.1.2.10).
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("Malformed Request-Line")
    method, uri_text, version = parts
    if version != "SIP/2.0" and version.upper() != "SIP/2.0":
        if _SIP_VERSION.fullmatch(version):
            raise VersionNotSupported()
        raise SipParseError("Malformed Request-Line")
    if not is_token(method):
        raise SipParseError("Malformed Request-Line")
    uri = parse_uri(uri_text)
    if isinstance(uri, SipUri) and uri.headers:
        # Header components are not allowed in a Request-URI (RFC 3261 §19.1.1, Table 1).
        raise SipParseError("Headers in Request-URI")
    request = SipRequest.__new__(SipRequest)
    request.method = method
    request.uri = uri
    return request


_REQUIRED = ("via", "from", "to", "call-id", "cseq")


def _check_core(message: SipRequest | SipResponse, values: dict[str, list[str]]) -> None:
    """Parse the header fields every element needs, and cache them in ``message``.

    Equivalent to reading ``message.vias``, ``.call_id``, ``.from_``, ``.to``, ``.cseq``
    and ``.max_forwards``, without going through the generic accessors (this runs for
    every message received).
    """
    for key in _REQUIRED:
        if key not in values:
            raise SipParseError(f"Missing {CANONICAL_NAMES[key]} Header")
    headers = message.headers
    vias: list[str] = []
    for line in values["via"]:
        vias.extend(split_commas(line))
    headers._seed("via", _vias, _vias(vias))
    headers._seed("call-id", _call_id, _call_id(values["call-id"]))
    headers._seed("from", _from, _from(values["from"]))
    headers._seed("to", _to, _to(values["to"]))
    cseq = _cseq(values["cseq"])
    headers._seed("cseq", _cseq, cseq)
    if isinstance(message, SipRequest):
        max_forwards = values.get("max-forwards")
        if max_forwards is not None:
            headers._seed("max-forwards", _max_forwards, _max_forwards(max_forwards))
        if cseq.method != message.method:
            # RFC 4475 §3.1.2.17-18: 400, or 501 when the method is unknown anyway.
            if message.method in KNOWN_METHODS:
                raise SipParseError("CSeq Method Mismatch")
            raise SipParseError("Not Implemented", 501)


def validate_request(
    request: SipRequest,
    *,
    schemes: frozenset[str] = frozenset({"sip", "sips", "tel"}),
    supported: frozenset[str] = frozenset(),
    proxy: bool = False,
) -> None:
    """The checks a UAS or proxy makes before processing a request (RFC 3261 §8.2.2).

    Raises :class:`UnsupportedUriScheme` (416) when the Request-URI scheme is not in
    ``schemes``, and :class:`BadExtension` (420) when Require lists option tags outside
    ``supported`` (Proxy-Require instead, for a ``proxy``, §16.3 step 5); the error's
    ``unsupported`` goes into the response's Unsupported header field. CANCEL and ACK are
    never refused for their Require header field (§8.2.2.3).
    """
    scheme = request.uri.scheme.lower()
    if scheme not in schemes:
        raise UnsupportedUriScheme()
    if request.method in ("ACK", "CANCEL"):
        return
    required = request.proxy_require if proxy else request.require
    unsupported = tuple(tag for tag in required if tag not in supported)
    if unsupported:
        raise BadExtension(unsupported)
