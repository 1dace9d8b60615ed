"""SIP header fields: an ordered multi-valued container and the typed values the core needs.

:class:`Headers` stores header fields as text, the way they arrived: one entry per header
field line, under a case-insensitive name (compact forms such as ``v`` and ``i`` are
folded into their full names, RFC 3261 §7.3.3). Comma-separated lists are split into
their values only when they are read, and only for the header fields that RFC 3261 and
its extensions define as lists (Via, Contact, Route, Supported, ...): a value such as
``WWW-Authenticate: Digest realm="a", nonce="b"`` or a Date is never split.

Typed values (:class:`Via`, :class:`CSeq`, the numbers) are parsed on demand;
:meth:`Headers.parsed` caches a parse until the header fields change, so a message that
is only routed never pays for the header fields nobody looks at.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar, cast, overload

from callboard.sip.errors import SipParseError
from callboard.sip.grammar import (
    format_host,
    format_params,
    is_token,
    parse_host_port,
    parse_params,
    parse_uint,
    split_commas,
)

__all__ = [
    "CANONICAL_NAMES",
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "CSeq",
    "Headers",
    "Via",
    "canonical_name",
    "parse_content_length",
    "parse_cseq",
    "parse_date",
    "parse_expires",
    "parse_max_forwards",
    "parse_params",
    "parse_via",
]

T = TypeVar("T")

#: Compact forms (RFC 3261 §7.3.3 and the extensions that define one) → full name.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_KNOWN_NAMES = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Accept-Resource-Priority "
    "Alert-Info Allow Allow-Events Answer-Mode Authentication-Info Authorization Call-ID "
    "Call-Info Contact Content-Disposition Content-Encoding Content-Language Content-Length "
    "Content-Type CSeq Date Diversion Error-Info Event Expires Flow-Timer From History-Info "
    "Identity Identity-Info In-Reply-To Join Max-Breadth Max-Forwards MIME-Version "
    "Min-Expires Min-SE Organization P-Asserted-Identity P-Preferred-Identity Path Priority "
    "Privacy Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route "
    "Refer-Sub Refer-To Referred-By Reject-Contact Replaces Reply-To Request-Disposition "
    "Require Resource-Priority Retry-After Route RSeq Security-Client Security-Server "
    "Security-Verify Server Service-Route Session-Expires SIP-ETag SIP-If-Match Subject "
    "Subscription-State Supported Target-Dialog Timestamp To Unsupported User-Agent Via "
    "Warning WWW-Authenticate"
)

#: Lower-cased name → the spelling RFC 3261 and its extensions use.
CANONICAL_NAMES: dict[str, str] = {name.lower(): name for name in _KNOWN_NAMES.split()}

#: Header fields whose value is a comma-separated list (RFC 3261 §7.3.1). No other
#: header field is ever split on commas.
LIST_HEADERS = frozenset(
    {
        "accept",
        "accept-contact",
        "accept-encoding",
        "accept-language",
        "accept-resource-priority",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "diversion",
        "error-info",
        "history-info",
        "in-reply-to",
        "p-asserted-identity",
        "p-preferred-identity",
        "path",
        "proxy-require",
        "reason",
        "record-route",
        "reject-contact",
        "request-disposition",
        "require",
        "resource-priority",
        "route",
        "security-client",
        "security-server",
        "security-verify",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    }
)


def _normalise(name: str) -> tuple[str, str]:
    """(lookup key, name to write) for a header field name."""
    key = name.lower()
    if len(key) == 1:
        key = COMPACT_FORMS.get(key, key)
    return key, CANONICAL_NAMES.get(key, name)


def canonical_name(name: str) -> str:
    """The full, conventionally spelled name: ``v`` → ``Via``, ``call-id`` → ``Call-ID``.

    Names of unknown header fields are returned unchanged.
    """
    return _normalise(name)[1]


class Headers:
    """An ordered, case-insensitive, multi-valued collection of SIP header fields.

    Values are text. :meth:`get` and :meth:`getall` return the individual values of a
    list header field (each comma-separated element); :meth:`lines` returns the header
    field lines as they are stored. Header fields with different names keep the order
    in which each name first appeared (RFC 3261 §7.3.1: only the relative order of
    fields with the same name is significant).
    """

    __slots__ = ("_cache", "_lines", "_names")

    def __init__(self, items: Iterable[tuple[str, str]] | None = None) -> None:
        self._lines: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        self._cache: dict[tuple[str, object], object] | None = None
        if items is not None:
            for name, value in items:
                self.add(name, value)

    @classmethod
    def _from_parsed(cls, lines: dict[str, list[str]], names: dict[str, str]) -> Headers:
        # The parser has already normalised names and checked that values hold no CR/LF.
        headers = cls.__new__(cls)
        headers._lines = lines
        headers._names = names
        headers._cache = None
        return headers

    @staticmethod
    def _key(name: str) -> str:
        key = name.lower()
        return COMPACT_FORMS.get(key, key) if len(key) == 1 else key

    def _prepare(self, name: str, value: str) -> str:
        if not is_token(name):
            raise ValueError(f"invalid header field name {name!r}")
        if "\r" in value or "\n" in value:
            raise ValueError("a header field value cannot contain CR or LF")
        key, display = _normalise(name)
        self._names.setdefault(key, display)
        self._cache = None
        return key

    def add(self, name: str, value: str) -> None:
        """Append a header field line."""
        key = self._prepare(name, value)
        self._lines.setdefault(key, []).append(value)

    def prepend(self, name: str, value: str) -> None:
        """Insert a header field line before the others of the same name (a new top Via)."""
        key = self._prepare(name, value)
        self._lines.setdefault(key, []).insert(0, value)

    def set(self, name: str, value: str) -> None:
        """Replace every header field of this name by one line."""
        key = self._prepare(name, value)
        self._lines[key] = [value]

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value (for a list header field, its first element)."""
        key = self._key(name)
        lines = self._lines.get(key)
        if not lines:
            raise KeyError(name)
        self._prepare(name, value)
        if key in LIST_HEADERS:
            _, *others = split_commas(lines[0])
            lines[0:1] = [value, *others]
        else:
            lines[0] = value

    def remove(self, name: str) -> int:
        """Remove every header field of this name; return how many lines there were."""
        key = self._key(name)
        self._names.pop(key, None)
        self._cache = None
        return len(self._lines.pop(key, ()))

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of a header field, or ``default``."""
        key = self._key(name)
        lines = self._lines.get(key)
        if not lines:
            return default
        return split_commas(lines[0])[0] if key in LIST_HEADERS else lines[0]

    def getall(self, name: str) -> list[str]:
        """Every value of a header field, list elements split, in order."""
        key = self._key(name)
        lines = self._lines.get(key)
        if not lines:
            return []
        if key not in LIST_HEADERS:
            return list(lines)
        values: list[str] = []
        for line in lines:
            values.extend(split_commas(line))
        return values

    def lines(self, name: str) -> list[str]:
        """The header field lines of this name as stored (list elements not split)."""
        return list(self._lines.get(self._key(name), ()))

    def parsed(self, name: str, parser: Callable[[list[str]], T]) -> T:
        """``parser(self.getall(name))``, cached until the header fields change."""
        cache_key = (self._key(name), parser)
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        else:
            try:
                return cast(T, cache[cache_key])
            except KeyError:
                pass
        value = parser(self.getall(name))
        cache[cache_key] = value
        return value

    def _seed(self, key: str, parser: Callable[[list[str]], T], value: T) -> None:
        # Let the parser store what it has already parsed, as if parsed() had run.
        if self._cache is None:
            self._cache = {}
        self._cache[(key, parser)] = value

    def copy(self) -> Headers:
        return Headers._from_parsed(
            {key: list(lines) for key, lines in self._lines.items()}, dict(self._names)
        )

    def copy_lines(self, other: Headers, name: str) -> None:
        """Append the header field lines of ``name`` from ``other``, unchanged."""
        key = self._key(name)
        lines = other._lines.get(key)
        if lines:
            self._names.setdefault(key, other._names[key])
            self._lines.setdefault(key, []).extend(lines)
            self._cache = None

    def items(self) -> Iterator[tuple[str, str]]:
        """(name, line) for every header field line, names spelled canonically."""
        for key, lines in self._lines.items():
            name = self._names[key]
            for line in lines:
                yield name, line

    def names(self) -> list[str]:
        return [self._names[key] for key, lines in self._lines.items() if lines]

    def write(self, out: list[str], skip: str = "") -> None:
        """Append ``Name: value\\r\\n`` for every line to ``out``, except header ``skip``."""
        for key, lines in self._lines.items():
            if key == skip:
                continue
            prefix = self._names[key] + ": "
            for line in lines:
                out.append(prefix)
                out.append(line)
                out.append("\r\n")

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._lines.get(self._key(name)))

    def __len__(self) -> int:
        return sum(len(lines) for lines in self._lines.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return {k: v for k, v in self._lines.items() if v} == {
            k: v for k, v in other._lines.items() if v
        }

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self.items())!r})"


_MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via header field value (RFC 3261 §20.42, RFC 3581 for ``rport``).

    ``transport`` is upper-cased (``UDP``, ``TCP``, ``TLS``, ``SCTP``, ``WS``, ``WSS`` or
    an extension). ``host`` has no brackets for IPv6. ``params`` maps lower-cased names to
    values; ``rport`` maps to ``None`` when the client only asked for it. Immutable
    (parses are shared between messages): see :meth:`with_params`.
    """

    transport: str
    host: str
    port: int | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        return parse_via(text)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def has_magic_cookie(self) -> bool:
        """Whether the branch is an RFC 3261 transaction id: ``z9hG4bK`` and more.

        A bare ``z9hG4bK`` (RFC 4475 §3.2.1) claims RFC 3261 but carries no identifier.
        """
        branch = self.branch
        return branch is not None and len(branch) > 7 and branch.startswith(_MAGIC_COOKIE)

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        """Whether the client asked for symmetric response routing (RFC 3581)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The ``rport`` value filled in by a server, if any."""
        value = self.params.get("rport")
        return parse_uint(value, 65535, "rport") if value else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        host = format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters added or replaced (``via.with_params(received=ip)``)."""
        return dataclasses.replace(self, params={**self.params, **params})

    def __str__(self) -> str:
        text = f"SIP/2.0/{self.transport} {self.sent_by}"
        return text + format_params(self.params) if self.params else text


def parse_via(text: str) -> Via:
    """Parse one Via value; LWS is allowed around ``/`` and ``:`` (RFC 4475 §3.1.1.1)."""
    return _parse_via_cached(text)


def _parse_via(text: str) -> Via:
    head, semicolon, params_text = text.partition(";")
    parts = head.split("/", 2)
    if len(parts) != 3:
        raise SipParseError("Malformed Via Header")
    protocol = parts[0].strip()
    version = parts[1].strip()
    transport_and_host = parts[2].split(None, 1)
    if (
        protocol.upper() != "SIP"
        or version != "2.0"
        or len(transport_and_host) != 2
        or not is_token(transport_and_host[0])
    ):
        raise SipParseError("Malformed Via Header")
    # LWS is allowed around the colon of sent-by (RFC 3261 "COLON"), nowhere else.
    pieces = transport_and_host[1].split()
    for left, right in itertools.pairwise(pieces):
        if not (left.endswith(":") or right.startswith(":")):
            raise SipParseError("Malformed Via Header")
    sent_by = "".join(pieces)
    try:
        host, port = parse_host_port(sent_by)
        params = parse_params(params_text) if semicolon else {}
    except SipParseError:
        raise SipParseError("Malformed Via Header") from None
    return Via(transport_and_host[0].upper(), host, port, params)


@dataclass(frozen=True, slots=True)
class CSeq:
    """The CSeq header field (RFC 3261 §20.16): a sequence number and a method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        return parse_cseq(text)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_MAX_UINT32 = 2**32 - 1


