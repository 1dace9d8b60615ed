"""The endpoint (in memory): CANCEL, 2xx until ACK, stray responses, request checks,
stateless answers to malformed requests, Via stamping and response routing, Route
pre-processing, flows, and next-hop resolution."""

from __future__ import annotations

import pytest

from callboard.sip.endpoint import Endpoint, EndpointConfig
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.targets import Target, next_hop_uri, target_for_uri
from callboard.sip.transactions import (
    ClientInviteTransaction,
    ServerInviteTransaction,
    ServerTransaction,
    TransactionAborted,
    TransactionState,
    TransactionTimeout,
    TransportFailure,
)
from callboard.sip.transport import Address, Flow, ListenerConfig, TransportKind
from callboard.sip.tu import DefaultTransactionUser
from callboard.sip.uri import SipUri, parse_uri
from tests.sip.memnet import MemoryConnectionFlow, MemoryNetwork, Peer
from tests.sip.stack import (
    FAST,
    Events,
    RecordingTU,
    ack_for,
    endpoint_on,
    new_request,
    peer_on,
    raw_request,
    response_to,
    terminated,
    wait_for,
)

UDP = TransportKind.UDP
TCP = TransportKind.TCP
WS = TransportKind.WS
S = TransactionState
HERE = Address("10.0.0.1", 5060)


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


async def next_of(peer: Peer, method: str) -> tuple[SipRequest | SipResponse, Flow]:
    """The next message of CSeq method ``method`` (skipping retransmissions of others)."""
    while True:
        message, flow = await peer.next()
        if message.cseq.method == method:
            return message, flow


async def final_to(peer: Peer, method: str) -> SipResponse:
    while True:
        message, _ = await next_of(peer, method)
        if isinstance(message, SipResponse) and message.status >= 200:
            return message


# -- CANCEL, client side ---------------------------------------------------------------


async def test_cancel_is_held_until_a_provisional_response(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("INVITE", "sip:bob@10.0.0.2;transport=tcp"))
        assert isinstance(txn, ClientInviteTransaction)
        cancel = endpoint.cancel(txn, reason='SIP;cause=200;text="Call completed elsewhere"')
        assert cancel is not None and not cancel.started
        assert endpoint.cancel(txn) is cancel
        invite, flow = await peer.request()
        assert peer.pending() == 0  # no CANCEL before a provisional response

        flow.send(response_to(invite, 180).encode())
        request, _ = await peer.request()
        assert request.method == "CANCEL"
        # §9.1: same Request-URI, Call-ID, From, To (no tag), CSeq number; the INVITE's
        # top Via, so the same branch.
        assert request.uri == invite.uri and request.call_id == invite.call_id
        assert request.headers.get("from") == invite.headers.get("from")
        assert request.headers.get("to") == invite.headers.get("to") and request.to_tag is None
        assert (request.cseq.number, request.cseq.method) == (invite.cseq.number, "CANCEL")
        assert request.headers.getall("via") == invite.headers.getall("via")
        assert request.headers.get("reason") == 'SIP;cause=200;text="Call completed elsewhere"'

        flow.send(response_to(request, 200).encode())
        assert (await cancel.final_response()).status == 200
        flow.send(response_to(invite, 487).encode())
        assert (await txn.final_response()).status == 487
        ack, _ = await peer.request()
        assert ack.method == "ACK" and ack.branch == invite.branch


async def test_cancel_after_a_provisional_goes_out_at_once(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("INVITE"), on_response=events.on_response)
        assert isinstance(txn, ClientInviteTransaction)
        invite, flow = await peer.request()
        peer.send(response_to(invite, 183), flow.remote)
        await events.response()
        cancel = endpoint.cancel(txn)
        assert cancel is not None and cancel.started
        request, _ = await next_of(peer, "CANCEL")
        assert isinstance(request, SipRequest) and request.branch == invite.branch
        peer.send(response_to(request, 200), flow.remote)
        peer.send(response_to(invite, 487), flow.remote)
        assert (await txn.final_response()).status == 487
        assert (await cancel.final_response()).status == 200


