#!/usr/bin/env python3
"""A steady call load from many users, for bench/events.py: a small raw SIP UAC.

Why not SIPp's UAC: SIPp computes the digest `uri` from `-auth_uri` (one value for the
whole run) or the remote ip:port, and Callboard checks it against the Request-URI
(RFC 3261 §22.4), so one SIPp UAC can only call one extension. This UAC places call k
from caller k mod P to its callee (the pairs file), each with its own digest answer:

    INVITE -> [100] -> 407 -> ACK -> INVITE with Proxy-Authorization -> [100] [180] 200
    -> ACK -> hold -> BYE -> 200

and records, per call, the wall-clock time (time.time(), the same host clock as the
WebSocket clients) right after each of its messages left the socket and as each response
arrived: the authenticated INVITE and the BYE are the SIP state changes behind the
`ringing` and `hangup` events. INVITE and BYE are retransmitted (T1 = 500 ms, doubling,
up to 4 s) until a response comes; a call with no final answer in 32 s fails.

Usage: python bench/sip_load.py --server 127.0.0.1:P --port LOCAL --pairs FILE
       --rate CPS --calls N --hold-ms MS --out calls.jsonl
(pairs file: one `account;password;callee` a line). A summary goes to stdout as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

T1 = 0.5
T2 = 4.0
TIMER_B = 32.0
COMPACT = {
    "i": "call-id",
    "v": "via",
    "f": "from",
    "t": "to",
    "m": "contact",
    "l": "content-length",
}
SDP = (
    "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_params(value: str) -> dict[str, str]:
    """`Digest realm="x", nonce="y", qop="auth"` -> {realm: x, nonce: y, qop: auth}."""
    _, _, rest = value.partition(" ")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, eq, raw = part.strip().partition("=")
        if eq:
            params[name.strip().lower()] = raw.strip().strip('"')
    return params


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]

    def first(self, name: str) -> str:
        values = self.headers.get(name)
        return values[0] if values else ""


def parse(data: bytes) -> tuple[str, Response | None, dict[str, list[str]]]:
    """(start line, the response or None for a request, headers)."""
    head, _, _ = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        headers.setdefault(COMPACT.get(key, key), []).append(value.strip())
    start = lines[0]
    if start.startswith("SIP/2.0 "):
        return start, Response(int(start.split(" ", 2)[1]), headers), headers
    return start, None, headers


def uri_of(name_addr: str) -> str:
    if "<" in name_addr:
        return name_addr.split("<", 1)[1].split(">", 1)[0]
    return name_addr.split(";", 1)[0].strip()


@dataclass
class Call:
    number: int
    caller: str
    password: str
    callee: str
    call_id: str
    from_tag: str
    times: dict[str, float] = field(default_factory=dict)
    status: str = "pending"
    to_header: str = ""
    remote_target: str = ""
    cseq: int = 1
    branch: str = ""
    pending: tuple[bytes, asyncio.TimerHandle | None, float] | None = None
    retransmissions: int = 0
    final: asyncio.TimerHandle | None = None

    def record(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "caller": self.caller,
            "callee": self.callee,
            "status": self.status,
            "retransmissions": self.retransmissions,
            **{k: round(v, 6) for k, v in self.times.items()},
        }


class Uac(asyncio.DatagramProtocol):
    def __init__(self, args: argparse.Namespace, pairs: list[tuple[str, str, str]]) -> None:
        self.args = args
        self.pairs = pairs
        self.server = (args.server.rsplit(":", 1)[0], int(args.server.rsplit(":", 1)[1]))
        self.local = f"127.0.0.1:{args.port}"
        self.domain = args.domain
        self.transport: asyncio.DatagramTransport | None = None
        self.calls: dict[str, Call] = {}
        self.done = 0
        self.finished = asyncio.Event()
        self.out: TextIO = Path(args.out).open("w")  # noqa: SIM115 - closed in main()
        self.counts: dict[str, int] = {}
        self.stray = 0

    # -- transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's UDP transport is not a DatagramTransport subclass in 3.11.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def send(self, data: bytes) -> float:
        assert self.transport is not None
        self.transport.sendto(data, self.server)
        return time.time()

    def send_reliably(self, call: Call, data: bytes, final_in: float = TIMER_B) -> float:
        """Send and retransmit (T1 doubling to T2) until a response stops it."""
        self.stop_retransmit(call)
        at = self.send(data)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(T1, self._retransmit, call, T1)
        call.pending = (data, handle, T1)
        if call.final is not None:
            call.final.cancel()
        call.final = loop.call_later(final_in, self.fail, call, "timeout")
        return at

    def _retransmit(self, call: Call, interval: float) -> None:
        if call.pending is None:
            return
        data = call.pending[0]
        self.send(data)
        call.retransmissions += 1
        nxt = min(interval * 2, T2)
        handle = asyncio.get_running_loop().call_later(nxt, self._retransmit, call, nxt)
        call.pending = (data, handle, nxt)

    def stop_retransmit(self, call: Call) -> None:
        if call.pending is not None and call.pending[1] is not None:
            call.pending[1].cancel()
        call.pending = None

    # -- messages

    def _request(
        self,
        call: Call,
        method: str,
        uri: str,
        cseq: int,
        extra: str = "",
        *,
        same_branch: bool = False,
    ) -> bytes:
        """A request of the call; `same_branch` for the ACK of a non-2xx answer, which
        belongs to the INVITE's transaction."""
        if not same_branch or not call.branch:
            call.branch = "z9hG4bK" + secrets.token_hex(8)
        to = call.to_header or f"<sip:{call.callee}@{self.domain}>"
        body = SDP if method == "INVITE" else ""
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local};branch={call.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{call.caller}@{self.domain}>;tag={call.from_tag}",
            f"To: {to}",
            f"Call-ID: {call.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{call.caller}@{self.local};transport=udp>",
        ]
        if extra:
            lines.append(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def start_call(self, number: int) -> None:
        caller, password, callee = self.pairs[number % len(self.pairs)]
        call = Call(
            number,
            caller,
            password,
            callee,
            f"{number}-{os.getpid()}-{secrets.token_hex(4)}@127.0.0.1",
            secrets.token_hex(6),
        )
        self.calls[call.call_id] = call
        call.times["invite"] = self.send_reliably(
            call, self._request(call, "INVITE", self._ruri(call), 1)
        )

    def _ruri(self, call: Call) -> str:
        return f"sip:{call.callee}@{self.domain}"

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        at = time.time()
        try:
            start, response, headers = parse(data)
        except (ValueError, IndexError):
            self.stray += 1
            return
        call_id = (headers.get("call-id") or [""])[0]
        call = self.calls.get(call_id)
        if response is None:
            self._server_request(start, headers, call)
            return
        if call is None:
            self.stray += 1
            return
        cseq_number, _, method = response.first("cseq").partition(" ")
        if method.strip() == "INVITE":
            self._invite_response(call, int(cseq_number), response, at)
        elif method.strip() == "BYE" and response.status >= 200:
            self.stop_retransmit(call)
            call.times.setdefault("bye_ok", at)
            self.finish(call, "ok" if response.status == 200 else f"BYE got {response.status}")

    def _invite_response(self, call: Call, cseq: int, response: Response, at: float) -> None:
        status = response.status
        if cseq != call.cseq:
            return  # a late answer to the challenged INVITE
        if status < 200:
            self.stop_retransmit(call)
            if status == 180:
                call.times.setdefault("ringing", at)
            return
        to = response.first("to")
        if status in (401, 407) and cseq == 1:
            self.stop_retransmit(call)
            call.times["challenge"] = at
            call.to_header = to
            self.send(self._request(call, "ACK", self._ruri(call), 1, same_branch=True))
            call.to_header = ""
            header = "proxy-authenticate" if status == 407 else "www-authenticate"
            challenges = [parse_params(v) for v in response.headers.get(header, [])]
            md5_challenge = next(
                (c for c in challenges if c.get("algorithm", "MD5").upper() == "MD5"), None
            )
            if md5_challenge is None:
                self.fail(call, "no MD5 challenge")
                return
            call.cseq = 2
            auth = self._authorization(call, md5_challenge, status)
            call.times["auth_invite"] = self.send_reliably(
                call, self._request(call, "INVITE", self._ruri(call), 2, auth)
            )
            return
        if 200 <= status < 300:
            self.stop_retransmit(call)
            first = "answered" not in call.times
            call.times.setdefault("answered", at)
            call.to_header = to
            call.remote_target = uri_of(response.first("contact")) or self._ruri(call)
            self.send(self._request(call, "ACK", call.remote_target, cseq))
            if first:
                if call.final is not None:
                    call.final.cancel()
                asyncio.get_running_loop().call_later(self.args.hold_ms / 1000, self._bye, call)
            return
        self.stop_retransmit(call)
        call.to_header = to
        self.send(self._request(call, "ACK", self._ruri(call), cseq, same_branch=True))
        self.finish(call, f"INVITE got {status}")

    def _authorization(self, call: Call, challenge: dict[str, str], status: int) -> str:
        realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
        uri = self._ruri(call)
        ha1 = md5(f"{call.caller}:{realm}:{call.password}")
        ha2 = md5(f"INVITE:{uri}")
        name = "Proxy-Authorization" if status == 407 else "Authorization"
        value = (
            f'Digest username="{call.caller}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            "algorithm=MD5"
        )
        if "auth" in challenge.get("qop", "").split(","):
            cnonce, nc = secrets.token_hex(8), "00000001"
            response = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            value += f', qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}"'
        else:
            value += f', response="{md5(f"{ha1}:{nonce}:{ha2}")}"'
        if "opaque" in challenge:
            value += f', opaque="{challenge["opaque"]}"'
        return f"{name}: {value}"

    def _bye(self, call: Call) -> None:
        if call.status != "pending":
            return
        call.cseq = 3
        call.times["bye"] = self.send_reliably(
            call, self._request(call, "BYE", call.remote_target, 3)
        )

    def _server_request(self, start: str, headers: dict[str, list[str]], call: Call | None) -> None:
        """The server hung up (BYE) or asked something: answer 200 (ACKs need nothing)."""
        method = start.split(" ", 1)[0]
        if method == "ACK":
            return
        lines = ["SIP/2.0 200 OK"]
        for name in ("via", "from", "to", "call-id", "cseq"):
            for value in headers.get(name, []):
                lines.append(f"{name.title()}: {value}")
        lines.append("Content-Length: 0")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        if call is not None and method == "BYE":
            self.finish(call, "the server sent BYE")

    # -- the end of a call

    def fail(self, call: Call, reason: str) -> None:
        self.finish(call, reason)

    def finish(self, call: Call, status: str) -> None:
        if call.status != "pending":
            return
        self.stop_retransmit(call)
        if call.final is not None:
            call.final.cancel()
        call.status = status
        self.counts[status] = self.counts.get(status, 0) + 1
        self.out.write(json.dumps(call.record()) + "\n")
        self.done += 1
        # Keep the call a while: retransmitted 200s still get their ACK.
        asyncio.get_running_loop().call_later(5, self.calls.pop, call.call_id, None)
        if self.done >= self.args.calls:
            self.finished.set()


async def run(args: argparse.Namespace, pairs: list[tuple[str, str, str]]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    transport, uac = await loop.create_datagram_endpoint(
        lambda: Uac(args, pairs), local_addr=("127.0.0.1", args.port)
    )
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(json.dumps({"ready": True}), flush=True)
    t0 = time.time()
    started = loop.time()
    try:
        for number in range(args.calls):
            due = started + number / args.rate
            delay = due - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            if stop.is_set():
                break
            uac.start_call(number)
        placed = len(uac.calls) + uac.done
        generation = time.time() - t0
        finished = asyncio.ensure_future(uac.finished.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            {finished, stopped},
            timeout=args.hold_ms / 1000 + TIMER_B + 5,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in (finished, stopped):
            task.cancel()
        for call in list(uac.calls.values()):
            uac.finish(call, "unfinished at the end")
    finally:
        transport.close()
        uac.out.close()
    return {
        "calls": args.calls,
        "placed": placed,
        "generation_s": round(generation, 3),
        "statuses": uac.counts,
        "stray": uac.stray,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--domain", default="callboard.lo")
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--hold-ms", type=int, default=1000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pairs: list[tuple[str, str, str]] = []
    for line in Path(args.pairs).read_text().splitlines():
        if line.strip():
            account, password, callee = line.strip().split(";")
            pairs.append((account, password, callee))
    summary = asyncio.run(run(args, pairs))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
