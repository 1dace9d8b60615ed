"""Client and server transactions (RFC 3261 §17), exchanges run whole in memory.

The endpoint under test is at 10.0.0.1; a scripted peer at 10.0.0.2 plays the other
side. Timers are fast (T1 = 10 ms); every wait is for an event, never a sleep.
"""

from __future__ import annotations

import itertools

import pytest

from callboard.sip.message import SipRequest
from callboard.sip.transactions import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TimerConfig,
    TransactionState,
    TransactionStateError,
    TransactionTimeout,
    TransportFailure,
)
from callboard.sip.transport import Address, TransportKind
from tests.sip.memnet import MemoryConnectionFlow, MemoryNetwork
from tests.sip.stack import (
    FAST,
    T1,
    Events,
    RecordingTU,
    endpoint_on,
    new_request,
    peer_on,
    raw_request,
    response_to,
    state,
    terminated,
    wait_for,
)

UDP = TransportKind.UDP
TCP = TransportKind.TCP
S = TransactionState


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


# -- INVITE client transaction ---------------------------------------------------------


async def test_invite_client_provisional_then_2xx_terminates(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("INVITE"), on_response=events.on_response)
        assert isinstance(txn, ClientInviteTransaction)
        invite, flow = await peer.request()
        assert invite.method == "INVITE"
        via = invite.via
        assert via.transport == "UDP" and via.sent_by == "10.0.0.1:5060"
        assert via.has_magic_cookie and via.branch == txn.branch and via.has_rport
        assert invite.max_forwards == 70
        assert state(txn) is S.CALLING

        peer.send(response_to(invite, 180), flow.remote)
        assert (await events.response()).status == 180
        assert state(txn) is S.PROCEEDING

        peer.send(response_to(invite, 200), flow.remote)
        assert (await events.response()).status == 200
        assert (await txn.final_response()).status == 200
        assert state(txn) is S.TERMINATED
        assert not endpoint.transactions.client
        # No ACK from the transaction for a 2xx: that is the TU's (dialog's) job.
        assert [m.method for m in peer.drain() if isinstance(m, SipRequest)] == []


async def test_invite_client_non_2xx_is_acked_and_lingers_for_timer_d(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("INVITE", extra=[("Route", "<sip:10.0.0.2;lr>")]))
        invite, flow = await peer.request()
        busy = response_to(invite, 486)
        peer.send(busy, flow.remote)
        assert (await txn.final_response()).status == 486
        ack, _ = await peer.request()
        assert ack.method == "ACK"
        assert ack.branch == invite.branch  # same transaction (§17.1.1.3)
        assert ack.cseq.number == invite.cseq.number and ack.cseq.method == "ACK"
        assert ack.to_tag == "remote"
        assert ack.uri == invite.uri
        assert ack.headers.getall("route") == ["<sip:10.0.0.2;lr>"]
        assert len(ack.vias) == 1
        assert state(txn) is S.COMPLETED

        # A retransmitted final response is acknowledged again, not passed up.
        peer.send(busy, flow.remote)
        again, _ = await peer.request()
        assert again.method == "ACK" and again.branch == invite.branch

        # Timer D ends it.
        await terminated(endpoint, txn)
        assert not endpoint.transactions.client


async def test_invite_over_udp_is_retransmitted_until_timer_b(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("INVITE"), on_timeout=events.on_timeout)
        with pytest.raises(TransactionTimeout):
            await txn.final_response()
        await wait_for(events.timeouts)
        assert state(txn) is S.TERMINATED
        times = [when for message, _, when in peer.received]
        # Timer A: T1, 2*T1, 4*T1... until Timer B at 64*T1: 6 retransmissions (the
        # last ones, at 31*T1 and 63*T1, may miss when the machine is busy: each timer
        # is set when the previous one fires).
        assert 5 <= len(times) <= 7
        # Each retransmission is due T1 * (2**k - 1) after the first send. Arrival times
        # are taken when the peer reads, which a busy machine may delay: check that no
        # retransmission came early, and none very late.
        for k, when in enumerate(times[1:], start=1):
            due = T1 * (2**k - 1)
            assert due * 0.8 <= when - times[0] <= due + 0.3, (k, times)
        assert all(message.branch == txn.branch for message, _, _ in peer.received)
        assert not endpoint.transactions.client


