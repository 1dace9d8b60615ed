"""A corpus of malformed SIP input, per transport, and what a server must do with each.

`corpus(transport)` returns `Case`s: bytes to send (datagrams, stream writes, or
WebSocket frames), what the sender does afterwards (wait, half-close, or disconnect),
and the outcome a robust server produces:

- `ANSWERED`: a response with one of `statuses`, to the case's Call-ID; the flow stays
  usable.
- `HANDLED`: a response with one of `statuses`, or none at all; the flow stays usable.
- `DROPPED`: no response; the flow stays usable.
- `CLOSED`: the server closes the connection; a response before that (one of
  `statuses`) is allowed when `statuses` is not empty, required when `reply_required`.
- `SURVIVED`: we disconnect mid-message; all that is checked is that the server goes on.

What the corpus holds, adapted to each transport (the module's `KINDS`):

- truncated messages: cut in the start line, in the header section, and in the body
  (Content-Length larger than what follows); on streams also "partial, then disconnect";
- oversized messages (> 64 KiB; over UDP, whose datagrams stop at 65,507 bytes, the
  largest datagram there is);
- 1000 header fields;
- binary garbage (random bytes, seeded), and bytes that look like STUN;
- header lines without a colon, NUL bytes and a bare CR inside a header section;
- Content-Length huge (20 digits, and 2**32), negative, and not a number;
- a flood: `FLOOD` garbage datagrams (UDP), or framed garbage messages on one
  connection (TCP, TLS) or garbage frames on one WebSocket (WS, WSS);
- WebSocket only: a handshake without the `sip` subprotocol, an HTTP request that is
  garbage, a frame cut short and then a disconnect;
- TLS and WSS: bytes that are not a TLS ClientHello.

Messages that should be answered carry `;rport` in their Via, so that a UDP response
comes back to the port it was sent from; each case has its own Call-ID and branch.
"""

from __future__ import annotations

import enum
import os
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Transport = Literal["udp", "tcp", "tls", "ws", "wss"]
KINDS: tuple[Transport, ...] = ("udp", "tcp", "tls", "ws", "wss")

#: Garbage datagrams (or framed messages, or frames) in the flood case.
FLOOD = 2000
#: The SIP stack's limit on one message (header and body).
MAX_MESSAGE = 64 * 1024
#: The largest UDP payload over IPv4.
MAX_DATAGRAM = 65507


class Outcome(enum.Enum):
    ANSWERED = "answered"
    HANDLED = "answered or dropped"
    DROPPED = "dropped"
    CLOSED = "closed by the server"
    SURVIVED = "we disconnected; the server goes on"


After = Literal["wait", "eof", "disconnect"]


@dataclass(frozen=True)
class Case:
    """One malformed input. `chunks` are sent in order: datagrams (UDP), writes (TCP,
    TLS) or WebSocket frames (WS, WSS; `raw` cases write them straight to the socket,
    handshake included). `after`: "wait" keeps the connection open, "eof" half-closes
    (TLS: closes), "disconnect" closes at once."""

    name: str
    chunks: tuple[bytes, ...]
    outcome: Outcome
    statuses: frozenset[int] = frozenset()
    call_id: str | None = None
    #: For a reply without Call-ID (the case has none): the top Via branch it carries.
    branch: str | None = None
    after: After = "wait"
    reply_required: bool = False
    #: WS/WSS: the chunks are raw bytes for the TCP (or TLS) socket, not frames.
    raw: bool = False
    #: TLS/WSS: the chunks go over plain TCP to the TLS port (no handshake).
    plaintext: bool = False
    #: WebSocket close code the server must use, when the outcome is CLOSED.
    close_codes: frozenset[int] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return self.name


def via_name(transport: Transport) -> str:
    return transport.upper()


def request(
    transport: Transport,
    call_id: str,
    *,
    method: str = "OPTIONS",
    ruri: str = "sip:callboard.lo",
    extra: list[str] | None = None,
    body: bytes = b"",
    content_length: str | None = None,
    via_host: str = "192.0.2.77:5060",
) -> bytes:
    """A well-formed request (unless `extra` or `content_length` break it): `method`
    to `ruri` with a Via of `transport` and `;rport`, Call-ID `call_id`."""
    lines = [
        f"{method} {ruri} SIP/2.0",
        f"Via: SIP/2.0/{via_name(transport)} {via_host};branch=z9hG4bK-{call_id};rport",
        "Max-Forwards: 70",
        f"From: <sip:malformed@example.com>;tag=t-{call_id}",
        "To: <sip:callboard.lo>",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        *(extra or []),
    ]
    if body:
        lines.append("Content-Type: application/octet-stream")
    lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def probe(transport: Transport, call_id: str) -> bytes:
    """A plain OPTIONS the server answers with 200: proof that a flow still works."""
    return request(transport, call_id)


