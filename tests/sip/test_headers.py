"""The header field container and the typed header values (Via, CSeq, numbers, Date)."""

from __future__ import annotations

import datetime

import pytest

from callboard.sip.errors import SipParseError
from callboard.sip.headers import (
    COMPACT_FORMS,
    CSeq,
    Headers,
    Via,
    canonical_name,
    parse_content_length,
    parse_cseq,
    parse_date,
    parse_expires,
    parse_max_forwards,
    parse_via,
)


class TestNames:
    @pytest.mark.parametrize(
        ("compact", "full"),
        [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("t", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("u", "Allow-Events"),
            ("y", "Identity"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
        ],
    )
    def test_compact_forms(self, compact: str, full: str) -> None:
        assert canonical_name(compact) == full
        assert canonical_name(compact.upper()) == full

    def test_every_compact_form_has_a_canonical_name(self) -> None:
        for compact in COMPACT_FORMS:
            assert canonical_name(compact) != compact

    def test_canonical_spelling(self) -> None:
        assert canonical_name("call-id") == "Call-ID"
        assert canonical_name("CSEQ") == "CSeq"
        assert canonical_name("www-authenticate") == "WWW-Authenticate"
        assert canonical_name("max-FORWARDS") == "Max-Forwards"

    def test_unknown_names_are_kept(self) -> None:
        assert canonical_name("NewFangledHeader") == "NewFangledHeader"
        assert canonical_name("X-Foo") == "X-Foo"


class TestHeaders:
    def test_case_insensitive_and_compact(self) -> None:
        headers = Headers(
            [("v", "SIP/2.0/UDP a.example.com"), ("VIA", "SIP/2.0/TCP b.example.com")]
        )
        assert headers.getall("Via") == ["SIP/2.0/UDP a.example.com", "SIP/2.0/TCP b.example.com"]
        assert headers.get("via") == "SIP/2.0/UDP a.example.com"
        assert "V" in headers
        assert list(headers.items()) == [
            ("Via", "SIP/2.0/UDP a.example.com"),
            ("Via", "SIP/2.0/TCP b.example.com"),
        ]

    def test_list_headers_are_split_on_read(self) -> None:
        headers = Headers()
        headers.add("Contact", '"Doe, John" <sip:j@a.com>, <sip:x@b.com>;q=0.1')
        headers.add("Allow", "INVITE, ACK,BYE")
        assert headers.getall("m") == ['"Doe, John" <sip:j@a.com>', "<sip:x@b.com>;q=0.1"]
        assert headers.get("contact") == '"Doe, John" <sip:j@a.com>'
        assert headers.getall("Allow") == ["INVITE", "ACK", "BYE"]
        # Stored and written back as received.
        assert headers.lines("Allow") == ["INVITE, ACK,BYE"]

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("WWW-Authenticate", 'Digest realm="a.com", nonce="x", qop="auth,auth-int"'),
            ("Authorization", 'Digest username="bob", realm="a.com", uri="sip:a.com"'),
            ("Proxy-Authenticate", 'Digest realm="a", nonce="b", algorithm=MD5'),
            ("Date", "Sat, 13 Nov 2010 23:29:00 GMT"),
            ("Subject", "lunch, today?"),
            ("X-Unknown", "a, b, c"),
            ("UnknownHeaderWithUnusualValue", ";;,,;;,;"),
        ],
    )
    def test_other_headers_are_never_split(self, name: str, value: str) -> None:
        headers = Headers([(name, value)])
        assert headers.getall(name) == [value]

    def test_absent(self) -> None:
        headers = Headers()
        assert headers.get("To") is None
        assert headers.get("To", "x") == "x"
        assert headers.getall("To") == []
        assert "To" not in headers
        assert 3 not in headers
        assert len(headers) == 0

    def test_set_remove_prepend(self) -> None:
        headers = Headers([("Via", "SIP/2.0/UDP a"), ("To", "<sip:a@b>"), ("Via", "SIP/2.0/UDP b")])
        headers.prepend("Via", "SIP/2.0/UDP top")
        assert headers.getall("Via") == ["SIP/2.0/UDP top", "SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        headers.set("Via", "SIP/2.0/UDP only")
        assert headers.getall("Via") == ["SIP/2.0/UDP only"]
        assert headers.remove("via") == 1
        assert headers.remove("via") == 0
        assert headers.names() == ["To"]
        assert len(headers) == 1

    def test_replace_first_splits_the_first_line(self) -> None:
        headers = Headers([("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("Via", "SIP/2.0/UDP c")])
        headers.replace_first("Via", "SIP/2.0/UDP a;received=192.0.2.1")
        assert headers.getall("Via") == [
            "SIP/2.0/UDP a;received=192.0.2.1",
            "SIP/2.0/UDP b",
            "SIP/2.0/UDP c",
        ]
        with pytest.raises(KeyError):
            headers.replace_first("Subject", "x")

    def test_values_cannot_inject_header_lines(self) -> None:
        headers = Headers()
        with pytest.raises(ValueError):
            headers.add("Subject", "hi\r\nVia: SIP/2.0/UDP evil")
        with pytest.raises(ValueError):
            headers.set("Bad Name", "x")
        with pytest.raises(ValueError):
            headers.add("", "x")

    def test_copy_is_independent(self) -> None:
        headers = Headers([("To", "<sip:a@b>")])
        copy = headers.copy()
        copy.add("To", "<sip:c@d>")
        assert headers.getall("To") == ["<sip:a@b>"]
        assert copy == Headers([("To", "<sip:a@b>"), ("To", "<sip:c@d>")])
        assert headers != copy

    def test_parsed_is_cached_until_a_change(self) -> None:
        calls: list[list[str]] = []

        def parser(values: list[str]) -> int:
            calls.append(values)
            return len(values)

        headers = Headers([("Route", "<sip:a>, <sip:b>")])
        assert headers.parsed("Route", parser) == 2
        assert headers.parsed("route", parser) == 2
        assert len(calls) == 1
        headers.add("Route", "<sip:c>")
        assert headers.parsed("Route", parser) == 3
        assert len(calls) == 2

    def test_write(self) -> None:
        headers = Headers([("i", "abc"), ("l", "0"), ("X-Thing", "1")])
        out: list[str] = []
        headers.write(out, skip="content-length")
        assert "".join(out) == "Call-ID: abc\r\nX-Thing: 1\r\n"
        assert repr(headers).startswith("Headers([('Call-ID', 'abc')")


class TestVia:
    def test_simple(self) -> None:
        via = parse_via("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds")
        assert via == Via("UDP", "pc33.atlanta.com", 5066, {"branch": "z9hG4bK776asdhds"})
        assert via.branch == "z9hG4bK776asdhds"
        assert via.has_magic_cookie
        assert via.sent_by == "pc33.atlanta.com:5066"

    def test_lws_everywhere(self) -> None:
        via = parse_via("SIP  /   2.0 /UDP   192.0.2.2 : 5060 ;  branch  =   z9hG4bK9ikj8  ")
        assert (via.transport, via.host, via.port, via.branch) == (
            "UDP",
            "192.0.2.2",
            5060,
            "z9hG4bK9ikj8",
        )

    def test_rport_without_and_with_value(self) -> None:
        asked = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKx")
        assert asked.has_rport
        assert asked.rport is None
        assert asked.received is None
        filled = asked.with_params(received="192.0.2.5", rport="9988")
        assert filled.rport == 9988
        assert filled.received == "192.0.2.5"
        assert (
            str(filled) == "SIP/2.0/UDP 10.0.0.1:5060;rport=9988;branch=z9hG4bKx;received=192.0.2.5"
        )
        assert not parse_via("SIP/2.0/UDP 10.0.0.1").has_rport

    def test_ipv6(self) -> None:
        via = parse_via(
            "SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bKas3;received=[2001:db8::9:255]"
        )
        assert via.host == "2001:db8::9:1"
        assert via.port == 5061
        assert via.received == "[2001:db8::9:255]"
        assert str(via).startswith("SIP/2.0/TCP [2001:db8::9:1]:5061;")

    def test_transport_is_uppercased_and_extensible(self) -> None:
        assert parse_via("SIP/2.0/ws df7jal23ls0d.invalid;branch=z9hG4bKx").transport == "WS"
        assert parse_via("SIP/2.0/UNKNOWN t4.example.com").transport == "UNKNOWN"

    def test_branch_without_transaction_id(self) -> None:
        assert not parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK").has_magic_cookie
        assert not parse_via("SIP/2.0/UDP 192.0.2.1;branch=390skdjuw").has_magic_cookie
        assert not parse_via("SIP/2.0/UDP 192.0.2.1").has_magic_cookie

    def test_round_trip(self) -> None:
        text = "SIP/2.0/TLS client.example.com:5061;branch=z9hG4bKa;rport=1;maddr=224.2.0.1"
        via = Via.parse(text)
        assert str(via) == text
        assert via.maddr == "224.2.0.1"

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0 UDP host",
            "SIP/3.0/UDP host",
            "HTTP/2.0/UDP host",
            "SIP/2.0/UDP host;;",
            "SIP/2.0/UDP 192.0.2.15;;",
            ";",
            "SIP/2.0/UDP host:port",
            "SIP/2.0/U,DP host",
            "SIP/2.0/UDP host extra",
            "SIP/2.0/UDP host;branch=",
        ],
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError, match="Malformed Via"):
            parse_via(text)

    def test_bad_rport_value(self) -> None:
        with pytest.raises(SipParseError):
            _ = parse_via("SIP/2.0/UDP h;rport=99999").rport


class TestScalars:
    def test_cseq(self) -> None:
        assert parse_cseq("0009\t INVITE") == CSeq(9, "INVITE")
        assert str(CSeq.parse("4711 RE%47IST%45R")) == "4711 RE%47IST%45R"
        assert parse_cseq("4294967295 ACK").number == 2**32 - 1

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "1",
            "INVITE",
            "1 INVITE x",
            "-1 INVITE",
            "36893488147419103232 REGISTER",
            "1 IN,VITE",
        ],
    )
    def test_cseq_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_cseq(text)

    def test_numbers(self) -> None:
        assert parse_content_length(" 150 ") == 150
        assert parse_max_forwards("0068") == 68
        assert parse_max_forwards("0") == 0
        assert parse_expires("3600") == 3600
        for bad in ("256", "-1", "five"):
            with pytest.raises(SipParseError):
                parse_max_forwards(bad)
        for bad in ("-999", "five", "1e3", ""):
            with pytest.raises(SipParseError):
                parse_content_length(bad)
        with pytest.raises(SipParseError):
            parse_expires("1" + "0" * 100)

    def test_date(self) -> None:
        assert parse_date("Sat, 13 Nov 2010 23:29:00 GMT") == datetime.datetime(
            2010, 11, 13, 23, 29, 0, tzinfo=datetime.UTC
        )

    @pytest.mark.parametrize(
        "text",
        [
            "Fri, 01 Jan 2010 16:00:00 EST",
            "Fri, 01 Jan 2010 16:00:00 UT",
            "Fri, 01 Jan 2010 16:00:00 UTC",
            "Fri 01 Jan 2010 16:00:00 GMT",
            "Fri, 01 Foo 2010 16:00:00 GMT",
            "Fri, 31 Feb 2010 16:00:00 GMT",
            "Fri, 01 Jan 2010 16:00 GMT",
            "Fri, 01 Jan 2010 24:00:00 GMT",
            "",
        ],
    )
    def test_date_invalid(self, text: str) -> None:
        with pytest.raises(SipParseError, match="Invalid Date"):
            parse_date(text)
