"""SIP URIs, absolute URIs and name-addr values (RFC 3261 §19.1, §20.10)."""

from __future__ import annotations

import dataclasses

import pytest

from callboard.sip.errors import SipParseError
from callboard.sip.uri import AbsoluteUri, NameAddress, SipUri, parse_uri


def sip(text: str) -> SipUri:
    return SipUri.parse(text)


class TestSipUriParsing:
    def test_all_components(self) -> None:
        uri = sip("sips:alice:secret@Atlanta.Example.com:5061;transport=TCP;lr?subject=hi&x=1")
        assert uri.scheme == "sips"
        assert uri.user == "alice"
        assert uri.password == "secret"
        assert uri.host == "Atlanta.Example.com"
        assert uri.port == 5061
        assert uri.params == {"transport": "TCP", "lr": None}
        assert uri.transport == "tcp"
        assert uri.lr
        assert uri.headers == (("subject", "hi"), ("x", "1"))

    def test_minimal(self) -> None:
        uri = sip("sip:example.com")
        assert (uri.user, uri.password, uri.port, uri.params, uri.headers) == (
            None,
            None,
            None,
            {},
            (),
        )

    def test_scheme_is_case_insensitive(self) -> None:
        assert sip("SIP:bob@example.com").scheme == "sip"
        assert sip("SiPs:bob@example.com").scheme == "sips"

    def test_parameter_names_are_lowercased_values_kept(self) -> None:
        uri = sip("sip:bob@example.com;Transport=UDP;MAddr=192.0.2.1")
        assert uri.params == {"transport": "UDP", "maddr": "192.0.2.1"}
        assert uri.maddr == "192.0.2.1"

    def test_user_is_case_sensitive(self) -> None:
        assert sip("sip:Alice@example.com").user == "Alice"

    @pytest.mark.parametrize(
        ("text", "host", "port"),
        [
            ("sip:[2001:db8::1]", "2001:db8::1", None),
            ("sip:alice@[2001:db8::1]:5070;transport=tcp", "2001:db8::1", 5070),
            ("sip:[::ffff:192.0.2.1]:5060", "::ffff:192.0.2.1", 5060),
        ],
    )
    def test_ipv6_references(self, text: str, host: str, port: int | None) -> None:
        uri = sip(text)
        assert (uri.host, uri.port) == (host, port)
        assert str(uri) == text

    def test_ipv6_is_written_with_brackets(self) -> None:
        assert str(SipUri(host="2001:db8::1", port=5060)) == "sip:[2001:db8::1]:5060"

    def test_escapes_are_decoded(self) -> None:
        uri = sip("sip:%61lice%20b@example.com;n%61me=v%61lue%25%34%31")
        assert uri.user == "alice b"
        # Unescaping happens once: "%2541" is "%41", not "A" (RFC 4475 §3.1.1.3).
        assert uri.params == {"name": "value%41"}

    def test_semicolon_and_question_mark_in_user(self) -> None:
        uri = sip("sip:user;par=u%40example.net@example.com")
        assert uri.user == "user;par=u@example.net"
        assert uri.params == {}

    def test_telephone_subscriber_user(self) -> None:
        uri = sip("sip:+1-212-555-1212:1234@gateway.com;user=phone")
        assert uri.user == "+1-212-555-1212"
        assert uri.password == "1234"
        assert uri.params == {"user": "phone"}

    def test_escaped_header(self) -> None:
        uri = sip("sip:user@example.com?Route=%3Csip:sip.example.com%3E")
        assert uri.headers == (("Route", "<sip:sip.example.com>"),)

    def test_empty_password(self) -> None:
        assert sip("sip:alice:@example.com").password == ""

    def test_aor(self) -> None:
        assert sip("sip:%61lice@Example.COM:5060;transport=tcp?x=y").aor == (
            "sip:alice@example.com:5060"
        )

    @pytest.mark.parametrize(
        "text",
        [
            "sip:",
            "sip:@example.com",
            "sip:alice@",
            "sip:alice@exa mple.com",
            "sip:alice@example.com:port",
            "sip:alice@example.com:99999",
            "sip:alice@[2001:db8::1",
            "sip:alice@[not-ipv6]",
            "sip:alice@[::1]x",
            "sip:al<ice@example.com",
            "sip:alice@example.com;;lr",
            "sip:alice@example.com;=x",
            "sip:alice@example.com;a=",
            "sip:alice@example.com?",
            "sip:alice@example.com?=x",
            "sip:alice@example.com?a",
            "sip:%zzalice@example.com",
            "sip:alice%4@example.com",
            "sip:alice:pa ss@example.com",
            "<sip:alice@example.com>",
            ":nothing",
            "1sip:alice@example.com",
            "no-colon",
        ],
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError) as caught:
            parse_uri(text)
        assert caught.value.status == 400

    def test_sip_uri_parse_rejects_other_schemes(self) -> None:
        with pytest.raises(SipParseError):
            SipUri.parse("tel:+12125551212")


