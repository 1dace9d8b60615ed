"""A malformed-message corpus (tests/support/malformed.py) thrown at every transport of a
running node, while two SIPp agents keep calling each other through it.

For each case the node must do what the corpus says (answer with the right status, drop,
or close the connection), the flow must stay usable where it says so (a plain OPTIONS
sent after the case is answered), nothing may be logged at ERROR (an exception in a
handler is a crash the transport swallowed), no connection may be left behind, and the
calls made during the corpus, and one after it, must all complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from callboard.sip.transport import Flow, TransportKind
from tests.integration.conftest import DOMAIN, provision
from tests.support.malformed import KINDS, Case, Outcome, Transport, corpus, probe
from tests.support.rawpeers import Peer, Reply, StreamPeer, UdpPeer, WsPeer, for_call
from tests.support.server import RunningServer
from tests.support.sipp import Sipp, SippProcess

_probes = itertools.count(1)


async def _open(node: RunningServer, transport: Transport, case: Case | None) -> Peer:
    kind = TransportKind(transport)
    address = node.sip_address(kind)
    target = (address.host, address.port)
    plaintext = case is not None and case.plaintext
    raw = case is not None and case.raw
    if transport in ("tcp", "tls") or plaintext or raw:
        secure = transport in ("tls", "wss") and not plaintext
        return await StreamPeer(target, tls=secure).open()
    if transport in ("ws", "wss"):
        return await WsPeer(f"{transport}://{address}").open()
    raise AssertionError(transport)


async def _prove_usable(peer: Peer, transport: Transport) -> Reply:
    """A plain OPTIONS on the same flow is answered 200."""
    call_id = f"probe-{next(_probes)}"
    await peer.send(probe(transport, call_id))
    reply = await peer.wait_reply(for_call(call_id))
    assert reply.status == 200, reply
    return reply


async def _throw(node: RunningServer, transport: Transport, case: Case, udp: UdpPeer) -> None:
    peer: Peer = udp if transport == "udp" else await _open(node, transport, case)
    before = len(peer.replies)
    try:
        for chunk in case.chunks:
            await peer.send(chunk)
        await _check(peer, transport, case, before)
    except (AssertionError, TimeoutError) as error:
        raise AssertionError(f"{transport} case {case.name!r}: {error}") from error
    finally:
        if peer is not udp:
            await peer.aclose()


async def _check(peer: Peer, transport: Transport, case: Case, before: int) -> None:
    mine = for_call(case.call_id, branch=case.branch) if case.call_id or case.branch else None
    outcome = case.outcome
    if outcome is Outcome.SURVIVED:
        return  # we disconnect at once (aclose); the server must simply go on
    if outcome is Outcome.CLOSED:
        if case.after == "eof" and isinstance(peer, StreamPeer):
            await peer.send_eof()
        await peer.wait_closed(within=10)
        replies = peer.replies[before:]
        if case.reply_required:
            assert mine is not None
            assert [r.status for r in replies if mine(r)], f"no reply before closing: {replies}"
        for reply in replies:
            assert reply.status in case.statuses, f"unexpected {reply}"
        if case.close_codes and isinstance(peer, WsPeer):
            assert peer.close_code in case.close_codes, peer.close_code
        return
    if outcome is Outcome.ANSWERED:
        assert mine is not None
        reply = await peer.wait_reply(mine)
        assert reply.status in case.statuses, reply
    answered = await _prove_usable(peer, transport)
    others = [r for r in peer.replies[before:] if r is not answered]
    if outcome is Outcome.DROPPED:
        assert others == [], f"expected no reply, got {[str(r) for r in others]}"
    else:
        for reply in others:
            assert mine is not None and mine(reply), f"stray reply {reply}"
            assert reply.status in case.statuses, reply


@contextlib.asynccontextmanager
async def _calls_meanwhile(
    node: RunningServer, admin: httpx.AsyncClient, sipp: Sipp
) -> AsyncIterator[list[object]]:
    """Two registered SIPp agents (UDP) call each other, one call after the other, for as
    long as the block runs (at least once); yields the list of calls completed so far.
    Every call must succeed; one more is made after the block."""
    alice = await provision(admin, "1001")
    bob = await provision(admin, "1002")
    server = str(node.sip_address(TransportKind.UDP))
    callee = sipp.agent(bob.account, bob.password, domain=DOMAIN)
    answering: SippProcess = await callee.answer_calls(server=server, duration_ms=100)
    caller = sipp.agent(alice.account, alice.password, domain=DOMAIN)
    await caller.register(server)
    completed: list[object] = []
    stop = asyncio.Event()

    async def keep_calling() -> None:
        while not stop.is_set() or not completed:
            completed.append(await caller.call(server, bob.extension, duration_ms=300))

    task = asyncio.create_task(keep_calling())
    try:
        yield completed
    finally:
        stop.set()
        await task  # raises SippFailed (with SIPp's logs) if a call failed
    await answering.wait_calls(len(completed))
    # And once more, after the corpus: the node still connects calls.
    await caller.call(server, bob.extension, duration_ms=100)
    await answering.wait_calls(len(completed) + 1)


async def _no_connections_left(node: RunningServer) -> None:
    assert node.telephony is not None
    transport = node.telephony.transport
    closed = asyncio.Event()

    def on_closed(_flow: Flow) -> None:
        closed.set()

    transport.add_flow_closed_listener(on_closed)
    try:
        async with asyncio.timeout(10):
            while transport.connection_count:
                closed.clear()
                await closed.wait()
    finally:
        transport.remove_flow_closed_listener(on_closed)


@pytest.mark.parametrize("transport", KINDS)
async def test_malformed_corpus(
    transport: Transport,
    node: RunningServer,
    admin: httpx.AsyncClient,
    sipp: Sipp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cases = corpus(transport)
    udp_address = node.sip_address(TransportKind.UDP)
    udp = await UdpPeer((udp_address.host, udp_address.port), ports=(0,)).open()
    caplog.set_level(logging.ERROR, logger="callboard")
    try:
        async with _calls_meanwhile(node, admin, sipp):
            for case in cases:
                await _throw(node, transport, case, udp)
    finally:
        await udp.aclose()
    await _no_connections_left(node)
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashes == [], "\n".join(r.getMessage() for r in crashes)