async def test_invite_over_tcp_is_not_retransmitted(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        request = new_request("INVITE", "sip:bob@10.0.0.2;transport=tcp")
        txn = endpoint.send_request(request)
        invite, flow = await peer.request()
        assert flow.kind is TCP and invite.via.transport == "TCP"
        with pytest.raises(TransactionTimeout):
            await txn.final_response()
        assert len(peer.received) == 1


async def test_invite_non_2xx_over_tcp_terminates_at_once(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("INVITE", "sip:bob@10.0.0.2;transport=tcp"))
        invite, flow = await peer.request()
        flow.send(response_to(invite, 603).encode())
        assert (await txn.final_response()).status == 603
        ack, _ = await peer.request()
        assert ack.method == "ACK"
        await terminated(endpoint, txn)  # Timer D is zero over TCP


# -- non-INVITE client transaction -----------------------------------------------------


async def test_non_invite_retransmits_with_timer_e_and_times_out_with_timer_f(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("OPTIONS"), on_timeout=events.on_timeout)
        assert isinstance(txn, ClientNonInviteTransaction) and txn.state is S.TRYING
        with pytest.raises(TransactionTimeout):
            await txn.final_response()
        await wait_for(events.timeouts)
        times = [when for _, _, when in peer.received]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # T1, 2T1, 4T1, then capped at T2 = 4T1; 64*T1 in total.
        expected = [T1, 2 * T1, 4 * T1] + [4 * T1] * (len(gaps) - 3)
        for gap, want in zip(gaps, expected, strict=True):
            assert want * 0.8 <= gap <= want + 0.15, gaps
        assert 12 <= len(times) <= 18


async def test_non_invite_proceeding_retransmits_at_t2_then_completes(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("MESSAGE"), on_response=events.on_response)
        request, flow = await peer.request()
        peer.send(response_to(request, 100), flow.remote)
        assert (await events.response()).status == 100
        assert state(txn) is S.PROCEEDING
        peer.drain()
        # In Proceeding, Timer E fires every T2.
        first, _ = await peer.request()
        start = peer.received[-1][2]
        second, _ = await peer.request()
        gap = peer.received[-1][2] - start
        assert first.branch == second.branch == txn.branch
        assert FAST.t2 * 0.8 <= gap <= FAST.t2 + 0.15
        ok = response_to(request, 200)
        peer.send(ok, flow.remote)
        assert (await txn.final_response()).status == 200
        assert state(txn) is S.COMPLETED
        # A retransmitted final response is absorbed in Completed (Timer K).
        peer.send(ok, flow.remote)
        await terminated(endpoint, txn)
        assert events.responses.qsize() == 1  # only the one 200 went up


async def test_non_invite_over_tcp_completes_without_timer_k(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("OPTIONS", "sip:bob@10.0.0.2;transport=tcp"))
        request, flow = await peer.request()
        flow.send(response_to(request, 200).encode())
        await txn.final_response()
        await terminated(endpoint, txn)
        assert not endpoint.transactions.client


# -- INVITE server transaction ---------------------------------------------------------


async def test_invite_server_sends_100_trying_when_the_tu_is_slow(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), endpoint.transport.listeners[0].address)
        _, txn = await tu.request()
        assert isinstance(txn, ServerInviteTransaction) and txn.state is S.PROCEEDING
        trying, _ = await peer.response()
        # It came by itself (the TU said nothing), after the 100 Trying delay.
        assert trying.status == 100 and trying.to_tag is None
        assert txn.status == 100


async def test_invite_server_resends_the_last_provisional_on_retransmission(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(180))
    async with endpoint_on(network, tu=tu) as endpoint:
        address = endpoint.transport.listeners[0].address
        peer.send(raw_request("INVITE"), address)
        _, txn = await tu.request()
        ringing, _ = await peer.response()
        assert ringing.status == 180 and ringing.to_tag == txn.local_tag
        peer.send(raw_request("INVITE"), address)  # retransmission
        again, _ = await peer.response()
        assert again.status == 180 and again.to_tag == ringing.to_tag
        assert tu.request_count == 1