def parse_cseq(text: str) -> CSeq:
    """Parse a CSeq value; the number must fit in 32 bits (RFC 4475 §3.1.2.4)."""
    return _parse_cseq_cached(text)


def _parse_cseq(text: str) -> CSeq:
    parts = text.split()
    if len(parts) != 2 or not is_token(parts[1]):
        raise SipParseError("Malformed CSeq Header")
    return CSeq(parse_uint(parts[0], _MAX_UINT32, "CSeq Header"), parts[1])


# A transaction's Via and CSeq values come back in its responses and retransmissions;
# Via and CSeq are immutable, so each distinct value is parsed once (bounded LRU caches).
# Every Via carries its transaction's unique branch, so it only recurs within a few
# milliseconds (the responses to our requests, an ACK or CANCEL, a retransmission): a
# small cache keeps those hits, where 4096 entries held some 2.4 MB of dead Vias.
_parse_via_cached = lru_cache(maxsize=512)(_parse_via)
_parse_cseq_cached = lru_cache(maxsize=4096)(_parse_cseq)


def parse_content_length(text: str) -> int:
    return parse_uint(text.strip(), _MAX_UINT32, "Content-Length")


def parse_max_forwards(text: str) -> int:
    """Max-Forwards is 0-255 (RFC 3261 §20.22 says "a reasonable limit"; 255 is common)."""
    return parse_uint(text.strip(), 255, "Max-Forwards")