async def test_a_queued_cancel_is_dropped_when_the_invite_completes(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("INVITE", "sip:bob@10.0.0.2;transport=tcp"))
        assert isinstance(txn, ClientInviteTransaction)
        cancel = endpoint.cancel(txn)
        assert cancel is not None
        invite, flow = await peer.request()
        flow.send(response_to(invite, 200).encode())
        assert (await txn.final_response()).status == 200
        with pytest.raises(TransactionAborted):
            await cancel.final_response()
        assert endpoint.cancel(txn) is cancel  # the one (aborted) CANCEL
        assert peer.pending() == 0


async def test_nothing_to_cancel_after_the_final_response(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(new_request("INVITE"))
        assert isinstance(txn, ClientInviteTransaction)
        invite, flow = await peer.request()
        peer.send(response_to(invite, 486), flow.remote)
        await txn.final_response()
        assert endpoint.cancel(txn) is None


async def test_invite_without_final_response_64_t1_after_cancel_times_out(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    async with endpoint_on(network) as endpoint:
        events = Events()
        txn = endpoint.send_request(new_request("INVITE"), on_response=events.on_response)
        assert isinstance(txn, ClientInviteTransaction)
        invite, flow = await peer.request()
        peer.send(response_to(invite, 180), flow.remote)
        await events.response()
        cancel = endpoint.cancel(txn)
        assert cancel is not None
        request, _ = await next_of(peer, "CANCEL")
        assert isinstance(request, SipRequest)
        peer.send(response_to(request, 200), flow.remote)
        with pytest.raises(TransactionTimeout):
            await txn.final_response()


# -- CANCEL, server side ---------------------------------------------------------------


async def test_cancel_of_a_pending_invite_gets_200_and_the_tu_answers_487(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), HERE)
        _, invite_txn = await tu.request()
        assert isinstance(invite_txn, ServerInviteTransaction)
        invite_txn.respond(180)
        peer.send(raw_request("CANCEL"), HERE)
        ok = await final_to(peer, "CANCEL")
        assert ok.status == 200
        assert ok.to_tag == invite_txn.local_tag  # the To tag of the INVITE's responses
        cancel, cancelled = await wait_for(tu.cancels)
        assert cancelled is invite_txn and invite_txn.cancelled
        assert cancel.method == "CANCEL"
        invite_txn.respond(487)
        terminated_response = await final_to(peer, "INVITE")
        assert terminated_response.status == 487
        peer.send(raw_request("ACK", cseq_method="ACK", to_tag=invite_txn.local_tag), HERE)
        # A retransmitted CANCEL is answered by its own transaction, not the TU again.
        peer.send(raw_request("CANCEL"), HERE)
        assert (await final_to(peer, "CANCEL")).status == 200
        await terminated(endpoint, invite_txn)  # Confirmed, then Timer I
        assert tu.acks.empty()  # the ACK was absorbed by the INVITE transaction
        assert tu.cancels.empty()


class HoldingTU(DefaultTransactionUser):
    """The default TU, except that it leaves INVITEs unanswered."""

    def on_request(self, request: SipRequest, transaction: ServerTransaction) -> None:
        if request.method != "INVITE":
            super().on_request(request, transaction)


async def test_default_tu_answers_a_cancelled_invite_with_487(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    transport = network.transport("10.0.0.1")
    tu = HoldingTU(allow=("INVITE", "CANCEL"))
    endpoint = Endpoint(transport, config=EndpointConfig(timers=FAST), tu=tu)
    await endpoint.start([ListenerConfig(UDP, "10.0.0.1", 5060)])
    try:
        peer.send(raw_request("INVITE"), HERE)
        peer.send(raw_request("CANCEL"), HERE)
        assert (await final_to(peer, "CANCEL")).status == 200
        assert (await final_to(peer, "INVITE")).status == 487
    finally:
        await endpoint.stop()


async def test_cancel_matching_nothing_gets_481(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu):
        peer.send(raw_request("CANCEL"), HERE)
        response = await final_to(peer, "CANCEL")
        assert response.status == 481
        assert tu.cancels.empty() and tu.requests.empty()


# -- 2xx until ACK (§13.3.1.4) ---------------------------------------------------------


async def test_2xx_is_retransmitted_until_the_ack(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), HERE)
        _, txn = await tu.request()
        assert isinstance(txn, ServerInviteTransaction)
        acks: list[SipRequest] = []
        pending = endpoint.send_2xx_reliably(txn, txn.create_response(200), on_ack=acks.append)
        first = await final_to(peer, "INVITE")
        again = await final_to(peer, "INVITE")
        third = await final_to(peer, "INVITE")
        assert first.status == again.status == third.status == 200
        times = [when for message, _, when in peer.received if message.cseq.method == "INVITE"]
        assert times[-1] - times[-2] >= (times[-2] - times[-3]) * 1.5  # doubling
        peer.send(ack_for(first), HERE)
        ack = await pending.wait()
        assert ack.method == "ACK" and acks == [ack]
        tu_ack, _ = await wait_for(tu.acks)
        assert tu_ack is ack
        assert not pending.pending
        count = len(peer.received)
        await terminated(endpoint, txn)  # Timer L: 64*T1 later
        late = [m for m, _, _ in peer.received[count:] if isinstance(m, SipResponse)]
        assert [m.status for m in late if m.status == 200] == []


async def test_2xx_without_ack_times_out(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        peer.send(raw_request("INVITE"), HERE)
        _, txn = await tu.request()
        assert isinstance(txn, ServerInviteTransaction)
        timeouts: list[bool] = []
        pending = endpoint.send_2xx_reliably(
            txn, txn.create_response(200), on_timeout=lambda: timeouts.append(True)
        )
        with pytest.raises(TransactionTimeout):
            await pending.wait()
        assert timeouts == [True]
        sent = [m for m, _, _ in peer.received if isinstance(m, SipResponse) and m.status == 200]
        assert 12 <= len(sent) <= 18  # at 0, T1, 3, 7, 11... *T1 until 64*T1


# -- stray responses -------------------------------------------------------------------


async def test_a_2xx_retransmitted_after_the_transaction_ended_goes_to_the_tu(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu) as endpoint:
        txn = endpoint.send_request(new_request("INVITE"))
        invite, flow = await peer.request()
        ok = response_to(invite, 200)
        peer.send(ok, flow.remote)
        await txn.final_response()
        assert txn.terminated
        peer.send(ok, flow.remote)  # a retransmission: the ACK was lost
        stray, _ = await wait_for(tu.strays)
        assert stray.status == 200 and stray.call_id == invite.call_id

        # A response whose Via is not ours is dropped.
        foreign = response_to(invite, 200)
        foreign.headers.set("Via", "SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKother")
        peer.send(foreign, flow.remote)
        # And one with two Vias (§8.1.3.3) too; then a good one shows the order.
        two = response_to(invite, 200)
        two.headers.add("Via", "SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKx")
        peer.send(two, flow.remote)
        peer.send(ok, flow.remote)
        again, _ = await wait_for(tu.strays)
        assert again.headers.getall("via") == ok.headers.getall("via")
        assert tu.strays.empty()


# -- request checks and stateless answers ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (raw_request("OPTIONS", omit=["CSeq"], extra=["CSeq: x OPTIONS"]), 400, None),
        (raw_request("OPTIONS", version="SIP/3.0"), 505, None),
        (raw_request("OPTIONS", omit=["Call-ID"]), 400, "Missing Call-ID Header"),
        (raw_request("OPTIONS", omit=["From"]), 400, "Missing From Header"),
        (raw_request("OPTIONS", uri="sip:bad host@x"), 400, None),
        (raw_request("INVITE", max_forwards=0), 483, None),
        (raw_request("FOO"), 405, None),
        (raw_request("OPTIONS", uri="mailto:someone@example.com"), 416, None),
        (raw_request("OPTIONS", extra=["Require: foo, timer"]), 420, None),
        (raw_request("OPTIONS", cseq_method="INVITE"), 400, None),
    ],
    ids=[
        "bad-cseq",
        "sip-3.0",
        "no-call-id",
        "no-from",
        "bad-uri",
        "max-forwards-0",
        "unknown-method",
        "scheme",
        "require",
        "cseq-method",
    ],
)
async def test_bad_requests_get_the_right_error(
    network: MemoryNetwork, data: bytes, status: int, reason: str | None
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu):
        peer.send(data, HERE)
        response, _ = await peer.response()
        assert response.status == status, response.reason
        if reason is not None:
            assert response.reason == reason
        assert response.branch == "z9hG4bK-1"
        assert response.to_tag  # a final response carries a To tag
        if status == 405:
            assert "INVITE" in (response.headers.get("allow") or "")
        if status == 420:
            assert response.headers.getall("unsupported") == ["foo"]
        assert tu.requests.empty()