async def test_invite_server_final_non_2xx_retransmitted_until_ack(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(486))
    async with endpoint_on(network, tu=tu) as endpoint:
        address = endpoint.transport.listeners[0].address
        peer.send(raw_request("INVITE"), address)
        _, txn = await tu.request()
        busy, _ = await peer.response()
        assert busy.status == 486 and txn.state is S.COMPLETED
        # Timer G: retransmitted at T1, then 2*T1...
        await peer.response()
        await peer.response()
        times = [when for _, _, when in peer.received]
        assert times[2] - times[1] >= (times[1] - times[0]) * 1.5
        # A retransmitted INVITE gets the final response again.
        peer.send(raw_request("INVITE"), address)
        # The ACK (same branch) moves it to Confirmed: retransmissions stop, and it ends
        # on Timer I, not on Timer H.
        timeouts: list[bool] = []
        txn.on_timeout = lambda: timeouts.append(True)
        ack = raw_request("ACK", to_tag=busy.to_tag, cseq_method="ACK")
        peer.send(ack, address)
        peer.send(ack, address)  # absorbed too
        await terminated(endpoint, txn)
        assert timeouts == []
        assert not endpoint.transactions.server
        assert tu.acks.empty()


async def test_invite_server_timer_h_gives_up_without_ack(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    timeouts: list[str] = []

    def answer(request: SipRequest, txn: object) -> None:
        assert isinstance(txn, ServerInviteTransaction)
        txn.on_timeout = lambda: timeouts.append("H")
        txn.respond(480)

    tu = RecordingTU(answer)
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), endpoint.transport.listeners[0].address)
        _, txn = await tu.request()
        await terminated(endpoint, txn)  # Completed -> Terminated after 64*T1
        assert timeouts == ["H"]
        # At 0, T1, 3*T1, 7*T1, then every T2 (4*T1) until 64*T1: 18 times (fewer
        # when the machine is busy).
        assert 12 <= len(peer.received) <= 18


async def test_invite_server_2xx_enters_accepted_and_absorbs_retransmissions(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu) as endpoint:
        address = endpoint.transport.listeners[0].address
        peer.send(raw_request("INVITE"), address)
        _, txn = await tu.request()
        ok, _ = await peer.response()
        assert ok.status == 200 and txn.state is S.ACCEPTED
        peer.send(raw_request("INVITE"), address)  # a late retransmission
        await terminated(endpoint, txn)  # Timer L
        assert tu.request_count == 1  # never seen as a new call
        assert peer.pending() == 0  # and not answered by the transaction
        with pytest.raises(TransactionStateError):
            txn.respond(486)


async def test_second_final_response_is_refused(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(404))
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), endpoint.transport.listeners[0].address)
        _, txn = await tu.request()
        with pytest.raises(TransactionStateError):
            txn.respond(200)


# -- non-INVITE server transaction -----------------------------------------------------


