"""Dialogs (RFC 3261 §12): creation from both sides, in-dialog requests with loose and
strict route sets, ACK for 2xx, remote CSeq ordering, target refresh; and a whole call
between two endpoints in memory."""

from __future__ import annotations

import pytest

from callboard.sip.dialog import (
    Dialog,
    DialogId,
    DialogState,
    incoming_dialog_id,
    response_dialog_id,
)
from callboard.sip.errors import SipParseError
from callboard.sip.headers import Headers
from callboard.sip.message import SipRequest, SipResponse, parse_message
from callboard.sip.transactions import ServerInviteTransaction, ServerTransaction
from callboard.sip.uri import SipUri, parse_uri
from tests.sip.memnet import MemoryNetwork
from tests.sip.stack import Events, RecordingTU, endpoint_on, new_request, wait_for

INVITE = (
    b"INVITE sip:bob@pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-d1;received=192.0.2.10\r\n"
    b"Record-Route: <sip:p2.example.com;lr>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>\r\n"
    b"Max-Forwards: 69\r\n"
    b'From: "Alice" <sip:alice@example.com>;tag=alice-tag\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: dialog-1@192.0.2.10\r\n"
    b"CSeq: 314 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5062;ob>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def received_invite() -> SipRequest:
    request = parse_message(INVITE)
    assert isinstance(request, SipRequest)
    return request


def uri(text: str) -> SipUri:
    return SipUri.parse(text)


def uas_dialog() -> tuple[SipRequest, SipResponse, Dialog]:
    request = received_invite()
    response = request.create_response(200, to_tag="bob-tag")
    response.headers.add("Contact", "<sip:bob@198.51.100.1:5060>")
    return request, response, Dialog.from_uas(request, response)


def test_uas_dialog_state_from_the_request_and_response() -> None:
    request, _, dialog = uas_dialog()
    assert dialog.id == DialogId("dialog-1@192.0.2.10", "bob-tag", "alice-tag")
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.local_uri.uri == uri("sip:bob@example.com") and not dialog.local_uri.params
    assert dialog.remote_uri.uri == uri("sip:alice@example.com")
    assert dialog.remote_uri.display_name == "Alice"
    assert dialog.remote_target == uri("sip:alice@192.0.2.10:5062;ob")
    assert dialog.local_target == uri("sip:bob@198.51.100.1:5060")
    # §12.1.1: the route set is the Record-Route list, in order.
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert dialog.remote_cseq == 314 and dialog.local_cseq is None
    assert not dialog.secure
    assert incoming_dialog_id(request) is None  # the INVITE itself is out of dialog


def test_uas_in_dialog_request_with_a_loose_route_set() -> None:
    _, _, dialog = uas_dialog()
    bye = dialog.create_request("BYE")
    assert bye.uri == uri("sip:alice@192.0.2.10:5062;ob")  # the remote target
    assert bye.headers.getall("route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert bye.from_tag == "bob-tag" and bye.to_tag == "alice-tag"
    assert bye.from_.uri == uri("sip:bob@example.com")
    assert bye.to.display_name == "Alice"
    assert bye.call_id == "dialog-1@192.0.2.10"
    first = bye.cseq.number
    assert bye.cseq.method == "BYE" and 0 < first < 2**31
    assert "contact" not in bye.headers  # not a target refresh
    info = dialog.create_request(
        "INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay"
    )
    assert info.cseq.number == first + 1
    assert info.headers.get("content-type") == "application/dtmf-relay"
    assert info.body == b"Signal=5\r\n" and b"Content-Length: 10" in info.encode()
    reinvite = dialog.create_request("INVITE")
    assert reinvite.cseq.number == first + 2
    assert reinvite.headers.get("contact") == "<sip:bob@198.51.100.1:5060>"
    assert incoming_dialog_id(bye) == DialogId("dialog-1@192.0.2.10", "alice-tag", "bob-tag")


def test_uac_dialog_reverses_the_record_route_and_handles_a_strict_router() -> None:
    invite = new_request("INVITE", "sip:bob@example.com", call_id="uac-1", cseq=7)
    response = invite.create_response(180, to_tag="callee")
    response.headers.add("Record-Route", "<sip:strict.example.com;method=INVITE>")
    response.headers.add("Record-Route", "<sip:loose.example.com;lr>")
    response.headers.add("Contact", "<sip:bob@203.0.113.5>")
    dialog = Dialog.from_uac(invite, response)
    assert dialog.state is DialogState.EARLY
    assert dialog.id == DialogId("uac-1", "ftag", "callee")
    assert response_dialog_id(response) == dialog.id
    assert dialog.local_cseq == 7 and dialog.remote_cseq is None
    # Reversed: the first hop is the loose router, the strict one after it.
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:loose.example.com;lr",
        "sip:strict.example.com;method=INVITE",
    ]
    update = dialog.create_request("UPDATE")
    assert update.uri == uri("sip:bob@203.0.113.5")
    assert update.cseq.number == 8

    # A strict first hop (§12.2.1.1): it becomes the Request-URI (without the
    # parameters a Request-URI cannot have), the remote target goes last in Route.
    dialog.route_set = tuple(reversed(dialog.route_set))
    bye = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:strict.example.com"
    assert bye.headers.getall("route") == [
        "<sip:loose.example.com;lr>",
        "<sip:bob@203.0.113.5>",
    ]


def test_ack_for_2xx_has_the_invite_cseq_and_credentials() -> None:
    invite = new_request(
        "INVITE",
        "sip:bob@example.com",
        cseq=41,
        extra=[("Proxy-Authorization", 'Digest username="alice", realm="x"')],
    )
    ok = invite.create_response(200, to_tag="callee")
    ok.headers.add("Contact", "<sip:bob@203.0.113.5>")
    dialog = Dialog.from_uac(invite, ok)
    ack = dialog.create_ack(invite)
    assert ack.method == "ACK" and ack.cseq.number == 41 and ack.cseq.method == "ACK"
    assert ack.uri == uri("sip:bob@203.0.113.5")
    assert ack.headers.get("proxy-authorization") == 'Digest username="alice", realm="x"'
    assert "via" not in ack.headers  # the endpoint adds one with a new branch
    assert dialog.local_cseq == 41  # an ACK does not use a new CSeq
    with pytest.raises(ValueError):
        dialog.create_request("ACK")
    with pytest.raises(ValueError):
        dialog.create_request("CANCEL")


def test_remote_cseq_must_not_go_down() -> None:
    _, _, dialog = uas_dialog()
    lower = dialog_request(dialog, "INFO", 313)
    assert not dialog.receive_request(lower)  # the TU answers 500
    assert dialog.remote_cseq == 314
    assert dialog.receive_request(dialog_request(dialog, "INFO", 316))
    assert dialog.remote_cseq == 316
    ack = dialog_request(dialog, "ACK", 314)
    assert dialog.receive_request(ack)  # ACK and CANCEL are not counted
    assert dialog.remote_cseq == 316


def dialog_request(
    dialog: Dialog, method: str, cseq: int, contact: str | None = None
) -> SipRequest:
    """A request from the remote side of ``dialog``."""
    headers = Headers()
    headers.add("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-x")
    headers.add("From", f"<{dialog.remote_uri.uri}>;tag={dialog.remote_tag}")
    headers.add("To", f"<{dialog.local_uri.uri}>;tag={dialog.local_tag}")
    headers.add("Call-ID", dialog.call_id)
    headers.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        headers.add("Contact", contact)
    return SipRequest(method, "sip:bob@198.51.100.1", headers)


def test_target_refresh_requests_update_the_remote_target() -> None:
    _, _, dialog = uas_dialog()
    dialog.receive_request(dialog_request(dialog, "INFO", 315, "<sip:alice@192.0.2.99>"))
    assert dialog.remote_target == uri("sip:alice@192.0.2.10:5062;ob")  # INFO: no
    dialog.receive_request(dialog_request(dialog, "INVITE", 316, "<sip:alice@192.0.2.99>"))
    assert dialog.remote_target == uri("sip:alice@192.0.2.99")
    dialog.receive_request(dialog_request(dialog, "UPDATE", 317, "<sip:alice@192.0.2.77>"))
    assert dialog.remote_target == uri("sip:alice@192.0.2.77")


def test_uac_responses_confirm_and_end_dialogs() -> None:
    invite = new_request("INVITE", "sip:bob@example.com")
    ringing = invite.create_response(180, to_tag="callee")
    ringing.headers.add("Contact", "<sip:bob@203.0.113.5>")
    dialog = Dialog.from_uac(invite, ringing)
    ok = invite.create_response(200, to_tag="callee")
    ok.headers.add("Contact", "<sip:bob@203.0.113.6>")
    ok.headers.add("Record-Route", "<sip:edge.example.com;lr>")
    dialog.receive_response(invite, ok)
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.remote_target == uri("sip:bob@203.0.113.6")
    assert [str(route.uri) for route in dialog.route_set] == ["sip:edge.example.com;lr"]
    bye = dialog.create_request("BYE")
    dialog.receive_response(bye, bye.create_response(481))
    assert dialog.terminated

    early = Dialog.from_uac(invite, ringing)
    early.receive_response(invite, invite.create_response(486, to_tag="callee"))
    assert early.terminated


def test_dialog_needs_a_tag_and_a_contact() -> None:
    request = received_invite()
    with pytest.raises(ValueError):
        Dialog.from_uas(request, request.create_response(200))
    with pytest.raises(ValueError):
        Dialog.from_uas(request, request.create_response(486, to_tag="t"))
    request.headers.remove("contact")
    with pytest.raises(SipParseError):
        Dialog.from_uas(request, request.create_response(200, to_tag="t"))


def test_secure_dialog_needs_sips_and_tls() -> None:
    request = received_invite()
    request.uri = parse_uri("sips:bob@pbx.example.com")
    response = request.create_response(200, to_tag="t")
    assert Dialog.from_uas(request, response).secure


# -- a whole call through two endpoints ------------------------------------------------


async def test_call_between_two_endpoints() -> None:
    network = MemoryNetwork()
    dialogs: dict[str, Dialog] = {}

    def callee(request: SipRequest, txn: ServerTransaction) -> None:
        if request.method == "INVITE":
            assert isinstance(txn, ServerInviteTransaction)
            ringing = txn.create_response(180)
            ringing.headers.add("Contact", "<sip:bob@10.0.0.2>")
            txn.send_response(ringing)
            dialog = Dialog.from_uas(request, ringing, flow=txn.flow)
            dialogs["b"] = dialog
            ok = txn.create_response(200)
            ok.headers.add("Contact", "<sip:bob@10.0.0.2>")
            dialog.confirm()
            dialogs_pending.append(endpoint_b.send_2xx_reliably(txn, ok))

    dialogs_pending: list[object] = []
    tu_a, tu_b = RecordingTU(), RecordingTU(callee)
    async with (
        endpoint_on(network, "10.0.0.1", tu=tu_a) as endpoint_a,
        endpoint_on(network, "10.0.0.2", tu=tu_b) as endpoint_b,
    ):
        events = Events()
        invite = new_request("INVITE", "sip:bob@10.0.0.2", contact="<sip:alice@10.0.0.1>")
        txn = endpoint_a.send_request(invite, on_response=events.on_response)
        assert (await events.response()).status == 180
        ok = await txn.final_response()
        assert ok.status == 200
        dialog_a = Dialog.from_uac(invite, ok)
        endpoint_a.send_ack(dialog_a.create_ack(invite))
        ack, _ = await wait_for(tu_b.acks)
        dialog_b = dialogs["b"]
        assert incoming_dialog_id(ack) == dialog_b.id
        assert dialog_b.receive_request(ack)

        # The callee hangs up.
        bye = dialog_b.create_request("BYE")
        bye_txn = endpoint_b.send_request(bye, flow=dialog_b.flow)
        received, server_txn = await tu_a.request()
        assert received.method == "BYE"
        assert incoming_dialog_id(received) == dialog_a.id
        assert dialog_a.receive_request(received)
        server_txn.respond(200)
        assert (await bye_txn.final_response()).status == 200
        assert tu_b.request_count == 1
