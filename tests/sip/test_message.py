"""Parsing, serialising and answering SIP messages (RFC 3261 §7, §8.2.6, §18.3)."""

from __future__ import annotations

import pytest

from callboard.sip.errors import (
    BadExtension,
    MessageTooLarge,
    SipParseError,
    UnsupportedUriScheme,
    VersionNotSupported,
)
from callboard.sip.headers import CSeq, Headers
from callboard.sip.message import (
    REASON_PHRASES,
    SipRequest,
    SipResponse,
    parse_message,
    validate_request,
)
from callboard.sip.uri import AbsoluteUri, NameAddress, SipUri

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\r\ns=-\r\n"
    b"c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def invite(*extra: str, body: bytes = SDP, length: int | None = None) -> bytes:
    lines = [
        "INVITE sip:bob@biloxi.com SIP/2.0",
        "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport",
        "Max-Forwards: 70",
        "To: Bob <sip:bob@biloxi.com>",
        'From: "Alice" <sip:alice@atlanta.com>;tag=1928301774',
        "Call-ID: a84b4c76e66710@pc33.atlanta.com",
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@pc33.atlanta.com>",
        "Content-Type: application/sdp",
        *extra,
        f"Content-Length: {len(body) if length is None else length}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(*extra: str) -> bytes:
    lines = [
        "SIP/2.0 180 Ringing",
        "Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3",
        "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1",
        "To: Bob <sip:bob@biloxi.com>;tag=a6c85cf",
        "From: Alice <sip:alice@atlanta.com>;tag=1928301774",
        "Call-ID: a84b4c76e66710",
        "CSeq: 314159 INVITE",
        *extra,
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def parse_response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def parse_error(data: bytes, **limits: int) -> SipParseError:
    with pytest.raises(SipParseError) as caught:
        parse_message(data, **limits)
    return caught.value


class TestParseRequest:
    def test_fields(self) -> None:
        request = parse_request(invite())
        assert request.is_request
        assert request.method == "INVITE"
        assert request.uri == SipUri.parse("sip:bob@biloxi.com")
        assert request.call_id == "a84b4c76e66710@pc33.atlanta.com"
        assert request.cseq == CSeq(314159, "INVITE")
        assert request.max_forwards == 70
        assert request.branch == "z9hG4bK776asdhds"
        assert request.via.has_rport
        assert len(request.vias) == 1
        assert request.from_.display_name == "Alice"
        assert request.from_tag == "1928301774"
        assert request.to_tag is None
        assert request.to.uri == SipUri.parse("sip:bob@biloxi.com")
        assert request.contacts == (NameAddress.parse("<sip:alice@pc33.atlanta.com>"),)
        assert request.content_type == "application/sdp"
        assert request.body == SDP
        assert request.content_length == len(SDP)

    def test_compact_forms_and_case(self) -> None:
        data = (
            b"OPTIONS sip:carol@chicago.com SIP/2.0\r\n"
            b"v: SIP/2.0/TCP a.example.com;branch=z9hG4bKa\r\n"
            b"t: <sip:carol@chicago.com>\r\n"
            b"F: <sip:alice@atlanta.com>;tag=1\r\n"
            b"i: abc@a.example.com\r\n"
            b"cseq: 1 OPTIONS\r\n"
            b"k: path, outbound\r\n"
            b"m: <sip:alice@a.example.com>\r\n"
            b"L: 0\r\n\r\n"
        )
        request = parse_request(data)
        assert request.call_id == "abc@a.example.com"
        assert request.supported == ("path", "outbound")
        assert request.headers.names() == [
            "Via",
            "To",
            "From",
            "Call-ID",
            "CSeq",
            "Supported",
            "Contact",
            "Content-Length",
        ]
        assert request.encode().startswith(b"OPTIONS sip:carol@chicago.com SIP/2.0\r\nVia: ")
        assert b"\r\nCall-ID: abc@a.example.com\r\n" in request.encode()

    def test_folded_lines_are_unfolded(self) -> None:
        data = invite("Subject: I know you're there,\r\n  pick up the phone\r\n\tand talk to me!")
        request = parse_request(data)
        assert request.headers.get("Subject") == (
            "I know you're there, pick up the phone and talk to me!"
        )

    def test_multiple_values_on_lines_and_across_lines(self) -> None:
        data = (
            b"SIP/2.0 200 OK\r\n"
            b"Via: SIP/2.0/UDP a.com;branch=z9hG4bK1, SIP/2.0/UDP b.com;branch=z9hG4bK2\r\n"
            b"Via: SIP/2.0/UDP c.com;branch=z9hG4bK3\r\n"
            b"To: <sip:b@b.com>;tag=2\r\nFrom: <sip:a@a.com>;tag=1\r\nCall-ID: x\r\n"
            b"CSeq: 1 INVITE\r\n"
            b'Record-Route: <sip:p1.com;lr>, "Proxy, Two" <sip:p2.com;lr>\r\n'
            b'Contact: "Bob, B." <sip:bob@192.0.2.4>;expires=60, <sip:bob@192.0.2.5>;q=0.5\r\n'
            b"\r\n"
        )
        message = parse_response(data)
        assert [via.host for via in message.vias] == ["a.com", "b.com", "c.com"]
        assert [str(route.uri) for route in message.record_routes] == [
            "sip:p1.com;lr",
            "sip:p2.com;lr",
        ]
        assert message.record_routes[1].display_name == "Proxy, Two"
        assert [contact.params for contact in message.contacts] == [{"expires": "60"}, {"q": "0.5"}]

    def test_authorization_is_not_split(self) -> None:
        value = 'Digest username="bob", realm="biloxi.com", nonce="dcd9", uri="sip:bob@biloxi.com"'
        request = parse_request(invite(f"Authorization: {value}"))
        assert request.headers.getall("Authorization") == [value]

    def test_unknown_method_and_headers_are_preserved(self) -> None:
        data = (
            b"FOO sip:bob@biloxi.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP a.com;branch=z9hG4bK1\r\nTo: <sip:b@b.com>\r\n"
            b"From: <sip:a@a.com>;tag=1\r\nCall-ID: x\r\nCSeq: 1 FOO\r\n"
            b'X-Custom-Thing: a, b;c="d"\r\nx-custom-thing: second\r\n\r\n'
        )
        request = parse_request(data)
        assert request.method == "FOO"
        assert request.headers.getall("X-CUSTOM-THING") == ['a, b;c="d"', "second"]
        encoded = request.encode()
        assert b'X-Custom-Thing: a, b;c="d"\r\nX-Custom-Thing: second\r\n' in encoded
        assert parse_request(encoded).headers.getall("x-custom-thing") == ['a, b;c="d"', "second"]

    def test_leading_crlf_is_skipped(self) -> None:
        assert parse_request(b"\r\n\r\n" + invite()).method == "INVITE"

    def test_bare_lf_line_endings(self) -> None:
        request = parse_request(invite(body=b"").replace(b"\r\n", b"\n"))
        assert request.call_id == "a84b4c76e66710@pc33.atlanta.com"

    def test_missing_final_empty_line_means_no_body(self) -> None:
        data = invite(body=b"")[:-2]
        assert parse_request(data).body == b""

    def test_utf8_values(self) -> None:
        data = invite("Subject: Grüße 大停電")
        request = parse_request(data)
        assert request.headers.get("Subject") == "Grüße 大停電"
        assert "Grüße 大停電".encode() in request.encode()

    def test_invalid_utf8_survives_a_round_trip(self) -> None:
        data = invite("X-Binary: marker").replace(b"marker", b"\xff\xfe")
        request = parse_request(data)
        assert b"X-Binary: \xff\xfe\r\n" in request.encode()

    def test_absolute_request_uri(self) -> None:
        data = invite(body=b"").replace(b"INVITE sip:bob@biloxi.com", b"INVITE tel:+12125551212")
        assert parse_request(data).uri == AbsoluteUri("tel", "+12125551212")

    def test_version_is_case_insensitive(self) -> None:
        data = invite(body=b"").replace(b" SIP/2.0\r\n", b" sip/2.0\r\n", 1)
        assert parse_request(data).encode().startswith(b"INVITE sip:bob@biloxi.com SIP/2.0\r\n")

    def test_lazy_headers_raise_on_access(self) -> None:
        request = parse_request(invite("Expires: soon", "Route: <sip:p1.com;lr", "Require: a b"))
        for attribute in ("expires", "routes", "require"):
            with pytest.raises(SipParseError) as caught:
                getattr(request, attribute)
            assert caught.value.status == 400

    def test_contact_wildcard(self) -> None:
        data = invite("Expires: 0", body=b"").replace(
            b"Contact: <sip:alice@pc33.atlanta.com>", b"Contact: *"
        )
        request = parse_request(data)
        assert request.is_contact_wildcard
        assert request.contacts == ()
        assert request.expires == 0
        mixed = data.replace(b"Contact: *", b"Contact: *, <sip:a@b.com>")
        with pytest.raises(SipParseError):
            _ = parse_request(mixed).contacts


class TestParseResponse:
    def test_fields(self) -> None:
        message = parse_response(response())
        assert not message.is_request
        assert (message.status, message.reason) == (180, "Ringing")
        assert message.to_tag == "a6c85cf"
        assert message.branch == "z9hG4bK4b43c2ff8.1"
        assert message.vias[1].received == "192.0.2.1"
        assert message.max_forwards is None
        assert message.body == b""

    def test_reason_phrase_may_be_empty_or_missing(self) -> None:
        assert parse_response(response().replace(b"180 Ringing", b"180 ")).reason == ""
        assert parse_response(response().replace(b"180 Ringing", b"180")).reason == ""

    def test_reason_phrase_keeps_spaces_and_utf8(self) -> None:
        data = response().replace(b"180 Ringing", "180 Звонит  сейчас".encode())
        assert parse_response(data).reason == "Звонит  сейчас"


class TestBody:
    def test_extra_octets_after_content_length_are_discarded(self) -> None:
        request = parse_request(invite() + b"INVITE sip:x@y SIP/2.0\r\n\r\n")
        assert request.body == SDP

    def test_content_length_larger_than_the_datagram(self) -> None:
        error = parse_error(invite(length=len(SDP) + 1))
        assert error.status == 400
        assert isinstance(error.message, SipRequest)
        assert error.message.call_id == "a84b4c76e66710@pc33.atlanta.com"

    def test_no_content_length_takes_the_rest_of_the_datagram(self) -> None:
        data = invite().replace(f"Content-Length: {len(SDP)}\r\n".encode(), b"")
        assert parse_request(data).body == SDP

    def test_binary_body(self) -> None:
        body = bytes(range(256)) * 2
        request = parse_request(invite(body=body))
        assert request.body == body
        assert parse_request(request.encode()).body == body

    @pytest.mark.parametrize("value", ["-1", "five", "1.5", "0x10", "", "99999999999999999999"])
    def test_bad_content_length(self, value: str) -> None:
        data = invite(body=b"").replace(b"Content-Length: 0", f"Content-Length: {value}".encode())
        assert parse_error(data).status == 400

    def test_conflicting_content_lengths(self) -> None:
        data = invite(body=b"", length=0).replace(
            b"Content-Length: 0", b"Content-Length: 0\r\nl: 5"
        )
        assert parse_error(data).reason == "Conflicting Content-Length Headers"

    def test_equal_duplicate_content_lengths_are_fine(self) -> None:
        data = invite(body=b"").replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 00")
        assert parse_request(data).body == b""


class TestLimits:
    def test_size(self) -> None:
        data = invite(body=b"x" * 2000)
        error = parse_error(data, max_size=1000)
        assert isinstance(error, MessageTooLarge)
        assert error.status == 513
        assert error.message is None
        assert parse_request(data).body == b"x" * 2000

    def test_header_count(self) -> None:
        data = invite(*[f"X-H{i}: {i}" for i in range(300)], body=b"")
        error = parse_error(data)
        assert (error.status, error.reason) == (400, "Too Many Headers")
        assert parse_message(data, max_headers=400).is_request

    def test_header_count_limit_is_configurable(self) -> None:
        assert parse_error(invite(body=b""), max_headers=5).reason == "Too Many Headers"


class TestMalformed:
    @pytest.mark.parametrize(
        ("data", "status", "reason"),
        [
            (b"", 400, "Incomplete Message"),
            (b"\r\n\r\n", 400, "Incomplete Message"),
            (b"INVITE sip:bob@biloxi.com SIP/2.0", 400, "Incomplete Message"),
            (b"INVITE sip:bob@biloxi.com SIP/2.0\r\nVia", 400, "Incomplete Message"),
            (b"INVITE sip:bob@biloxi.com\r\n\r\n", 400, "Malformed Request-Line"),
            (b"INVITE  sip:bob@biloxi.com SIP/2.0\r\n\r\n", 400, "Malformed Request-Line"),
            (b"INVITE sip:bob@biloxi.com SIP/2.0 \r\n\r\n", 400, "Malformed Request-Line"),
            (b"INVITE sip:bob@biloxi.com HTTP/1.1\r\n\r\n", 400, "Malformed Request-Line"),
            (b"INVITE sip:bob@biloxi.com SIP/3.0\r\n\r\n", 505, "Version Not Supported"),
            (b"IN VITE sip:bob@biloxi.com SIP/2.0\r\n\r\n", 400, "Malformed Request-Line"),
            (b'IN"VITE sip:bob@biloxi.com SIP/2.0\r\n\r\n', 400, "Malformed Request-Line"),
            (b"INVITE <sip:bob@biloxi.com> SIP/2.0\r\n\r\n", 400, "Malformed URI"),
            (b"INVITE sip:bob@biloxi.com?Route=x SIP/2.0\r\n\r\n", 400, "Headers in Request-URI"),
            (b"SIP/2.0 2000 OK\r\n\r\n", 400, "Malformed Status-Line"),
            (b"SIP/2.0 099 Hm\r\n\r\n", 400, "Malformed Status-Line"),
            (b"SIP/2.0 700 Hm\r\n\r\n", 400, "Malformed Status-Line"),
            (b"SIP/2.0 2x0 OK\r\n\r\n", 400, "Malformed Status-Line"),
            (b"SIP/1.0 200 OK\r\n\r\n", 400, "Unsupported SIP Version"),
        ],
    )
    def test_start_line(self, data: bytes, status: int, reason: str) -> None:
        error = parse_error(data)
        assert (error.status, error.reason) == (status, reason)
        assert error.message is None

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ((b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", b""), "Missing Call-ID Header"),
            ((b"CSeq: 314159 INVITE\r\n", b""), "Missing CSeq Header"),
            (
                (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69"),
                "Multiple Max-Forwards Headers",
            ),
            ((b"CSeq: 314159 INVITE", b"CSeq: 314159 BYE"), "CSeq Method Mismatch"),
            ((b"CSeq: 314159 INVITE", b"CSeq: 314159"), "Malformed CSeq Header"),
            ((b"Max-Forwards: 70", b"Max-Forwards: 300"), "Invalid Max-Forwards"),
            (
                (b"Call-ID: a84b4c76e66710@pc33.atlanta.com", b"Call-ID:"),
                "Malformed Call-ID Header",
            ),
            (
                (b"Call-ID: a84b4c76e66710@pc33.atlanta.com", b"Call-ID: a b"),
                "Malformed Call-ID Header",
            ),
            ((b'From: "Alice"', b'From: "Alice'), "Unterminated Quoted String"),
            ((b";rport", b";;rport"), "Malformed Via Header"),
            ((b"Max-Forwards: 70", b"Max Forwards: 70"), "Malformed Header Name"),
            ((b"Max-Forwards: 70", b"Max-Forwards 70"), "Malformed Header Line"),
            ((b"Max-Forwards: 70", b"Max-Forwards: 70\rX: y"), "Bare CR or LF in Header"),
            ((b"Max-Forwards: 70", b"Max-Forwards: 70\nX: y"), "Bare CR or LF in Header"),
        ],
    )
    def test_headers(self, change: tuple[bytes, bytes], reason: str) -> None:
        data = invite(body=b"").replace(*change)
        assert data != invite(body=b"")
        error = parse_error(data)
        assert (error.status, error.reason) == (400, reason)

    def test_error_carries_the_framed_message(self) -> None:
        data = invite(body=b"").replace(b"CSeq: 314159 INVITE", b"CSeq: x INVITE")
        error = parse_error(data)
        assert isinstance(error.message, SipRequest)
        answer = error.message.create_response(error.status, error.reason)
        assert answer.encode().startswith(b"SIP/2.0 400 Invalid CSeq Header\r\nVia: ")
        assert answer.headers.get("CSeq") == "x INVITE"

    def test_folded_start_line(self) -> None:
        assert parse_error(b"INVITE sip:bob@biloxi.com\r\n SIP/2.0\r\n\r\n").status == 400

    def test_unknown_method_with_mismatching_cseq_is_not_implemented(self) -> None:
        data = invite(body=b"").replace(b"INVITE sip:", b"FROB sip:")
        assert parse_error(data).status == 501


class TestSerialise:
    def test_round_trip(self) -> None:
        request = parse_request(invite())
        again = parse_request(request.encode())
        assert again.encode() == request.encode()
        assert list(again.headers.items()) == list(request.headers.items())
        assert bytes(request) == request.encode()

    def test_content_length_is_always_right(self) -> None:
        request = parse_request(invite())
        request.body = b"v=0\r\n"
        encoded = request.encode()
        assert encoded.endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")
        assert encoded.count(b"Content-Length") == 1

    def test_build_request(self) -> None:
        headers = Headers(
            [
                ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport"),
                ("Max-Forwards", "70"),
                ("To", "<sip:bob@biloxi.com>"),
                ("From", "<sip:alice@atlanta.com>;tag=1"),
                ("Call-ID", "c1"),
                ("CSeq", "1 REGISTER"),
            ]
        )
        request = SipRequest("REGISTER", "sip:biloxi.com", headers)
        assert request.encode() == (
            b"REGISTER sip:biloxi.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport\r\n"
            b"Max-Forwards: 70\r\nTo: <sip:bob@biloxi.com>\r\n"
            b"From: <sip:alice@atlanta.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        assert repr(request) == "<SipRequest REGISTER sip:biloxi.com>"
        assert parse_request(request.encode()).cseq == CSeq(1, "REGISTER")

    def test_constructor_validation(self) -> None:
        with pytest.raises(ValueError):
            SipRequest("IN VITE", "sip:a@b.com")
        with pytest.raises(ValueError):
            SipResponse(99)
        with pytest.raises(ValueError):
            SipResponse(200, "OK\r\nVia: x")

    def test_response_default_reasons(self) -> None:
        assert SipResponse(486).reason == "Busy Here"
        assert SipResponse(299).reason == "OK"
        assert SipResponse(499).reason == "Client Error"
        assert REASON_PHRASES[513] == "Message Too Large"
        assert repr(SipResponse(200)) == "<SipResponse 200 OK>"

    def test_accessors_on_a_built_message_without_headers(self) -> None:
        message = SipResponse(200)
        for attribute in ("call_id", "cseq", "via", "from_", "to"):
            with pytest.raises(SipParseError, match="Missing"):
                getattr(message, attribute)
        assert message.vias == ()
        assert message.contacts == ()
        assert message.date is None
        assert message.content_type is None


class TestCreateResponse:
    def test_copies_per_rfc3261_8_2_6(self) -> None:
        request = parse_request(
            invite(
                "Via: SIP/2.0/UDP second.example.com;branch=z9hG4bK2",
                "Record-Route: <sip:p1.example.com;lr>",
                "Timestamp: 54",
            )
        )
        answer = request.create_response(200, to_tag="a6c85cf")
        assert (answer.status, answer.reason) == (200, "OK")
        assert answer.headers.getall("Via") == request.headers.getall("Via")
        assert answer.headers.get("From") == request.headers.get("From")
        assert answer.to == NameAddress.parse("Bob <sip:bob@biloxi.com>;tag=a6c85cf")
        assert answer.call_id == request.call_id
        assert answer.cseq == request.cseq
        assert answer.record_routes == request.record_routes
        assert "Timestamp" not in answer.headers
        assert "Contact" not in answer.headers
        assert answer.body == b""
        parsed = parse_response(answer.encode())
        assert parsed.to_tag == "a6c85cf"

    def test_trying_echoes_timestamp_and_adds_no_tag_unless_asked(self) -> None:
        request = parse_request(invite("Timestamp: 54"))
        trying = request.create_response(100)
        assert trying.reason == "Trying"
        assert trying.headers.get("Timestamp") == "54"
        assert trying.to_tag is None
        assert "Record-Route" not in trying.headers

    def test_existing_to_tag_is_kept(self) -> None:
        data = invite(body=b"").replace(
            b"To: Bob <sip:bob@biloxi.com>", b"To: <sip:bob@biloxi.com>;tag=x"
        )
        answer = parse_request(data).create_response(481, to_tag="y")
        assert answer.to_tag == "x"
        assert answer.reason == "Call/Transaction Does Not Exist"

    def test_error_responses_do_not_copy_record_route(self) -> None:
        request = parse_request(invite("Record-Route: <sip:p1.example.com;lr>"))
        assert "Record-Route" not in request.create_response(486, to_tag="t").headers

    def test_answering_a_request_whose_to_is_malformed(self) -> None:
        data = invite(body=b"").replace(
            b"To: Bob <sip:bob@biloxi.com>", b'To: "Bob <sip:bob@b.com>'
        )
        error = parse_error(data)
        assert error.message is not None and error.message.is_request
        assert isinstance(error.message, SipRequest)
        answer = error.message.create_response(400, error.reason, to_tag="t")
        assert answer.headers.get("To") == '"Bob <sip:bob@b.com>'

    def test_rewritten_top_via_is_what_the_response_copies(self) -> None:
        # What a transport does for RFC 3581: fill in received and rport.
        request = parse_request(invite())
        via = request.via.with_params(received="192.0.2.9", rport="5062")
        request.headers.replace_first("Via", str(via))
        assert request.via.received == "192.0.2.9"
        assert request.via.rport == 5062
        answer = request.create_response(100)
        assert answer.headers.get("Via") == (
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport=5062;received=192.0.2.9"
        )

    def test_custom_reason(self) -> None:
        request = parse_request(invite())
        assert request.create_response(488, "Incompatible Media").reason == "Incompatible Media"


class TestValidateRequest:
    def test_accepts_a_normal_request(self) -> None:
        validate_request(parse_request(invite("Require: 100rel")), supported=frozenset({"100rel"}))

    def test_unknown_scheme(self) -> None:
        data = invite(body=b"").replace(
            b"INVITE sip:bob@biloxi.com", b"INVITE mailto:bob@biloxi.com"
        )
        with pytest.raises(UnsupportedUriScheme) as caught:
            validate_request(parse_request(data))
        assert caught.value.status == 416

    def test_require(self) -> None:
        request = parse_request(invite("Require: foo, 100rel", "Proxy-Require: bar"))
        with pytest.raises(BadExtension) as caught:
            validate_request(request, supported=frozenset({"100rel"}))
        assert (caught.value.status, caught.value.unsupported) == (420, ("foo",))
        with pytest.raises(BadExtension) as caught:
            validate_request(request, supported=frozenset({"100rel"}), proxy=True)
        assert caught.value.unsupported == ("bar",)
        validate_request(request, supported=frozenset({"bar"}), proxy=True)

    def test_ack_and_cancel_are_never_refused_for_require(self) -> None:
        data = invite("Require: foo", body=b"").replace(b"INVITE", b"CANCEL")
        validate_request(parse_request(data))


def test_error_reasons_are_safe_on_a_status_line() -> None:
    error = SipParseError("Bad\r\nVia: injected\x00")
    assert "\r" not in error.reason and "\n" not in error.reason and "\x00" not in error.reason
    assert error.status == 400
    assert SipParseError("", 500).reason == "Bad Request"
    assert VersionNotSupported().status == 505
    assert str(MessageTooLarge()) == "513 Message Too Large"
