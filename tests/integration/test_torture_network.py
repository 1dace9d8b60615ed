"""RFC 4475's torture messages sent to a running node over UDP and TCP.

tests/sip/test_torture_rfc4475.py says what the parser makes of each message; here the
same bytes go over the network to a whole node (transport, endpoint, registrar, call
engine), and each must be handled the way RFC 4475 expects of a server:

- a valid request (§3.1.1), or one only the application may refuse (§3.2-§3.4), gets a
  response; which one depends on the server's role (a 407 challenge for an INVITE from
  an unknown domain, a 401 for a REGISTER, 481 for an INVITE with a To tag, 200 for
  OPTIONS...), so any status is fine there, except a 5xx: that would be the server
  failing. Where the RFC names the status a server answers with, it is checked;
- an invalid request (§3.1.2) gets the status the RFC expects (400, 505, 501...);
- a response that matches nothing is dropped, like anything that cannot be answered.

Messages are sent one at a time. Over UDP one socket sends them all, from a random
loopback address on port 5060: a response to a request without `rport` goes to the Via
port (5060 when absent) of the address it came from. Over TCP each message has its own
connection; the responses come back on it.

The RFC's messages are separate test cases, not a sequence: three pairs share a
transaction id (branch, sent-by and method: cparam01/cparam02, escnull/regescrt,
novelsc/unkscm). Sent over UDP within Timer J (32 s) of each other, the second of each
pair is a retransmission of the first by RFC 3261 §17.2.3, and must get the first one's
response again; that is checked too. Over TCP, Timer J is zero and each gets its own
answer.

After all 49, a REGISTER and a call between two SIPp agents still work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from callboard.sip.transport import TransportKind
from tests.integration.conftest import DOMAIN, provision
from tests.support.rawpeers import Peer, StreamPeer, UdpPeer, for_call
from tests.support.server import RunningServer
from tests.support.sipp import Sipp

TORTURE = Path(__file__).resolve().parent.parent / "sip" / "torture"


@dataclass(frozen=True)
class Expect:
    """What the node does with one message. `status`: the exact status, or None for any
    status below 500. `udp`/`tcp` override the outcome on that transport."""

    outcome: Literal["answer", "drop", "retransmission", "close", "incomplete"] = "answer"
    status: int | None = None
    #: For "retransmission": the message whose transaction this one matches.
    of: str | None = None


ANSWER = Expect()
DROP = Expect("drop")

# RFC 4475 §3.1.1: valid messages (responses among them are dropped: they match nothing).
# §3.2-§3.4: valid syntax, semantics for the application. §3.1.2: invalid messages.
EXPECTED: dict[str, Expect | dict[str, Expect]] = {
    # §3.1.1
    "wsinv": ANSWER,  # an INVITE with a To tag: 481 here, no such dialog
    "intmeth": Expect(status=405),  # an unknown method (§8.2.1)
    "esc01": ANSWER,
    "escnull": ANSWER,
    "esc02": Expect(status=405),  # "RE%47IST%45R" is not REGISTER
    "lwsdisp": ANSWER,
    "longreq": ANSWER,
    "dblreq": {
        "udp": ANSWER,  # the REGISTER only: the INVITE after Content-Length is noise
        # On a stream, the INVITE is the next message, and the 4 octets after its body
        # (its Content-Length is 2 short) a framing error: the connection is closed.
        "tcp": Expect("close"),
    },
    "semiuri": ANSWER,
    "transports": ANSWER,
    "mpart01": ANSWER,
    "unreason": DROP,
    "noreason": DROP,
    # §3.1.2
    "badinv01": Expect(status=400),
    "clerr": {"udp": Expect(status=400), "tcp": Expect("incomplete")},
    "ncl": {"udp": Expect(status=400), "tcp": Expect("close", status=400)},
    "scalar02": Expect(status=400),
    "scalarlg": DROP,
    "quotbal": Expect(status=400),
    "ltgtruri": Expect(status=400),
    "lwsruri": Expect(status=400),
    "lwsstart": Expect(status=400),
    "trws": Expect(status=400),
    "escruri": Expect(status=400),
    "baddate": ANSWER,  # accepted: nothing here needs the Date
    "regbadct": Expect(status=400),
    "badaspec": Expect(status=400),
    # No empty line at the end: a datagram is complete anyway, a stream waits for more.
    "baddn": {"udp": Expect(status=400), "tcp": Expect("incomplete")},
    "badvers": Expect(status=505),
    "mismatch01": Expect(status=400),
    "mismatch02": Expect(status=501),
    "bigcode": DROP,
    # §3.2
    "badbranch": ANSWER,
    # §3.3
    "insuf": Expect(status=400),
    "unkscm": {
        "udp": Expect("retransmission", status=416, of="novelsc"),
        "tcp": Expect(status=416),
    },
    "novelsc": Expect(status=416),
    "unksm2": Expect(status=400),  # a registrar: the To URI is no sip/sips AOR
    "bext01": Expect(status=420),
    "invut": ANSWER,
    "regaut01": Expect(status=401),  # the unknown scheme is ignored: challenged
    "multi01": Expect(status=400),
    "mcl01": {"udp": Expect(status=400), "tcp": Expect("close", status=400)},
    "bcast": DROP,
    "zeromf": ANSWER,  # OPTIONS to this server itself: answered despite Max-Forwards 0
    "cparam01": ANSWER,
    "cparam02": {"udp": Expect("retransmission", of="cparam01"), "tcp": ANSWER},
    "regescrt": {"udp": Expect("retransmission", of="escnull"), "tcp": ANSWER},
    "sdp01": ANSWER,
    # §3.4: RFC 2543 syntax. Without Content-Length the datagram's rest is the body; a
    # stream cannot be framed without it: 400 and the connection is closed.
    "inv2543": {"udp": ANSWER, "tcp": Expect("close", status=400)},
}


def expectation(name: str, transport: str) -> Expect:
    found = EXPECTED[name]
    return found[transport] if isinstance(found, dict) else found


def header(data: bytes, *names: str) -> str | None:
    """A header field of a torture message, read directly (folding undone)."""
    head = re.sub(rb"\r\n[ \t]+", b" ", data.split(b"\r\n\r\n", 1)[0])
    pattern = rb"\r\n(?:" + b"|".join(n.encode() for n in names) + rb")[ \t]*:[ \t]*([^\r\n]*)"
    match = re.search(pattern, head, re.IGNORECASE)
    return match.group(1).strip().decode("utf-8", "replace") if match else None


def options_probe(transport: str, n: int) -> tuple[bytes, str]:
    call_id = f"torture-probe-{transport}-{n}"
    data = (
        f"OPTIONS sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} 192.0.2.99;branch=z9hG4bK-{call_id};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{DOMAIN}>;tag=p{n}\r\n"
        f"To: <sip:{DOMAIN}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
    return data, call_id


def test_every_message_has_an_expectation() -> None:
    assert sorted(EXPECTED) == sorted(path.stem for path in TORTURE.glob("*.dat"))


async def _send_one(
    peer: Peer, transport: str, name: str, data: bytes, expect: Expect, n: int
) -> str:
    """Send one message and check what comes back; returns a line for the report."""
    before = len(peer.replies)
    call_id = header(data, "call-id", "i")
    branch_match = re.search(r"branch=([^;\s,]+)", header(data, "via", "v") or "")
    mine = for_call(call_id, branch=branch_match.group(1) if branch_match else None)

    if expect.outcome == "retransmission":
        assert expect.of is not None
        first_call_id = header((TORTURE / f"{expect.of}.dat").read_bytes(), "call-id", "i")
        earlier = len([r for r in peer.replies if r.call_id == first_call_id])
        assert earlier, f"{name}: {expect.of} was not answered before"
        await peer.send(data)
        again = await peer.wait_reply(
            lambda r: (
                r.call_id == first_call_id
                and len([x for x in peer.replies if x.call_id == first_call_id]) > earlier
            )
        )
        if expect.status is not None:
            assert again.status == expect.status, f"{name}: {again}"
        return f"{name}: retransmission of {expect.of}, {again.status} again"

    await peer.send(data)
    if expect.outcome == "answer":
        reply = await peer.wait_reply(mine)
        if expect.status is not None:
            assert reply.status == expect.status, f"{name}: expected {expect.status}, got {reply}"
        else:
            assert reply.status < 500, f"{name}: the server failed: {reply}"
        return f"{name}: {reply.status} {reply.reason}"
    if expect.outcome == "close":
        assert isinstance(peer, StreamPeer)
        await peer.wait_closed()
        replies = [r for r in peer.replies[before:] if mine(r)]
        if expect.status is not None:
            assert [r.status for r in replies] == [expect.status], f"{name}: {replies}"
        return f"{name}: closed after {[r.status for r in replies]}"
    if expect.outcome == "incomplete":
        # The stream waits for the rest; once we say we are done, the server closes.
        assert isinstance(peer, StreamPeer)
        await peer.send_eof()
        await peer.wait_closed()
        assert peer.replies[before:] == [], f"{name}: {peer.replies[before:]}"
        return f"{name}: incomplete, closed without a reply"
    # Dropped: a probe sent afterwards is answered, and nothing came for this message.
    probe, probe_id = options_probe(transport, n)
    await peer.send(probe)
    await peer.wait_reply(for_call(probe_id))
    stray = [r for r in peer.replies[before:] if r.call_id != probe_id]
    assert stray == [], f"{name}: expected no reply, got {[str(r) for r in stray]}"
    return f"{name}: dropped"


async def _call_still_works(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp, transport: Literal["udp", "tcp"]
) -> None:
    alice = await provision(admin, "1001")
    bob = await provision(admin, "1002")
    server = str(node.sip_address(TransportKind(transport)))
    callee = sipp.agent(bob.account, bob.password, domain=DOMAIN, transport=transport)
    answering = await callee.answer_calls(server=server)
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN, transport=transport)
    await caller.register(server)
    await caller.call(server, bob.extension, duration_ms=100)
    await answering.wait_calls(1)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_torture_messages_over_the_network(
    transport: Literal["udp", "tcp"],
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
) -> None:
    address = node.sip_address(TransportKind(transport))
    target = (address.host, address.port)
    report: list[str] = []
    udp: UdpPeer | None = None
    if transport == "udp":
        # 5050: quotbal's Via port (it has no rport), for its 400.
        udp = await UdpPeer(target, ports=(5060, 5050)).open()
    try:
        for n, path in enumerate(sorted(TORTURE.glob("*.dat"))):
            name = path.stem
            expect = expectation(name, transport)
            peer: Peer = udp if udp is not None else await StreamPeer(target).open()
            try:
                report.append(await _send_one(peer, transport, name, path.read_bytes(), expect, n))
            except (AssertionError, TimeoutError) as error:
                done = "\n".join(report)
                raise AssertionError(f"{transport} {name}: {error}\nso far:\n{done}") from error
            finally:
                if peer is not udp:
                    await peer.aclose()
    finally:
        if udp is not None:
            await udp.aclose()
    await _call_still_works(node, admin, sipp, transport)