async def test_non_invite_server_absorbs_and_answers_retransmissions(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        address = endpoint.transport.listeners[0].address
        bye = raw_request("BYE", to_tag="local")
        peer.send(bye, address)
        _, txn = await tu.request()
        assert isinstance(txn, ServerNonInviteTransaction) and txn.state is S.TRYING
        peer.send(bye, address)  # absorbed in Trying: nothing to resend yet
        txn.respond(100)
        assert (await peer.response())[0].status == 100
        assert state(txn) is S.PROCEEDING
        peer.send(bye, address)  # the last provisional is resent
        assert (await peer.response())[0].status == 100
        txn.respond(200)
        ok, _ = await peer.response()
        assert ok.status == 200 and ok.to_tag == "local"
        assert state(txn) is S.COMPLETED
        peer.send(bye, address)  # the final response is resent
        assert (await peer.response())[0].status == 200
        await terminated(endpoint, txn)  # Timer J
        assert tu.request_count == 1
        assert not endpoint.transactions.server


async def test_non_invite_server_over_tcp_terminates_at_once(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu) as endpoint:
        flow = await peer.connect(TCP, endpoint.transport.listeners[1].address)
        flow.send(raw_request("OPTIONS", via="SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bK-t"))
        _, txn = await tu.request()
        ok, back = await peer.response()
        assert ok.status == 200 and back is flow
        await terminated(endpoint, txn)


# -- transport failures ----------------------------------------------------------------


async def test_unreachable_tcp_target_reports_a_transport_error(network: MemoryNetwork) -> None:
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(
            new_request("OPTIONS", "sip:nobody@10.9.9.9;transport=tcp"),
            on_transport_error=events.on_transport_error,
        )
        with pytest.raises(TransportFailure):
            await txn.final_response()
        error = await wait_for(events.errors)
        assert isinstance(error, TransportFailure)
        assert txn.terminated


async def test_closed_connection_fails_pending_client_transactions(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(
            new_request("INVITE", "sip:bob@10.0.0.2;transport=tcp"),
            on_transport_error=events.on_transport_error,
        )
        _, flow = await peer.request()
        assert isinstance(flow, MemoryConnectionFlow)
        flow.close()
        with pytest.raises(TransportFailure):
            await txn.final_response()
        assert not endpoint.transactions.client


async def test_websocket_target_without_a_connection_fails(network: MemoryNetwork) -> None:
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("OPTIONS", "sip:x@abc.invalid;transport=ws"))
        with pytest.raises(TransportFailure):
            await txn.final_response()


def test_timer_config_derives_the_rfc_values() -> None:
    timers = TimerConfig()
    assert timers.timeout == 32.0
    assert timers.timer_d_for(False) == 32.0 and timers.timer_d_for(True) == 0
    assert timers.timer_i_for(False) == 5.0 and timers.timer_k_for(False) == 5.0
    assert timers.timer_j_for(False) == 32.0 and timers.timer_j_for(True) == 0
    with pytest.raises(ValueError):
        TimerConfig(t1=5, t2=4)


# -- RFC 2543 peers, and what a transaction keeps --------------------------------------


async def test_rfc2543_requests_are_matched_without_the_magic_cookie(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(404))
    async with endpoint_on(network, tu=tu) as endpoint:
        address = endpoint.transport.listeners[0].address
        old_via = "SIP/2.0/UDP 10.0.0.2:5060"  # no branch at all
        peer.send(raw_request("INVITE", via=old_via), address)
        _, txn = await tu.request()
        not_found, _ = await peer.response()
        assert not_found.status == 404
        peer.send(raw_request("INVITE", via=old_via), address)  # a retransmission
        assert (await peer.response())[0].status == 404
        timeouts: list[bool] = []
        txn.on_timeout = lambda: timeouts.append(True)
        ack = raw_request("ACK", via=old_via, cseq_method="ACK", to_tag=not_found.to_tag)
        peer.send(ack, address)
        await terminated(endpoint, txn)
        assert timeouts == [] and tu.acks.empty() and tu.request_count == 1


async def test_completed_non_invite_server_transaction_lets_the_request_go(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        peer.send(raw_request("MESSAGE"), endpoint_address(network))
        _, txn = await tu.request()
        assert state(txn) is S.COMPLETED and txn.method == "MESSAGE"
        with pytest.raises(TransactionStateError):
            _ = txn.request
        assert txn.local_tag  # still known, for retransmitted answers
        assert (await peer.response())[0].status == 200


def endpoint_address(network: MemoryNetwork) -> Address:
    return Address("10.0.0.1", 5060)


async def test_stopping_the_endpoint_fails_pending_client_transactions(
    network: MemoryNetwork,
) -> None:
    await peer_on(network)
    async with endpoint_on(network) as endpoint:
        pending = endpoint.send_request(new_request("INVITE"))
        connecting = endpoint.send_request(new_request("OPTIONS", "sip:x@unknown.invalid"))
    with pytest.raises(TransportFailure):
        await pending.final_response()
    with pytest.raises(TransportFailure):
        await connecting.final_response()


async def test_our_via_is_the_first_and_only_one(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        request = new_request(
            "OPTIONS", extra=[("Via", "SIP/2.0/UDP stale.example;branch=z9hG4bKold")]
        )
        endpoint.send_request(request)
        received, _ = await peer.request()
        assert len(received.vias) == 1
        assert next(iter(received.headers.items()))[0] == "Via"
