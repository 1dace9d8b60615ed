"""The answer that rejects every stream of an offer (RFC 3264 §6), which a click-to-call
puts in the ACK of a user it must release before the destination answered."""

from __future__ import annotations

from callboard.calls.sdp import inspect, rejecting_answer

RTP_OFFER = (
    b"v=0\r\no=- 42 1 IN IP4 127.0.0.1\r\ns=phone\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    b"m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)
WEBRTC_OFFER = (
    b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    b"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    b"a=ice-ufrag:abcd\r\na=fingerprint:sha-256 AA:BB\r\na=setup:actpass\r\n"
)


def test_every_stream_is_answered_with_port_zero_in_order() -> None:
    answer = rejecting_answer(RTP_OFFER).decode()
    media = [line for line in answer.split("\r\n") if line.startswith("m=")]
    assert media == ["m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 96"]
    assert answer.startswith("v=0\r\no=") and answer.endswith("\r\n")
    assert "c=IN IP4 0.0.0.0" in answer and "a=" not in answer
    info = inspect(answer.encode())
    assert info is not None and info.has_audio


def test_a_webrtc_offer_keeps_its_profile() -> None:
    answer = rejecting_answer(WEBRTC_OFFER).decode()
    assert [line for line in answer.split("\r\n") if line.startswith("m=")] == [
        "m=audio 0 UDP/TLS/RTP/SAVPF 111"
    ]


def test_no_offer_no_answer() -> None:
    assert rejecting_answer(b"") == b""
    assert rejecting_answer(b"not sdp") == b""