class TestSipUriFormatting:
    @pytest.mark.parametrize(
        "text",
        [
            "sip:alice@atlanta.com",
            "sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x",
            "sip:%61lice@atlanta.com",
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:user;par=u%40example.net@example.com",
        ],
    )
    def test_parsed_uri_is_written_as_received(self, text: str) -> None:
        assert str(sip(text)) == text

    def test_built_uri_is_escaped(self) -> None:
        uri = SipUri(
            host="example.com",
            user="sips:user@example.com",
            params={"name": "value%41", "lr": None},
            headers=(("Route", "<sip:x.example.com>"),),
        )
        assert str(uri) == (
            "sip:sips%3Auser%40example.com@example.com;name=value%2541;lr"
            "?Route=%3Csip:x.example.com%3E"
        )
        assert sip(str(uri)) == uri

    def test_nul_and_utf8_round_trip(self) -> None:
        uri = SipUri(host="example.com", user="null-\x00-été")
        assert str(uri) == "sip:null-%00-%C3%A9t%C3%A9@example.com"
        assert sip(str(uri)).user == "null-\x00-été"

    def test_replace_forgets_the_original_text(self) -> None:
        uri = sip("sip:%61lice@example.com")
        changed = dataclasses.replace(uri, port=5070)
        assert str(changed) == "sip:alice@example.com:5070"


class TestSipUriEquality:
    """The examples of RFC 3261 §19.1.4."""

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
            ("sip:alice@[2001:db8::1]", "sip:alice@[2001:DB8:0:0:0:0:0:1]"),
        ],
    )
    def test_equivalent(self, a: str, b: str) -> None:
        assert sip(a) == sip(b)
        assert sip(b) == sip(a)
        assert hash(sip(a)) == hash(sip(b))

    @pytest.mark.parametrize(
        ("a", "b"),
        [
            ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
            ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
            ("sip:alice@atlanta.com", "sip:atlanta.com"),
            ("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"),
            ("sip:alice@atlanta.com", "sip:alice@atlanta.com;maddr=192.0.2.1"),
            ("sip:alice@atlanta.com", "sip:alice@atlanta.com;user=phone"),
            ("sip:alice@atlanta.com;ttl=1", "sip:alice@atlanta.com;ttl=2"),
            ("sip:alice@atlanta.com;lr", "sip:alice@atlanta.com;lr=on"),
        ],
    )
    def test_not_equivalent(self, a: str, b: str) -> None:
        assert sip(a) != sip(b)
        assert sip(b) != sip(a)

    def test_not_equal_to_other_types(self) -> None:
        assert sip("sip:a@b.com") != "sip:a@b.com"
        assert sip("sip:a@b.com") != AbsoluteUri("sip", "a@b.com")


class TestAbsoluteUri:
    @pytest.mark.parametrize(
        ("text", "scheme", "opaque"),
        [
            ("tel:+1-201-555-0123", "tel", "+1-201-555-0123"),
            (
                "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
                "urn",
                "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            ),
            ("http://www.example.com/a?b=c", "http", "//www.example.com/a?b=c"),
            ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
            (
                "nobodyKnowsThisScheme:totallyopaquecontent",
                "nobodyKnowsThisScheme",
                "totallyopaquecontent",
            ),
        ],
    )
    def test_parse(self, text: str, scheme: str, opaque: str) -> None:
        uri = parse_uri(text)
        assert uri == AbsoluteUri(scheme, opaque)
        assert str(uri) == text

    def test_scheme_compares_case_insensitively(self) -> None:
        assert AbsoluteUri("TEL", "+1") == AbsoluteUri("tel", "+1")
        assert hash(AbsoluteUri("TEL", "+1")) == hash(AbsoluteUri("tel", "+1"))
        assert AbsoluteUri("tel", "+1") != AbsoluteUri("tel", "+2")

    @pytest.mark.parametrize("text", ["tel:", "tel:+1 2", 'http:"x"', "tel:<1>"])
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError):
            parse_uri(text)


