"""The shared lexical rules: tokens, quoted strings, lists, parameters, numbers, hosts."""

from __future__ import annotations

import pytest

from callboard.sip.errors import SipParseError
from callboard.sip.grammar import (
    format_host,
    format_params,
    is_token,
    parse_host_port,
    parse_params,
    parse_uint,
    quote,
    scan_quoted,
    split_commas,
    split_semicolons,
    unquote,
)


def test_tokens() -> None:
    assert is_token("!interesting-Method0123456789_*+`.%indeed'~")
    for text in ("", "a b", "a,b", 'a"', "a:b", "a;b", "é"):
        assert not is_token(text)


class TestQuotedStrings:
    def test_scan_finds_the_closing_quote(self) -> None:
        text = 'x="a\\"b\\\\" tail'
        assert scan_quoted(text, 2) == text.index(" tail")

    def test_unterminated(self) -> None:
        with pytest.raises(SipParseError, match="Unterminated"):
            scan_quoted('"abc\\"', 0)

    def test_unquote(self) -> None:
        assert unquote('"J Rosenberg \\\\\\""') == 'J Rosenberg \\"'
        assert unquote('"plain"') == "plain"
        assert unquote("token") == "token"

    @pytest.mark.parametrize(
        "text", ["", "plain", 'with "quotes"', "back\\slash", "BEL\x07NUL\x00"]
    )
    def test_quote_round_trip(self, text: str) -> None:
        quoted = quote(text)
        assert scan_quoted(quoted, 0) == len(quoted)
        assert unquote(quoted) == text

    def test_quote_refuses_line_breaks(self) -> None:
        with pytest.raises(ValueError):
            quote("a\r\nVia: injected")


class TestLists:
    def test_plain(self) -> None:
        assert split_commas("INVITE, ACK ,BYE") == ["INVITE", "ACK", "BYE"]
        assert split_commas("single") == ["single"]

    def test_commas_in_quotes_and_angle_brackets_do_not_split(self) -> None:
        value = '"Doe, John" <sip:j@a.com;x=1,2>;q=0.5, <sip:b@b.com>, "a \\", b" <sip:c@c.com>'
        assert split_commas(value) == [
            '"Doe, John" <sip:j@a.com;x=1,2>;q=0.5',
            "<sip:b@b.com>",
            '"a \\", b" <sip:c@c.com>',
        ]

    def test_empty_elements_are_kept(self) -> None:
        assert split_commas("a;;,;,,") == ["a;;", ";", "", ""]

    def test_unterminated(self) -> None:
        with pytest.raises(SipParseError):
            split_commas('"abc, <def>')
        with pytest.raises(SipParseError):
            split_commas("<sip:a@b.com, c")

    def test_semicolons(self) -> None:
        assert split_semicolons('a;b="x;y";c') == ["a", 'b="x;y"', "c"]


class TestParams:
    def test_lws_values_flags_and_case(self) -> None:
        assert parse_params(" ; Branch = z9hG4bK1 ;rport; Received=192.0.2.1") == {
            "branch": "z9hG4bK1",
            "rport": None,
            "received": "192.0.2.1",
        }

    def test_leading_semicolon_is_optional(self) -> None:
        assert parse_params("a=1;b") == {"a": "1", "b": None}
        assert parse_params("") == {}

    def test_quoted_values_keep_their_quotes(self) -> None:
        params = parse_params(';+sip.instance="<urn:uuid:1>";text="a; b, c \\" d"')
        assert params == {"+sip.instance": '"<urn:uuid:1>"', "text": '"a; b, c \\" d"'}
        assert unquote(params["text"] or "") == 'a; b, c " d'

    def test_ipv6_value(self) -> None:
        assert parse_params(";received=[2001:db8::9]") == {"received": "[2001:db8::9]"}

    def test_round_trip(self) -> None:
        text = ';tag=1;lr;x="a b"'
        assert format_params(parse_params(text)) == text

    @pytest.mark.parametrize(
        "text", [";;", ";=1", ";a=", ";a=b c", ';a="x', ';a=x"y"', ";a b=1", ";"]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_params(text)


class TestNumbers:
    def test_leading_zeros(self) -> None:
        assert parse_uint("0068", 255, "Max-Forwards") == 68
        assert parse_uint("0" * 5000 + "9", 255, "x") == 9

    @pytest.mark.parametrize("text", ["", "-1", "+1", "1.0", " 1", "²", "٣", "256", "1" * 5000])
    def test_invalid(self, text: str) -> None:
        with pytest.raises(SipParseError, match="Invalid Max-Forwards"):
            parse_uint(text, 255, "Max-Forwards")

    def test_bound(self) -> None:
        assert parse_uint("4294967295", 2**32 - 1, "CSeq") == 2**32 - 1
        with pytest.raises(SipParseError):
            parse_uint("4294967296", 2**32 - 1, "CSeq")


class TestHosts:
    @pytest.mark.parametrize(
        ("text", "host", "port"),
        [
            ("example.com", "example.com", None),
            ("192.0.2.1:5060", "192.0.2.1", 5060),
            ("[2001:db8::1]", "2001:db8::1", None),
            ("[2001:db8::1]:5061", "2001:db8::1", 5061),
            ("_sip._udp.example.com", "_sip._udp.example.com", None),
        ],
    )
    def test_parse(self, text: str, host: str, port: int | None) -> None:
        assert parse_host_port(text) == (host, port)

    @pytest.mark.parametrize(
        "text",
        ["", ":5060", "a b", "[::1", "[zz::1]", "[::1]5060", "host:", "host:65536", "ex!.com"],
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_host_port(text)

    def test_format(self) -> None:
        assert format_host("2001:db8::1") == "[2001:db8::1]"
        assert format_host("example.com") == "example.com"