def parse_expires(text: str) -> int:
    """A delta-seconds value: a 32-bit unsigned integer (RFC 3261 §20.19, §25.1)."""
    return parse_uint(text.strip(), _MAX_UINT32, "Expires")


_MONTHS = {
    name: index
    for index, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def parse_date(text: str) -> datetime.datetime:
    """Parse a SIP Date (RFC 3261 §20.17): RFC 1123 form, and only "GMT" as the zone.

    ``UT``, ``UTC`` or any other zone is invalid (RFC 4475 §3.1.2.12).
    """
    parts = text.split()
    if len(parts) != 6 or parts[5] != "GMT" or parts[0].rstrip(",") not in _WEEKDAYS:
        raise SipParseError("Invalid Date Header")
    _, day, month, year, clock, _ = parts
    hms = clock.split(":")
    month_number = _MONTHS.get(month)
    if month_number is None or len(hms) != 3 or not parts[0].endswith(","):
        raise SipParseError("Invalid Date Header")
    try:
        return datetime.datetime(
            parse_uint(year, 9999, "Date Header"),
            month_number,
            parse_uint(day, 31, "Date Header"),
            parse_uint(hms[0], 23, "Date Header"),
            parse_uint(hms[1], 59, "Date Header"),
            parse_uint(hms[2], 59, "Date Header"),
            tzinfo=datetime.UTC,
        )
    except ValueError:
        raise SipParseError("Invalid Date Header") from None