class TestNameAddress:
    def test_quoted_display_name(self) -> None:
        address = NameAddress.parse('"Alice, \\"A\\"" <sip:alice@atlanta.com>;tag=1928301774')
        assert address.display_name == 'Alice, "A"'
        assert address.uri == sip("sip:alice@atlanta.com")
        assert address.tag == "1928301774"

    def test_token_display_name_and_no_space_before_angle(self) -> None:
        address = NameAddress.parse("Bob  Smith<sip:bob@biloxi.com>")
        assert address.display_name == "Bob Smith"
        assert address.tag is None

    def test_angle_brackets_without_display_name(self) -> None:
        address = NameAddress.parse("  <sip:bob@biloxi.com;transport=tcp> ; tag = a6c85cf ")
        assert address.display_name is None
        assert address.uri == sip("sip:bob@biloxi.com;transport=tcp")
        assert address.params == {"tag": "a6c85cf"}

    def test_addr_spec_parameters_belong_to_the_header(self) -> None:
        address = NameAddress.parse("sip:+19725552222@gw1.example.net;unknownparam;tag=x")
        assert isinstance(address.uri, SipUri)
        assert address.uri.params == {}
        assert address.params == {"unknownparam": None, "tag": "x"}

    def test_name_addr_parameters_belong_to_the_uri(self) -> None:
        address = NameAddress.parse("<sip:+19725552222@gw1.example.net;unknownparam>")
        assert isinstance(address.uri, SipUri)
        assert address.uri.params == {"unknownparam": None}
        assert address.params == {}

    def test_quoted_parameter_with_angle_brackets_and_semicolons(self) -> None:
        address = NameAddress.parse(
            'sip:alice@192.0.2.4;+sip.instance="<urn:uuid:1;x>";reg-id=1;expires=3600'
        )
        assert address.params == {
            "+sip.instance": '"<urn:uuid:1;x>"',
            "reg-id": "1",
            "expires": "3600",
        }

    def test_absolute_uris(self) -> None:
        assert NameAddress.parse("isbn:2983792873").uri == AbsoluteUri("isbn", "2983792873")
        address = NameAddress.parse("<http://www.example.com>;tag=3234233")
        assert address.uri == AbsoluteUri("http", "//www.example.com")
        assert address.tag == "3234233"

    def test_format(self) -> None:
        address = NameAddress(sip("sip:alice@atlanta.com"), 'Alice "A"', {"tag": "x", "lr": None})
        assert str(address) == '"Alice \\"A\\"" <sip:alice@atlanta.com>;tag=x;lr'
        assert NameAddress.parse(str(address)) == address

    def test_format_addr_spec_becomes_name_addr(self) -> None:
        address = NameAddress.parse("sip:bob@biloxi.com;tag=1")
        assert str(address) == "<sip:bob@biloxi.com>;tag=1"

    def test_with_tag(self) -> None:
        address = NameAddress.parse("Bob <sip:bob@biloxi.com>")
        tagged = address.with_tag("a6c85cf")
        assert tagged.tag == "a6c85cf"
        assert address.tag is None
        assert str(tagged) == '"Bob" <sip:bob@biloxi.com>;tag=a6c85cf'

    @pytest.mark.parametrize(
        "text",
        [
            "",
            '"Mr. J. User <sip:j.user@example.com>',
            '"Watson, Thomas" < sip:t.watson@example.org >',
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<sip:bob@biloxi.com",
            "<sip:bob@biloxi.com> junk",
            '"Bob" sip:bob@biloxi.com',
            "<sip:bob@biloxi.com>;;tag=1",
            "<sip:bob@biloxi.com>;tag=",
            "<sip:bob@biloxi.com>;tag=a b",
            '<sip:bob@biloxi.com>;x="unterminated',
            "sip:bob@biloxi.com, sip:carol@chicago.com",
        ],
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(SipParseError) as caught:
            NameAddress.parse(text)
        assert caught.value.status == 400
