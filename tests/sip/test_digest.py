"""Digest authentication: the published vectors, server and client sides, nonces."""

from __future__ import annotations

import dataclasses

import pytest

from callboard.sip.digest import (
    ALGORITHMS,
    DigestChallenge,
    DigestCredentials,
    NonceManager,
    NonceStatus,
    build_authorization,
    compute_ha1,
    compute_response,
    parse_authorization,
    parse_challenge,
    verify_response,
)
from callboard.sip.errors import SipParseError

SECRET = b"0123456789abcdef0123456789abcdef"


class TestPublishedVectors:
    def test_rfc2617_section_3_5(self) -> None:
        ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
        assert ha1 == "939e7578ed9e3c518a452acee763bce9"
        header = (
            'Digest username="Mufasa", realm="testrealm@host.com", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
            'qop=auth, nc=00000001, cnonce="0a4f113b", '
            'response="6629fae49393a05397450978507c4ef1", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        )
        credentials = parse_authorization(header)
        assert credentials is not None
        assert credentials.nonce_count == 1
        assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"
        assert verify_response(credentials, ha1, "GET")
        assert not verify_response(credentials, ha1, "POST")

    @pytest.mark.parametrize(
        ("algorithm", "expected"),
        [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ],
    )
    def test_rfc7616_section_3_9_1(self, algorithm: str, expected: str) -> None:
        ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
        response = compute_response(
            ha1,
            method="GET",
            uri="/dir/index.html",
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            algorithm=algorithm,
            qop="auth",
            nc="00000001",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        assert response == expected
        challenge = DigestChallenge(
            realm="http-auth@example.org",
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
            algorithm=algorithm,
        )
        credentials = build_authorization(
            challenge,
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle of Life",
            cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        assert credentials.response == expected
        assert credentials.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"

    def test_rfc2069_form_without_qop(self) -> None:
        ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
        # RFC 2069 §2.4's example, whose published response has a known erratum; this is
        # H(HA1:nonce:HA2) computed independently of the code under test.
        response = compute_response(
            ha1, method="GET", uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"
        )
        assert response == "670fd8c2df070c60b045671b8b24ff02"


class TestServerSide:
    def test_challenge_header(self) -> None:
        challenge = DigestChallenge(
            realm="example.com", nonce="abc", opaque="xyz", algorithm="SHA-256", stale=True
        )
        assert str(challenge) == (
            'Digest realm="example.com", nonce="abc", opaque="xyz", algorithm=SHA-256, '
            'qop="auth", stale=TRUE'
        )
        assert parse_challenge(str(challenge)) == challenge

    def test_register_round_trip_with_stored_ha1(self) -> None:
        nonces = NonceManager(SECRET)
        ha1 = {
            algorithm: compute_ha1("1001", "pbx.example.com", "s3cr3t", algorithm)
            for algorithm in ("MD5", "SHA-256", "SHA-512-256")
        }
        for algorithm, stored in ha1.items():
            challenge = DigestChallenge(
                realm="pbx.example.com", nonce=nonces.issue(), algorithm=algorithm
            )
            client = build_authorization(
                parse_challenge(str(challenge)),
                method="REGISTER",
                uri="sip:pbx.example.com",
                username="1001",
                password="s3cr3t",
            )
            credentials = parse_authorization(str(client))
            assert credentials == client
            assert nonces.check(credentials.nonce) is NonceStatus.VALID
            assert verify_response(credentials, stored, "REGISTER")
            wrong = compute_ha1("1001", "pbx.example.com", "guess", algorithm)
            assert not verify_response(credentials, wrong, "REGISTER")

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_every_algorithm_with_ha1_only(self, algorithm: str) -> None:
        ha1 = compute_ha1("alice", "atlanta.com", "pw", algorithm)
        challenge = DigestChallenge(realm="atlanta.com", nonce="n0nce", algorithm=algorithm)
        credentials = build_authorization(
            challenge, method="INVITE", uri="sip:bob@biloxi.com", username="alice", ha1=ha1
        )
        assert verify_response(credentials, ha1, "INVITE")
        assert not verify_response(credentials, ha1, "BYE")

    def test_auth_int_covers_the_body(self) -> None:
        ha1 = compute_ha1("alice", "atlanta.com", "pw")
        challenge = DigestChallenge(realm="atlanta.com", nonce="n", qop=("auth-int",))
        credentials = build_authorization(
            challenge, method="INVITE", uri="sip:b@b.com", username="alice", ha1=ha1, body=b"v=0"
        )
        assert credentials.qop == "auth-int"
        assert verify_response(credentials, ha1, "INVITE", body=b"v=0")
        assert not verify_response(credentials, ha1, "INVITE", body=b"v=1")

    def test_uppercase_hex_response_is_accepted(self) -> None:
        ha1 = compute_ha1("alice", "atlanta.com", "pw")
        good = build_authorization(
            DigestChallenge(realm="atlanta.com", nonce="n"),
            method="REGISTER",
            uri="sip:atlanta.com",
            username="alice",
            ha1=ha1,
        )
        shouted = dataclasses.replace(good, response=good.response.upper())
        assert verify_response(shouted, ha1, "REGISTER")

    def test_unsupported_algorithm_or_qop_never_verifies(self) -> None:
        ha1 = compute_ha1("alice", "atlanta.com", "pw")
        base = {
            "username": "alice",
            "realm": "atlanta.com",
            "nonce": "n",
            "uri": "sip:atlanta.com",
            "response": "0" * 32,
        }
        assert not verify_response(DigestCredentials(**base, algorithm="SHA-1"), ha1, "REGISTER")
        assert not verify_response(
            DigestCredentials(**base, qop="auth-conf", nc="00000001", cnonce="c"), ha1, "REGISTER"
        )

    def test_compute_ha1_rejects_unknown_algorithms(self) -> None:
        with pytest.raises(ValueError):
            compute_ha1("a", "b", "c", "SHA-1")


class TestParsing:
    def test_other_schemes_are_not_digest(self) -> None:
        # RFC 4475 §3.3.7: well formed; the registrar challenges instead.
        assert parse_authorization("NoOneKnowsThisScheme opaque-data=here") is None
        assert parse_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") is None

    def test_lws_case_and_escapes(self) -> None:
        credentials = parse_authorization(
            'digest  USERNAME = "a\\"b" ,realm="r, with comma",nonce="n",uri="sip:x",'
            'response="00" , algorithm=md5'
        )
        assert credentials is not None
        assert credentials.username == 'a"b'
        assert credentials.realm == "r, with comma"
        assert credentials.algorithm == "md5"

    def test_quoting_round_trip(self) -> None:
        credentials = DigestCredentials(
            username='we"ird\\user', realm="r", nonce="n", uri="sip:x", response="00"
        )
        assert parse_authorization(str(credentials)) == credentials

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "Digest",
            'Digest username="a"',
            'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth',
            'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, '
            'nc=1, cnonce="c"',
            'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"',
            'Digest username="a, realm="r"',
            "Digest username=a b",
            'Digest username="a" realm="r"',
            "Digest =x",
        ],
    )
    def test_malformed_credentials(self, value: str) -> None:
        with pytest.raises(SipParseError) as caught:
            DigestCredentials.parse(value)
        assert caught.value.status == 400

    def test_not_digest_credentials(self) -> None:
        with pytest.raises(SipParseError):
            DigestCredentials.parse("Basic abc")

    def test_challenge_parsing(self) -> None:
        challenge = DigestChallenge.parse(
            'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth,auth-int", '
            'nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
        )
        assert challenge == DigestChallenge(
            realm="atlanta.com",
            nonce="f84f1cec41e6cbe5aea9c8e88d359",
            opaque="",
            qop=("auth", "auth-int"),
            domain="sip:ss1.carrier.com",
        )
        assert str(challenge).startswith('Digest realm="atlanta.com", domain="sip:ss1.carrier.com"')

    def test_challenge_without_qop_uses_rfc2069(self) -> None:
        challenge = parse_challenge('Digest realm="r", nonce="n"')
        assert challenge.qop == ()
        credentials = build_authorization(
            challenge, method="REGISTER", uri="sip:r", username="u", password="p"
        )
        assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
        assert "qop" not in str(credentials)
        assert verify_response(credentials, compute_ha1("u", "r", "p"), "REGISTER")

    @pytest.mark.parametrize(
        "value", ['Basic realm="r"', 'Digest nonce="n"', 'Digest realm="r"', "Digest realm"]
    )
    def test_malformed_challenge(self, value: str) -> None:
        with pytest.raises(SipParseError):
            parse_challenge(value)

    def test_client_needs_a_secret_and_a_known_qop(self) -> None:
        challenge = DigestChallenge(realm="r", nonce="n")
        with pytest.raises(ValueError):
            build_authorization(challenge, method="REGISTER", uri="sip:r", username="u")
        with pytest.raises(ValueError):
            build_authorization(
                DigestChallenge(realm="r", nonce="n", qop=("auth-conf",)),
                method="REGISTER",
                uri="sip:r",
                username="u",
                password="p",
            )

    def test_nonce_count_is_formatted(self) -> None:
        credentials = build_authorization(
            DigestChallenge(realm="r", nonce="n"),
            method="REGISTER",
            uri="sip:r",
            username="u",
            password="p",
            nc=26,
        )
        assert credentials.nc == "0000001a"
        assert credentials.nonce_count == 26


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TestNonceManager:
    def test_valid_then_stale(self) -> None:
        clock = FakeClock(1_700_000_000.0)
        nonces = NonceManager(SECRET, lifetime=300, clock=clock)
        nonce = nonces.issue()
        assert len(nonce) == 43
        assert nonces.check(nonce) is NonceStatus.VALID
        clock.now += 300
        assert nonces.check(nonce) is NonceStatus.VALID
        clock.now += 1
        assert nonces.check(nonce) is NonceStatus.STALE

    def test_nonces_are_unique(self) -> None:
        nonces = NonceManager(SECRET)
        assert len({nonces.issue() for _ in range(100)}) == 100

    def test_another_process_with_the_same_secret_accepts_it(self) -> None:
        clock = FakeClock(1_700_000_000.0)
        nonce = NonceManager(SECRET, clock=clock).issue("pbx.example.com")
        other = NonceManager(SECRET, clock=clock)
        assert other.check(nonce, "pbx.example.com") is NonceStatus.VALID
        assert other.check(nonce, "other.example.com") is NonceStatus.INVALID
        assert NonceManager(b"x" * 32, clock=clock).check(nonce) is NonceStatus.INVALID

    def test_tampering(self) -> None:
        nonces = NonceManager(SECRET)
        nonce = nonces.issue()
        for index in range(len(nonce)):
            replacement = "A" if nonce[index] != "A" else "B"
            tampered = nonce[:index] + replacement + nonce[index + 1 :]
            assert nonces.check(tampered) is NonceStatus.INVALID, index
        for bad in ("", nonce[:-1], nonce + "A", "!" * 43, "é" * 43, "=" * 43):
            assert nonces.check(bad) is NonceStatus.INVALID

    def test_future_timestamps_are_invalid(self) -> None:
        clock = FakeClock(1_700_000_000.0)
        nonce = NonceManager(SECRET, clock=clock).issue()
        clock.now -= 3600
        assert NonceManager(SECRET, clock=clock).check(nonce) is NonceStatus.INVALID

    def test_short_secret_is_refused(self) -> None:
        with pytest.raises(ValueError):
            NonceManager(b"short")