def garbage(rng: random.Random, size: int, *, first: bytes = b"") -> bytes:
    """`size` random bytes, starting with `first`, with no CR or LF, so that a stream
    framer never finds a header section in them by chance."""
    data = bytes(rng.getrandbits(8) for _ in range(size - len(first)))
    return first + data.replace(b"\r", b"r").replace(b"\n", b"n")


def _ids(prefix: str) -> Iterator[str]:
    n = 0
    token = os.urandom(3).hex()
    while True:
        n += 1
        yield f"{prefix}-{token}-{n}"


def corpus(transport: Transport, *, seed: int = 4475) -> list[Case]:
    """Every case for `transport`; see the module documentation."""
    rng = random.Random(seed)
    ids = _ids(f"bad-{transport}")
    stream = transport in ("tcp", "tls")
    ws = transport in ("ws", "wss")
    cases: list[Case] = []

    def add(name: str, *chunks: bytes, outcome: Outcome, **kwargs: object) -> None:
        cases.append(Case(name, tuple(chunks), outcome, **kwargs))  # type: ignore[arg-type]

    # -- truncated ----------------------------------------------------------------------
    cid = next(ids)
    whole = request(transport, cid, method="INVITE", ruri="sip:1001@callboard.lo", body=b"x" * 80)
    head_end = whole.index(b"\r\n\r\n")
    cut_in_start = whole[:12]
    cut_in_headers = whole[: whole.index(b"Call-ID")]
    if stream:
        # A stream waits for the rest; when we stop sending, the server closes.
        add("truncated start line, then EOF", cut_in_start, outcome=Outcome.CLOSED, after="eof")
        add("truncated headers, then EOF", cut_in_headers, outcome=Outcome.CLOSED, after="eof")
        cid = next(ids)
        short = request(transport, cid, body=b"x" * 40, content_length="300")
        add("truncated body, then EOF", short, outcome=Outcome.CLOSED, after="eof", call_id=cid)
        for name, data in (
            ("start line", cut_in_start),
            ("headers", cut_in_headers),
            ("body", whole[: head_end + 20]),
        ):
            add(
                f"partial {name}, then disconnect",
                data,
                outcome=Outcome.SURVIVED,
                after="disconnect",
            )
    else:
        add("truncated start line", cut_in_start, outcome=Outcome.DROPPED)
        # Cut at a line end: a header section without its blank line, which a datagram
        # parser accepts (RFC 4475's baddn.dat); Call-ID is missing, so 400.
        add(
            "truncated headers (at a line end)",
            cut_in_headers,
            outcome=Outcome.ANSWERED,
            statuses=frozenset({400}),
            branch=f"z9hG4bK-{cid}",
        )
        add("truncated headers (mid-line)", cut_in_headers[:-9], outcome=Outcome.DROPPED)
        cid = next(ids)
        short = request(transport, cid, body=b"x" * 40, content_length="300")
        add(
            "truncated body (Content-Length 300, 40 bytes)",
            short,
            outcome=Outcome.ANSWERED,
            statuses=frozenset({400}),
            call_id=cid,
        )

    # -- oversized ----------------------------------------------------------------------
    cid = next(ids)
    if transport == "udp":
        size = MAX_DATAGRAM - len(request(transport, cid, body=b"x" * 10000)) + 10000
        big = request(transport, cid, body=b"x" * size)
        assert len(big) == MAX_DATAGRAM
        add(
            "largest datagram (65,507 bytes)",
            big,
            outcome=Outcome.HANDLED,
            statuses=frozenset({200, 413, 513}),
            call_id=cid,
        )
    else:
        big = request(transport, cid, body=b"x" * (100 * 1024))
        if stream:
            add(
                "100 KiB message",
                big,
                outcome=Outcome.CLOSED,
                statuses=frozenset({513}),
                call_id=cid,
                reply_required=True,
            )
            cid = next(ids)
            endless = request(transport, cid)[:-2] + b"X-Filler: " + b"y" * (70 * 1024) + b"\r\n"
            add(
                "70 KiB header section without its end",
                endless,
                outcome=Outcome.CLOSED,
                statuses=frozenset({513}),
                call_id=cid,
            )
        else:
            add(
                "100 KiB frame",
                big,
                outcome=Outcome.CLOSED,
                close_codes=frozenset({1009}),
            )

    # -- 1000 header fields -------------------------------------------------------------
    cid = next(ids)
    add(
        "1000 header fields",
        request(transport, cid, extra=[f"X-Junk-{n}: {n}" for n in range(1000)]),
        outcome=Outcome.HANDLED,
        statuses=frozenset({400, 513}),
        call_id=cid,
    )

    # -- binary garbage -----------------------------------------------------------------
    if stream:
        # Framed by a blank line, so the framer sees a header section without
        # Content-Length: a framing error, and the connection is closed.
        add(
            "binary garbage with a blank line",
            garbage(rng, 3000, first=b"Z") + b"\r\n\r\n",
            outcome=Outcome.CLOSED,
        )
        add("binary garbage, then EOF", garbage(rng, 3000), outcome=Outcome.CLOSED, after="eof")
    else:
        add("binary garbage", garbage(rng, 1400, first=b"Q"), outcome=Outcome.DROPPED)
        add("STUN-looking garbage", garbage(rng, 200, first=b"\x00\x01"), outcome=Outcome.DROPPED)
        add("CRLFs only", b"\r\n" * 50, outcome=Outcome.DROPPED)
    # SIP-shaped but rotten inside; framed right on streams (Content-Length present).
    cid = next(ids)
    add(
        "header line without a colon",
        request(transport, cid, extra=["This line has no colon at all"]),
        outcome=Outcome.HANDLED,
        statuses=frozenset({400}),
        call_id=cid,
    )
    cid = next(ids)
    add(
        "NUL bytes in a header",
        request(transport, cid, extra=["Subject: nul\x00nul\x00"]),
        outcome=Outcome.HANDLED,
        statuses=frozenset({200, 400}),
        call_id=cid,
    )
    cid = next(ids)
    add(
        "bare CR in the header section",
        request(transport, cid, extra=["Subject: a\rb"]),
        outcome=Outcome.HANDLED,
        statuses=frozenset({400}),
        call_id=cid,
    )
    cid = next(ids)
    add(
        "start line only garbage method",
        request(transport, cid).replace(b"OPTIONS sip:", b"OPT@IONS sip:", 1),
        outcome=Outcome.HANDLED,
        statuses=frozenset({400}),
        call_id=cid,
    )

    # -- Content-Length -------------------------------------------------------------------
    for label, value, status_stream in (
        ("huge Content-Length (20 digits)", "99999999999999999999", 400),
        ("Content-Length 2**32", str(2**32), 513),
        ("negative Content-Length", "-1", 400),
        ("Content-Length not a number", "ten", 400),
    ):
        cid = next(ids)
        data = request(transport, cid, body=b"abc", content_length=value)
        if stream:
            add(
                label,
                data,
                outcome=Outcome.CLOSED,
                statuses=frozenset({status_stream}),
                call_id=cid,
                reply_required=True,
            )
        else:
            add(label, data, outcome=Outcome.ANSWERED, statuses=frozenset({400}), call_id=cid)

    # -- transport-specific -----------------------------------------------------------
    if transport in ("tls", "wss"):
        add(
            "not a TLS ClientHello",
            b"OPTIONS sip:callboard.lo SIP/2.0\r\n\r\n" + garbage(rng, 500),
            outcome=Outcome.CLOSED,
            plaintext=True,
        )
    if ws:
        add(
            "WebSocket handshake without the sip subprotocol",
            _handshake(protocol=None),
            outcome=Outcome.CLOSED,
            raw=True,
        )
        add(
            "garbage instead of an HTTP upgrade",
            garbage(rng, 800, first=b"GET") + b"\r\n\r\n",
            outcome=Outcome.CLOSED,
            raw=True,
        )
        cid = next(ids)
        frame = ws_frame(request(transport, cid))
        add(
            "WebSocket frame cut short, then disconnect",
            _handshake(protocol="sip"),
            frame[: len(frame) // 2],
            outcome=Outcome.SURVIVED,
            raw=True,
            after="disconnect",
        )
        add(
            "WebSocket frame with a reserved opcode",
            _handshake(protocol="sip"),
            ws_frame(b"OPTIONS", opcode=0x3),
            outcome=Outcome.CLOSED,
            raw=True,
        )

    # -- the flood -------------------------------------------------------------------------
    if transport == "udp" or ws:
        junk = [garbage(rng, rng.randint(20, 300), first=b"J") for _ in range(FLOOD)]
        add(f"flood of {FLOOD} garbage messages", *junk, outcome=Outcome.DROPPED)
    else:
        framed = b"".join(
            b"JUNK " + garbage(rng, rng.randint(10, 200)) + b"\r\nContent-Length: 0\r\n\r\n"
            for _ in range(FLOOD)
        )
        add(f"flood of {FLOOD} framed garbage messages", framed, outcome=Outcome.DROPPED)
    return cases


# -- raw WebSocket ---------------------------------------------------------------------


def _handshake(*, protocol: str | None) -> bytes:
    lines = [
        "GET / HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if protocol is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ws_frame(payload: bytes, *, opcode: int = 0x1, fin: bool = True) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head.append(0x80 | size)
    elif size < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack("!H", size)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", size)
    mask = os.urandom(4)
    head += mask
    return bytes(head) + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
