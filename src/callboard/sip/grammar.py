"""The basic rules of the SIP grammar (RFC 3261 §25.1) that the other parsers share.

Tokens, quoted strings, ``;name=value`` parameter lists, comma-separated lists that must
not be split inside a quoted string or a ``<...>`` URI, ``host[:port]``, and bounded
unsigned integers. Every scanner here is linear in its input (no backtracking regular
expressions over attacker-controlled text), and every failure is a
:class:`~callboard.sip.errors.SipParseError` with status 400.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from callboard.sip.errors import SipParseError

__all__ = [
    "format_host",
    "format_params",
    "is_token",
    "parse_host_port",
    "parse_params",
    "parse_uint",
    "quote",
    "scan_quoted",
    "split_commas",
    "split_semicolons",
    "unquote",
]

#: RFC 3261 ``token``: alphanumerics and ``-.!%*_+`'~``.
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# A hostname (RFC 3261 ``hostname``, with "_" tolerated as some deployments use it) or an
# IPv4 address; IPv6 references are checked with the ipaddress module.
_HOSTNAME = re.compile(r"[A-Za-z0-9_\-.]+")
_COMMA_SPECIALS = re.compile(r'[",<]')
_SEMI_SPECIALS = re.compile(r'[";]')
# Backslash, quote and the control characters that qdtext does not allow unescaped.
_QUOTE_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_ESCAPED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_WSP = " \t"


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN.fullmatch(text) is not None


def scan_quoted(text: str, start: int) -> int:
    """Return the index just past the quoted string that opens at ``text[start]``.

    A backslash escapes the next character (``quoted-pair``), including a quote.
    """
    pos = start + 1
    while True:
        end = text.find('"', pos)
        if end < 0:
            raise SipParseError("Unterminated Quoted String")
        backslash = text.find("\\", pos, end)
        if backslash < 0:
            return end + 1
        pos = backslash + 2


def unquote(value: str) -> str:
    """The content of a quoted string, with quoted-pairs resolved; other text unchanged."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        return _ESCAPED_PAIR.sub(r"\1", inner) if "\\" in inner else inner
    return value


def quote(text: str) -> str:
    """``text`` as a quoted string. CR and LF cannot be quoted (RFC 3261 ``quoted-pair``)."""
    if "\r" in text or "\n" in text:
        raise ValueError("a quoted string cannot contain CR or LF")
    return '"' + _QUOTE_NEEDS_ESCAPE.sub(r"\\\g<0>", text) + '"'


def split_commas(value: str) -> list[str]:
    """Split a header field value on the commas that separate list elements.

    Commas inside a quoted string or between ``<`` and ``>`` belong to the element. The
    elements are stripped of surrounding whitespace; empty elements are kept, so that a
    typed parser can reject them where the grammar does not allow them.
    """
    if '"' not in value and "<" not in value:
        if "," not in value:
            return [value]
        return [part.strip(_WSP) for part in value.split(",")]
    parts: list[str] = []
    start = 0
    pos = 0
    while True:
        match = _COMMA_SPECIALS.search(value, pos)
        if match is None:
            break
        char = match.group()
        pos = match.start()
        if char == '"':
            pos = scan_quoted(value, pos)
        elif char == "<":
            end = value.find(">", pos)
            if end < 0:
                raise SipParseError("Unterminated <")
            pos = end + 1
        else:
            parts.append(value[start:pos].strip(_WSP))
            pos += 1
            start = pos
    parts.append(value[start:].strip(_WSP))
    return parts


def split_semicolons(text: str) -> list[str]:
    """Split ``text`` on the semicolons that are not inside a quoted string."""
    if '"' not in text:
        return text.split(";")
    parts: list[str] = []
    start = 0
    pos = 0
    while True:
        match = _SEMI_SPECIALS.search(text, pos)
        if match is None:
            break
        pos = match.start()
        if match.group() == '"':
            pos = scan_quoted(text, pos)
        else:
            parts.append(text[start:pos])
            pos += 1
            start = pos
    parts.append(text[start:])
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """Parse a ``;name=value;flag`` list of generic parameters (RFC 3261 ``generic-param``).

    The leading semicolon is optional, whitespace around ``;`` and ``=`` is allowed.
    Names are case-insensitive and returned lower-cased; a parameter without a value maps
    to ``None``. Values are returned as written: a quoted value keeps its quotes (use
    :func:`unquote`), so that formatting the parameters again gives the same text.
    """
    text = text.strip(_WSP)
    if not text:
        return {}
    if text[0] == ";":
        text = text[1:]
    params: dict[str, str | None] = {}
    for item in split_semicolons(text):
        name, equals, value = item.partition("=")
        name = name.strip(_WSP)
        if not is_token(name):
            raise SipParseError("Malformed Parameter")
        if equals:
            value = value.strip(_WSP)
            if not value:
                raise SipParseError("Malformed Parameter")
            if value[0] == '"':
                if scan_quoted(value, 0) != len(value):
                    raise SipParseError("Malformed Parameter")
            elif " " in value or "\t" in value or '"' in value:
                raise SipParseError("Malformed Parameter")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: Mapping[str, str | None]) -> str:
    """The ``;name=value`` text of ``params`` (the inverse of :func:`parse_params`)."""
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


def parse_uint(text: str, maximum: int, what: str) -> int:
    """Parse a decimal unsigned integer of at most ``maximum``; leading zeros are allowed."""
    # isascii() as well: str.isdigit() also accepts non-ASCII digits such as "²".
    if text.isdigit() and text.isascii():
        # Never convert a huge digit string: leading zeros aside, it is out of range.
        digits = text.lstrip("0") if len(text) > 10 else text
        if len(digits) <= 10:
            number = int(digits) if digits else 0
            if number <= maximum:
                return number
    raise SipParseError(f"Invalid {what}")


def parse_host_port(text: str) -> tuple[str, int | None]:
    """Parse ``host[:port]``; an IPv6 reference loses its brackets (``[::1]`` → ``::1``)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError("Invalid Host")
        host = text[1:end]
        rest = text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipParseError("Invalid Host") from None
        if not rest:
            return host, None
        if rest[0] != ":":
            raise SipParseError("Invalid Host")
        return host, parse_uint(rest[1:], 65535, "Port")
    host, colon, port = text.partition(":")
    if _HOSTNAME.fullmatch(host) is None:
        raise SipParseError("Invalid Host")
    if colon:
        return host, parse_uint(port, 65535, "Port")
    return host, None


def format_host(host: str) -> str:
    """``host`` as it is written in a URI or a Via: IPv6 addresses get their brackets."""
    return f"[{host}]" if ":" in host else host
