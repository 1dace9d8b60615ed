"""Hostile input: the parser raises SipParseError and nothing else, and stays fast.

Random bytes, every truncation of every RFC 4475 message, random edits of them with the
characters parsers trip on, huge header counts, and inputs built to make a naive parser
quadratic. Whatever ``parse_message`` returns must also survive every accessor and a
re-encoding.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callboard.sip.digest import parse_authorization, parse_challenge
from callboard.sip.errors import SipParseError
from callboard.sip.message import SipRequest, SipResponse, parse_message, validate_request
from callboard.sip.uri import NameAddress, SipUri, parse_uri

TORTURE = Path(__file__).parent / "torture"
CORPUS = [path.read_bytes() for path in sorted(TORTURE.glob("*.dat"))]

ACCESSORS = (
    "call_id",
    "cseq",
    "vias",
    "via",
    "branch",
    "from_",
    "to",
    "from_tag",
    "to_tag",
    "max_forwards",
    "contacts",
    "is_contact_wildcard",
    "routes",
    "record_routes",
    "expires",
    "require",
    "proxy_require",
    "supported",
    "content_type",
    "date",
    "content_length",
)

# No example database in the work tree; no per-example deadline on a busy CI machine
# (the time bounds below are explicit and generous instead).
FUZZ = settings(
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)


def attempt(function: Callable[..., object], *args: object) -> None:
    with contextlib.suppress(SipParseError):
        function(*args)


def exercise(data: bytes) -> None:
    """Parse ``data`` and use everything; only SipParseError may come out."""
    try:
        message = parse_message(data)
    except SipParseError as error:
        assert 100 <= error.status <= 699
        assert "\r" not in error.reason and "\n" not in error.reason
        if error.message is not None:
            use(error.message)
        return
    use(message)
    again = parse_message(message.encode(), max_size=len(data) * 2 + 100)
    assert again.body == message.body


def use(message: SipRequest | SipResponse) -> None:
    for name in ACCESSORS:
        attempt(getattr, message, name)
    for name in ("Authorization", "Proxy-Authorization"):
        for value in message.headers.getall(name):
            attempt(parse_authorization, value)
    for value in message.headers.getall("WWW-Authenticate"):
        attempt(parse_challenge, value)
    if isinstance(message, SipRequest):
        attempt(validate_request, message)
        message.create_response(400, to_tag="x").encode()
    message.encode()


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@FUZZ
@given(st.binary(max_size=512).map(lambda tail: b"INVITE sip:a@b.com SIP/2.0\r\n" + tail))
def test_random_bytes_after_a_valid_start_line(data: bytes) -> None:
    exercise(data)


INTERESTING = [
    b'"',
    b"\\",
    b"<",
    b">",
    b",",
    b";",
    b":",
    b"=",
    b"?",
    b"@",
    b"%",
    b"%0",
    b"[",
    b"]",
    b" ",
    b"\t",
    b"\r\n",
    b"\r\n ",
    b"\r",
    b"\n",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"0",
    b"9999999999999",
    b"-",
    b"SIP/2.0",
    b"z9hG4bK",
]

edit = st.tuples(
    st.integers(min_value=0, max_value=4000),
    st.integers(min_value=0, max_value=8),
    st.sampled_from(INTERESTING),
)


@FUZZ
@given(st.sampled_from(CORPUS), st.lists(edit, min_size=1, max_size=6))
def test_edited_torture_messages(original: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = original
    for position, removed, inserted in edits:
        position %= len(data) + 1
        data = data[:position] + inserted + data[position + removed :]
    exercise(data)


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_every_truncation(index: int) -> None:
    original = CORPUS[index]
    for end in range(len(original) + 1):
        exercise(original[:end])


@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_every_single_byte_deletion(index: int) -> None:
    original = CORPUS[index]
    for position in range(len(original)):
        exercise(original[:position] + original[position + 1 :])


HEAD = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
    b"To: <sip:bob@biloxi.com>\r\nFrom: <sip:alice@atlanta.com>;tag=1\r\n"
    b"Call-ID: c\r\nCSeq: 1 INVITE\r\n"
)
LIMIT = 64 * 1024


def fill(prefix: bytes, unit: bytes, suffix: bytes = b"\r\n\r\n") -> bytes:
    """The largest message under the size limit made of ``unit`` repeated."""
    count = (LIMIT - len(prefix) - len(suffix)) // len(unit)
    return prefix + unit * count + suffix


ADVERSARIAL = {
    "header lines": fill(HEAD, b"X: y\r\n"),
    "empty header lines": fill(HEAD, b"x:\r\n"),
    "folded continuation lines": fill(HEAD + b"Subject: a", b"\r\n b"),
    "folded empty lines": fill(HEAD + b"Subject:", b"\r\n "),
    "commas in a Via": fill(HEAD + b"Via: SIP/2.0/UDP h", b",SIP/2.0/UDP h"),
    "empty Via elements": fill(HEAD + b"Via: ", b","),
    "escaped quotes in a Contact": fill(HEAD + b'Contact: "', b'\\"'),
    "backslashes": fill(HEAD + b'Contact: "', b"\\\\"),
    "quotes and commas": fill(HEAD + b"Contact: ", b'",'),
    "angle brackets": fill(HEAD + b"Route: ", b"<,"),
    "semicolons": fill(HEAD + b"Contact: <sip:a@b>", b";"),
    "parameters": fill(HEAD + b"Contact: <sip:a@b>", b";a=b"),
    "quoted parameters": fill(HEAD + b"Contact: <sip:a@b>", b';a="\\"'),
    "uri parameters": fill(b"INVITE sip:a@b", b";lr", b" SIP/2.0\r\n" + HEAD[35:] + b"\r\n"),
    "percent signs": fill(b"INVITE sip:", b"%41", b"@b SIP/2.0\r\n" + HEAD[35:] + b"\r\n"),
    "digits": fill(HEAD + b"Max-Forwards: ", b"0"),
    "a long token": fill(HEAD + b"X-", b"a"),
    "spaces": fill(HEAD + b"Subject:", b" "),
    "CRLFs before the start line": fill(b"", b"\r\n", HEAD + b"\r\n"),
    "a header section without end": fill(HEAD, b"X: y\r\n", b""),
    "an authorization header": fill(HEAD + b"Authorization: Digest ", b'a="\\",', b"\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_input_is_handled_in_linear_time(name: str) -> None:
    data = ADVERSARIAL[name]
    assert len(data) <= LIMIT
    start = time.perf_counter()
    exercise(data)
    elapsed = time.perf_counter() - start
    # Linear work on 64 KiB takes a few milliseconds; quadratic work takes seconds.
    assert elapsed < 0.5, f"{name}: {elapsed:.3f}s"


def test_header_count_limit_stops_early() -> None:
    data = HEAD + b"X: y\r\n" * 200_000 + b"\r\n"
    start = time.perf_counter()
    with pytest.raises(SipParseError, match="Too Many Headers"):
        parse_message(data, max_size=len(data))
    assert time.perf_counter() - start < 0.5


def test_size_limit_is_checked_first() -> None:
    data = b"\x00" * (LIMIT + 1)
    start = time.perf_counter()
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == 513
    assert time.perf_counter() - start < 0.05


# -- what is written out parses back to the same value -------------------------------

text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=30)
tokens = st.text(
    st.sampled_from("abcXYZ019-.!%*_+`'~"),
    min_size=1,
    max_size=12,
)
hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
uris = st.builds(
    SipUri,
    host=hosts,
    user=st.none() | text.filter(bool),
    password=st.none() | text,
    port=st.none() | st.integers(min_value=0, max_value=65535),
    params=st.dictionaries(tokens.map(str.lower), st.none() | text.filter(bool), max_size=3),
    headers=st.lists(st.tuples(text.filter(bool), text), max_size=2).map(tuple),
    scheme=st.sampled_from(["sip", "sips"]),
).filter(lambda uri: uri.password is None or uri.user is not None)


@FUZZ
@given(uris)
def test_uri_round_trip(uri: SipUri) -> None:
    parsed = parse_uri(str(uri))
    assert isinstance(parsed, SipUri)
    assert (parsed.scheme, parsed.user, parsed.password, parsed.port) == (
        uri.scheme,
        uri.user,
        uri.password,
        uri.port,
    )
    assert parsed.params == uri.params
    assert parsed.headers == uri.headers
    assert parsed == uri


@FUZZ
@given(
    uris,
    st.none() | text,
    st.dictionaries(tokens.map(str.lower), st.none() | tokens, max_size=3),
)
def test_name_address_round_trip(
    uri: SipUri, display: str | None, params: dict[str, str | None]
) -> None:
    address = NameAddress(uri, display or None, params)
    parsed = NameAddress.parse(str(address))
    assert parsed.display_name == address.display_name
    assert parsed.uri == uri
    assert parsed.params == params
