"""SIP and SIPS URIs (RFC 3261 §19.1), other absolute URIs, and name-addr values (§20.10).

A :class:`SipUri` holds its user, password, parameter names and values and header values
*unescaped* (``sip:%61lice@example.com`` has the user ``alice``), so that code compares
and uses the real values; escaping is put back when the URI is written out. A parsed URI
also remembers the text it was parsed from and writes exactly that text again, so a URI
that is only passed along is never re-encoded.

Case rules (§19.1.4): the scheme, the host and parameter names are case-insensitive, the
user and password are not. Parameter names are stored lower-cased; everything else keeps
the case it was written in and is compared with the rule that applies to it.

Parsed URIs and addresses are immutable, and parsing them is memoised: the same From,
To, Contact and Request-URI text comes back in every message of a dialog.

Request-URIs and name-addr values may also carry other schemes (``tel:``, ``urn:``,
``http:``, ...); RFC 4475 §3.3.2-§3.3.4 requires a parser to accept them. They are kept as
an opaque :class:`AbsoluteUri`; deciding whether to serve them is up to the application.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from callboard.sip.errors import SipParseError
from callboard.sip.grammar import (
    format_host,
    format_params,
    is_token,
    parse_host_port,
    parse_params,
    quote,
    scan_quoted,
    unquote,
)

__all__ = ["AbsoluteUri", "NameAddress", "SipUri", "parse_uri"]

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_OPAQUE_FORBIDDEN = re.compile(r'[\x00-\x20\x7f<>"]')
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
# What may appear unescaped in each part (RFC 3261 §25.1). Non-ASCII characters are
# tolerated in the user part, as some user agents send UTF-8 there unescaped.
_USER = re.compile(rf"[{_UNRESERVED}&=+$,;?/%\u0080-\U0010ffff]+")
_PASSWORD = re.compile(rf"[{_UNRESERVED}&=+$,%]*")
_PARAM = re.compile(rf"[{_UNRESERVED}\[\]/:&+$%]+")
_HEADER = re.compile(rf"[{_UNRESERVED}\[\]/?:+$%]*")
# The complement of the same sets ("%" included, so that it is escaped on output).
_USER_UNSAFE = re.compile(rf"[^{_UNRESERVED}&=+$,;?/]")
_PASSWORD_UNSAFE = re.compile(rf"[^{_UNRESERVED}&=+$,]")
_PARAM_UNSAFE = re.compile(rf"[^{_UNRESERVED}\[\]/:&+$]")
_HEADER_UNSAFE = re.compile(rf"[^{_UNRESERVED}\[\]/?:+$]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_WSP = " \t"
_CACHE_SIZE = 4096

# uri-parameters that make two URIs differ when only one of them has it (§19.1.4).
_SIGNIFICANT_PARAMS = frozenset({"user", "ttl", "method", "maddr", "transport"})


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text) is not None:
        raise SipParseError("Invalid Escape in URI")
    return unquote_to_bytes(text.encode("utf-8", "surrogateescape")).decode(
        "utf-8", "surrogateescape"
    )


def _escape(text: str, unsafe: re.Pattern[str]) -> str:
    if unsafe.search(text) is None:
        return text
    return unsafe.sub(
        lambda match: "".join(
            f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogateescape")
        ),
        text,
    )


def _host_key(host: str) -> str:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return host.lower()
    return host.lower()


@dataclass(frozen=True, slots=True, eq=False)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. Equality follows RFC 3261 §19.1.4.

    ``host`` is written without brackets for IPv6 (``::1``); ``params`` maps lower-cased
    names to unescaped values (``None`` for a parameter without value, like ``lr``);
    ``headers`` keeps the ``?name=value`` pairs in order, unescaped.

    Like every parsed value here it is immutable, because parses are cached and shared
    between messages: build a changed URI with :func:`dataclasses.replace`.
    """

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"
    _text: str | None = field(default=None, init=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        uri = parse_uri(text)
        if not isinstance(uri, SipUri):
            raise SipParseError("Not a SIP URI")
        return uri

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """Whether the URI is a loose router's (``;lr``, RFC 3261 §16.12)."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def aor(self) -> str:
        """The canonical address-of-record: no parameters or headers, host lower-cased.

        This is the registrar's binding key (RFC 3261 §10.3 step 5).
        """
        return str(
            SipUri(host=self.host.lower(), user=self.user, port=self.port, scheme=self.scheme)
        )

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_UNSAFE))
            if self.password is not None:
                parts.append(":")
                parts.append(_escape(self.password, _PASSWORD_UNSAFE))
            parts.append("@")
        parts.append(format_host(self.host))
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.params.items():
            parts.append(";")
            parts.append(_escape(name, _PARAM_UNSAFE))
            if value is not None:
                parts.append("=")
                parts.append(_escape(value, _PARAM_UNSAFE))
        for index, (name, value) in enumerate(self.headers):
            parts.append("&" if index else "?")
            parts.append(f"{_escape(name, _HEADER_UNSAFE)}={_escape(value, _HEADER_UNSAFE)}")
        return "".join(parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SipUri):
            return NotImplemented
        if (
            self.scheme != other.scheme
            or self.user != other.user
            or self.password != other.password
            or self.port != other.port
            or _host_key(self.host) != _host_key(other.host)
        ):
            return False
        mine, theirs = self.params, other.params
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                a, b = mine[name], theirs[name]
                if a != b and (a is None or b is None or a.lower() != b.lower()):
                    return False
            elif name in _SIGNIFICANT_PARAMS:
                return False
        if self.headers or other.headers:
            return {n.lower(): v for n, v in self.headers} == {
                n.lower(): v for n, v in other.headers
            }
        return True

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.password, _host_key(self.host), self.port))


@dataclass(frozen=True, slots=True, eq=False)
class AbsoluteUri:
    """A URI of a scheme other than sip/sips, kept opaque: ``scheme:opaque``."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbsoluteUri):
            return NotImplemented
        return self.scheme.lower() == other.scheme.lower() and self.opaque == other.opaque

    def __hash__(self) -> int:
        return hash((self.scheme.lower(), self.opaque))


def parse_uri(text: str) -> SipUri | AbsoluteUri:
    """Parse a URI: a :class:`SipUri` for sip/sips, an :class:`AbsoluteUri` otherwise."""
    return _parse_uri_cached(text)


def _parse_uri(text: str) -> SipUri | AbsoluteUri:
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise SipParseError("Malformed URI")
    lowered = scheme.lower()
    if lowered == "sip" or lowered == "sips":
        return _parse_sip_uri(lowered, rest, text)
    if not rest or _OPAQUE_FORBIDDEN.search(rest) is not None:
        raise SipParseError("Malformed URI")
    return AbsoluteUri(scheme, rest)


def _parse_sip_uri(scheme: str, rest: str, text: str) -> SipUri:
    # The user part may hold ";", "?" and "/" (RFC 4475 §3.1.1.2, §3.1.1.9) but never an
    # unescaped "@", and "@" appears nowhere else: so the first "@" ends the userinfo.
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        raw_user, colon, raw_password = userinfo.partition(":")
        if _USER.fullmatch(raw_user) is None:
            raise SipParseError("Malformed URI User")
        user = _unescape(raw_user)
        if colon:
            if _PASSWORD.fullmatch(raw_password) is None:
                raise SipParseError("Malformed URI Password")
            password = _unescape(raw_password)
    rest, question, headers_text = rest.partition("?")
    hostport, semicolon, params_text = rest.partition(";")
    host, port = parse_host_port(hostport)
    params = _parse_uri_params(params_text) if semicolon else {}
    headers = _parse_uri_headers(headers_text) if question else ()
    uri = SipUri(host, user, password, port, params, headers, scheme)
    object.__setattr__(uri, "_text", text)
    return uri


def _parse_uri_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";"):
        name, equals, value = item.partition("=")
        if _PARAM.fullmatch(name) is None:
            raise SipParseError("Malformed URI Parameter")
        if equals:
            if _PARAM.fullmatch(value) is None:
                raise SipParseError("Malformed URI Parameter")
            params[_unescape(name).lower()] = _unescape(value)
        else:
            params[_unescape(name).lower()] = None
    return params


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, equals, value = item.partition("=")
        if not name or not equals or _HEADER.fullmatch(name) is None:
            raise SipParseError("Malformed URI Header")
        if _HEADER.fullmatch(value) is None:
            raise SipParseError("Malformed URI Header")
        headers.append((_unescape(name), _unescape(value)))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class NameAddress:
    """A ``name-addr`` or ``addr-spec`` with header parameters (RFC 3261 §20.10, §25.1).

    The value of From, To, Contact, Route, Record-Route, Refer-To and similar header
    fields. ``display_name`` is the unquoted text (``None`` when absent); ``params`` are
    the header parameters (``tag``, ``expires``, ``q``, ...), lower-cased names mapping
    to values as written (quoted values keep their quotes).

    When the value is an addr-spec without ``<>``, every ``;param`` belongs to the header
    field, not to the URI (RFC 3261 §20.10, RFC 4475 §3.3.12). It is always written out
    in name-addr form. Immutable (parses are shared): see :meth:`with_tag`.
    """

    uri: SipUri | AbsoluteUri
    display_name: str | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        return _parse_name_address_cached(text)

    @classmethod
    def _parse(cls, text: str) -> NameAddress:
        text = text.strip(_WSP)
        if not text:
            raise SipParseError("Empty Address")
        if text[0] == '"':
            end = scan_quoted(text, 0)
            display: str | None = unquote(text[:end])
            rest = text[end:].lstrip(_WSP)
            if not rest.startswith("<"):
                raise SipParseError("Malformed Address")
            return cls._parse_angle(rest, 0, display)
        angle = text.find("<")
        if angle >= 0:
            before = text[:angle]
            # A display name is tokens and whitespace: a scheme colon, a parameter or a
            # quote before the "<" means the "<" is inside an addr-spec's parameters.
            if ":" not in before and ";" not in before and '"' not in before:
                words = before.split()
                for word in words:
                    if not is_token(word):
                        raise SipParseError("Malformed Display Name")
                return cls._parse_angle(text, angle, " ".join(words) if words else None)
        semicolon = text.find(";")
        uri_text = (text if semicolon < 0 else text[:semicolon]).rstrip(_WSP)
        # An addr-spec holding a comma, question mark or semicolon must be in <>
        # (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
        if any(char in uri_text for char in " \t,?"):
            raise SipParseError("Malformed Address")
        params = parse_params(text[semicolon:]) if semicolon >= 0 else {}
        return cls(parse_uri(uri_text), None, params)

    @classmethod
    def _parse_angle(cls, text: str, angle: int, display: str | None) -> NameAddress:
        end = text.find(">", angle)
        if end < 0:
            raise SipParseError("Malformed Address")
        uri_text = text[angle + 1 : end]
        # No whitespace inside <> (RFC 4475 §3.1.2.14).
        if " " in uri_text or "\t" in uri_text:
            raise SipParseError("Malformed Address")
        rest = text[end + 1 :].strip(_WSP)
        if rest and rest[0] != ";":
            raise SipParseError("Malformed Address")
        return cls(parse_uri(uri_text), display, parse_params(rest) if rest else {})

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddress:
        return dataclasses.replace(self, params={**self.params, "tag": tag})

    def __str__(self) -> str:
        uri = f"<{self.uri}>"
        if self.display_name:
            uri = f"{quote(self.display_name)} {uri}"
        return uri + format_params(self.params) if self.params else uri


# The same URIs and addresses come back in every message of a dialog (From, To, the
# Request-URI, Contact, Route) and of a transaction's retransmissions: the values are
# immutable, so a parse is done once and shared. The caches are bounded (LRU).
_parse_uri_cached = lru_cache(maxsize=_CACHE_SIZE)(_parse_uri)
_parse_name_address_cached = lru_cache(maxsize=_CACHE_SIZE)(NameAddress._parse)