async def test_max_forwards_0_options_and_register_are_served(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        peer.send(raw_request("OPTIONS", max_forwards=0), HERE)
        assert (await peer.response())[0].status == 200
        peer.send(raw_request("REGISTER", max_forwards=0, call_id="r"), HERE)
        assert (await peer.response())[0].status == 200


async def test_garbage_and_bad_responses_are_dropped(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        peer.send(b"\x16\x03\x01 binary garbage \xff\xfe", HERE)
        peer.send(b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n", HERE)
        peer.send(raw_request("ACK", omit=["Call-ID"]), HERE)  # never answered
        peer.send(raw_request("OPTIONS", omit=["Via"]), HERE)  # nowhere to answer
        peer.send(raw_request("OPTIONS", call_id="after"), HERE)
        response, _ = await peer.response()
        assert response.call_id == "after" and response.status == 200


async def test_merged_request_gets_482(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu):
        peer.send(raw_request("INVITE"), HERE)
        await tu.request()
        # The same request through another path of a forking proxy: another branch.
        peer.send(raw_request("INVITE", via="SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2;rport"), HERE)
        response = await final_to(peer, "INVITE")
        assert response.status == 482 and response.branch == "z9hG4bK-2"


async def test_tu_exception_gets_500(network: MemoryNetwork) -> None:
    peer = await peer_on(network)

    def broken(request: SipRequest, txn: ServerTransaction) -> None:
        raise RuntimeError("bug")

    async with endpoint_on(network, tu=RecordingTU(broken)):
        peer.send(raw_request("OPTIONS"), HERE)
        assert (await peer.response())[0].status == 500


async def test_options_default_answer_lists_capabilities(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    transport = network.transport("10.0.0.1")
    endpoint = Endpoint(transport, config=EndpointConfig(timers=FAST))
    await endpoint.start([ListenerConfig(UDP, "10.0.0.1", 5060)])
    try:
        peer.send(raw_request("OPTIONS"), HERE)
        response, _ = await peer.response()
        assert response.status == 200
        assert "INVITE" in response.headers.getall("allow")
        assert response.headers.getall("accept") == ["application/sdp"]
        assert "outbound" in response.supported
        peer.send(raw_request("MESSAGE", call_id="m"), HERE)
        assert (await peer.response())[0].status == 480
    finally:
        await endpoint.stop()


# -- Via stamping and response routing (§18.2, RFC 3581) ---------------------------------


async def test_rport_and_received_are_filled_and_the_response_goes_to_the_source(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        # The Via claims port 5070 and a private address; the packet comes from 5060.
        via = "SIP/2.0/UDP 192.168.1.20:5070;rport;branch=z9hG4bK-nat"
        peer.send(raw_request("OPTIONS", via=via), HERE)
        request, _ = await tu.request()
        assert request.via.received == "10.0.0.2" and request.via.rport == 5060
        response, _ = await peer.response()
        assert response.via.received == "10.0.0.2" and response.via.rport == 5060
        assert str(response.via).startswith("SIP/2.0/UDP 192.168.1.20:5070;rport=5060")


async def test_without_rport_the_response_goes_to_the_via_port(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    other = network.transport("10.0.0.2")
    await other.start([ListenerConfig(UDP, "10.0.0.2", 5070)])
    listener = Peer(other)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        via = "SIP/2.0/UDP 192.168.1.20:5070;branch=z9hG4bK-via"
        peer.send(raw_request("OPTIONS", via=via), HERE)
        request, _ = await tu.request()
        assert request.via.received == "10.0.0.2" and request.via.rport is None
        response, _ = await listener.response()  # at received:5070
        assert response.status == 200
        assert peer.pending() == 0


async def test_same_host_gets_no_received(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        peer.send(raw_request("OPTIONS", via="SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-s"), HERE)
        request, _ = await tu.request()
        assert request.via.received is None
        await peer.response()


async def test_tcp_response_goes_back_on_the_same_connection(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu):
        flow = await peer.connect(TCP, HERE)
        via = "SIP/2.0/TCP 192.168.1.20:5099;branch=z9hG4bK-tcp"
        flow.send(raw_request("OPTIONS", via=via))
        request, _ = await tu.request()
        assert request.via.received == "10.0.0.2"
        response, back = await peer.response()
        assert response.status == 200 and back is flow


async def test_tcp_response_reconnects_when_the_connection_is_gone(
    network: MemoryNetwork,
) -> None:
    peer = await peer_on(network)
    tu = RecordingTU()
    async with endpoint_on(network, tu=tu):
        flow = await peer.connect(TCP, HERE)
        assert isinstance(flow, MemoryConnectionFlow)
        flow.send(raw_request("OPTIONS", via="SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bK-re"))
        _, txn = await tu.request()
        flow.close()
        txn.respond(200)
        response, back = await peer.response()
        assert response.status == 200 and back is not flow and back.kind is TCP


# -- Route pre-processing (§16.4) --------------------------------------------------------


async def test_routes_naming_this_server_are_removed(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    config = EndpointConfig(timers=FAST, aliases=frozenset({"pbx.example.com"}))
    async with endpoint_on(network, tu=tu, config=config):
        routes = "<sip:10.0.0.1;lr>, <sip:pbx.example.com:5060;lr>, <sip:proxy.example.net;lr>"
        peer.send(raw_request("OPTIONS", extra=[f"Route: {routes}"]), HERE)
        request, _ = await tu.request()
        assert request.headers.getall("route") == ["<sip:proxy.example.net;lr>"]

        peer.send(raw_request("INFO", call_id="i", extra=["Route: <sip:10.0.0.1:5060;lr>"]), HERE)
        request, _ = await tu.request()
        assert "route" not in request.headers

        other = "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2;rport"
        peer.send(
            raw_request("INFO", via=other, call_id="j", extra=["Route: <sip:10.0.0.1:5099;lr>"]),
            HERE,
        )
        request, _ = await tu.request()
        assert request.headers.getall("route") == ["<sip:10.0.0.1:5099;lr>"]


# -- sending: flows, tokens, destinations ------------------------------------------------


async def test_request_over_a_registered_websocket_flow(network: MemoryNetwork) -> None:
    peer = await peer_on(network, kinds=(UDP, WS))
    tu = RecordingTU(lambda request, txn: txn.respond(200))
    async with endpoint_on(network, tu=tu, kinds=(UDP, TCP, WS)) as endpoint:
        ws = await peer.connect(WS, Address("10.0.0.1", 5060))
        ws.send(raw_request("REGISTER", via="SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK-ws"))
        register, register_txn = await tu.request()
        assert register.via.received == "10.0.0.2"
        await peer.response()
        token = register_txn.flow_out.token

        options = new_request("OPTIONS", "sip:x@df7jal23ls0d.invalid;transport=ws")
        txn = endpoint.send_request(options, flow=token)
        request, flow = await peer.request()
        assert flow is ws and request.via.transport == "WS"
        flow.send(response_to(request, 200).encode())
        assert (await txn.final_response()).status == 200

        ws_flow = endpoint.flow_by_token(token)
        assert isinstance(ws_flow, MemoryConnectionFlow)
        ws_flow.close()
        gone = endpoint.send_request(new_request("OPTIONS", "sip:x@y.invalid"), flow=token)
        with pytest.raises(TransportFailure):
            await gone.final_response()


async def test_explicit_destination_is_an_outbound_proxy(network: MemoryNetwork) -> None:
    proxy = await peer_on(network, host="10.0.0.3")
    async with endpoint_on(network) as endpoint:
        txn = endpoint.send_request(
            new_request("OPTIONS", "sip:carol@far.example.com"),
            destination=Target(UDP, Address("10.0.0.3", 5060)),
        )
        request, flow = await proxy.request()
        assert request.uri == parse_uri("sip:carol@far.example.com")
        proxy.send(response_to(request, 200), flow.remote)
        assert (await txn.final_response()).status == 200


async def test_loose_route_is_the_next_hop(network: MemoryNetwork) -> None:
    proxy = await peer_on(network, host="10.0.0.3")
    async with endpoint_on(network) as endpoint:
        request = new_request(
            "MESSAGE", "sip:carol@far.example.com", extra=[("Route", "<sip:10.0.0.3;lr>")]
        )
        endpoint.send_request(request)
        received, _ = await proxy.request()
        assert received.method == "MESSAGE"


async def test_sent_by_uses_the_advertised_host(network: MemoryNetwork) -> None:
    peer = await peer_on(network)
    config = EndpointConfig(
        timers=FAST, advertised_host="pbx.example.com", advertised_ports={UDP: 15060}
    )
    async with endpoint_on(network, config=config) as endpoint:
        txn = endpoint.send_request(new_request("OPTIONS"))
        request, flow = await peer.request()
        assert request.via.sent_by == "pbx.example.com:15060"
        peer.send(response_to(request, 200), flow.remote)
        assert (await txn.final_response()).status == 200
        contact = endpoint.contact_uri(TCP, "alice")
        assert str(contact) == "sip:alice@pbx.example.com:5060;transport=tcp"


async def test_ack_and_cancel_cannot_be_sent_as_transactions(network: MemoryNetwork) -> None:
    async with endpoint_on(network) as endpoint:
        with pytest.raises(ValueError):
            endpoint.send_request(new_request("ACK"))
        with pytest.raises(ValueError):
            endpoint.send_request(new_request("CANCEL"))
        with pytest.raises(ValueError):
            endpoint.send_ack(new_request("BYE"))


# -- next-hop resolution ---------------------------------------------------------------


def uri(text: str) -> SipUri:
    return SipUri.parse(text)


@pytest.mark.parametrize(
    ("text", "kind", "address"),
    [
        ("sip:bob@192.0.2.4", UDP, Address("192.0.2.4", 5060)),
        ("sip:bob@192.0.2.4:5080;transport=TCP", TCP, Address("192.0.2.4", 5080)),
        ("sips:bob@example.com", TransportKind.TLS, Address("example.com", 5061)),
        ("sips:bob@example.com;transport=tcp", TransportKind.TLS, Address("example.com", 5061)),
        ("sip:bob@example.com;transport=tls", TransportKind.TLS, Address("example.com", 5061)),
        ("sip:bob@example.com;maddr=192.0.2.9", UDP, Address("192.0.2.9", 5060)),
        ("sip:x@a.invalid;transport=ws", WS, Address("a.invalid", 80)),
        ("sips:x@a.invalid;transport=ws", TransportKind.WSS, Address("a.invalid", 443)),
    ],
)
def test_target_for_uri(text: str, kind: TransportKind, address: Address) -> None:
    target = target_for_uri(uri(text))
    assert (target.kind, target.address) == (kind, address)


def test_target_for_uri_rejects_what_cannot_be_reached() -> None:
    with pytest.raises(TransportFailure):
        target_for_uri(parse_uri("tel:+15551234"))
    with pytest.raises(TransportFailure):
        target_for_uri(uri("sip:bob@example.com;transport=sctp"))
    with pytest.raises(TransportFailure):
        target_for_uri(uri("sips:bob@example.com;transport=udp"))
    assert target_for_uri(uri("sips:bob@example.com")).server_name == "example.com"


def test_next_hop_is_a_loose_top_route_else_the_request_uri() -> None:
    loose = new_request("BYE", "sip:bob@192.0.2.4", extra=[("Route", "<sip:p1.example;lr>")])
    assert next_hop_uri(loose) == uri("sip:p1.example;lr")
    strict = new_request("BYE", "sip:p1.example", extra=[("Route", "<sip:bob@192.0.2.4>")])
    assert next_hop_uri(strict) == uri("sip:p1.example")
    plain = new_request("BYE", "sip:bob@192.0.2.4")
    assert next_hop_uri(plain) == uri("sip:bob@192.0.2.4")
