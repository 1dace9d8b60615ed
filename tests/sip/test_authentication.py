"""Digest authentication on its own, mostly in the proxy flavour the call engine uses
for INVITE: ``407`` with ``Proxy-Authenticate``, credentials in ``Proxy-Authorization``.

The registrar flavour (401) is exercised through whole REGISTER exchanges in
``test_registrar.py``. Requests are parsed from bytes, and every response is serialised
and parsed again, as the peer would see it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import pytest

from callboard.security.ratelimit import FailureLimiter
from callboard.sip.authentication import (
    Authenticated,
    AuthenticationFailed,
    DigestAuthenticator,
    SipCredentials,
)
from callboard.sip.digest import (
    DigestChallenge,
    NonceManager,
    build_authorization,
    compute_ha1,
    parse_challenge,
)
from callboard.sip.message import SipRequest, SipResponse, parse_message
from tests.sip.fakes import FakeClock

DOMAIN = "my-company.lo"
OTHER_DOMAIN = "other-company.lo"
ACCOUNT = "1001"
PASSWORD = "s3cret-Passw0rd"
SECRET = b"0123456789abcdef0123456789abcdef"
CALLEE = f"sip:1002@{DOMAIN}"
SOURCE = "192.0.2.10"


def credentials_for(account: str, realm: str, password: str, owner: object) -> SipCredentials:
    return SipCredentials(
        ha1_md5=compute_ha1(account, realm, password, "MD5"),
        ha1_sha256=compute_ha1(account, realm, password, "SHA-256"),
        owner=owner,
    )


class Directory:
    """A CredentialSource over a dict, counting look-ups."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], SipCredentials] = {
            (DOMAIN, ACCOUNT): credentials_for(ACCOUNT, DOMAIN, PASSWORD, ("device", 7)),
            (OTHER_DOMAIN, ACCOUNT): credentials_for(ACCOUNT, OTHER_DOMAIN, "other", ("d", 9)),
        }
        self.lookups: list[tuple[str, str]] = []
        self.broken = False

    async def lookup(self, realm: str, username: str) -> SipCredentials | None:
        self.lookups.append((realm, username))
        if self.broken:
            raise ConnectionError("database is down")
        return self.accounts.get((realm, username))


@dataclass
class Harness:
    proxy: DigestAuthenticator  # 407 / Proxy-Authorization
    registrar: DigestAuthenticator  # 401 / Authorization
    failures: FailureLimiter  # shared by both
    directory: Directory
    clock: FakeClock  # wall clock: nonces
    monotonic: FakeClock  # failure and nonce counting
    nonces: NonceManager


@pytest.fixture
def harness() -> Harness:
    clock = FakeClock()
    monotonic = FakeClock(1000.0)
    directory = Directory()
    nonces = NonceManager(SECRET, lifetime=300, clock=clock)
    failures = FailureLimiter(5, 60)
    proxy = DigestAuthenticator(directory, nonces, proxy=True, failures=failures, clock=monotonic)
    registrar = DigestAuthenticator(directory, nonces, failures=failures, clock=monotonic)
    return Harness(proxy, registrar, failures, directory, clock, monotonic, nonces)


def invite(
    *,
    cseq: int = 1,
    uri: str = CALLEE,
    proxy_authorization: str | None = None,
    authorization: str | None = None,
    to_tag: str | None = None,
) -> SipRequest:
    """An INVITE from a UDP desk phone, without a body."""
    lines = [
        f"INVITE {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {SOURCE}:5060;branch=z9hG4bK{secrets.token_hex(6)};rport",
        "Max-Forwards: 70",
        f"From: <sip:{ACCOUNT}@{DOMAIN}>;tag=8f3a",
        f"To: <{CALLEE}>" + (f";tag={to_tag}" if to_tag else ""),
        "Call-ID: call-1@192.0.2.10",
        f"CSeq: {cseq} INVITE",
        f"Contact: <sip:{ACCOUNT}@{SOURCE}:5060>",
    ]
    if proxy_authorization is not None:
        lines.append(f"Proxy-Authorization: {proxy_authorization}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += ["User-Agent: Deskphone/2.0", "Content-Length: 0"]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def as_received(request: SipRequest, response: SipResponse) -> SipResponse:
    """``response`` as the phone parses it."""
    parsed = parse_message(response.encode())
    assert isinstance(parsed, SipResponse)
    assert parsed.call_id == request.call_id
    assert parsed.cseq == request.cseq
    assert parsed.to_tag is not None
    return parsed


async def refused(
    authenticator: DigestAuthenticator,
    request: SipRequest,
    *,
    realms: tuple[str, ...] = (DOMAIN,),
    source: str = SOURCE,
    to_tag: str | None = None,
) -> SipResponse:
    """The response ``authenticator`` refuses ``request`` with."""
    with pytest.raises(AuthenticationFailed) as failed:
        await authenticator.authenticate(request, realms, source, to_tag=to_tag)
    return as_received(request, failed.value.response)


def proxy_challenges(response: SipResponse) -> list[DigestChallenge]:
    return [parse_challenge(value) for value in response.headers.getall("proxy-authenticate")]


def www_challenges(response: SipResponse) -> list[DigestChallenge]:
    return [parse_challenge(value) for value in response.headers.getall("www-authenticate")]


def answer(
    response: SipResponse,
    *,
    user: str = ACCOUNT,
    password: str = PASSWORD,
    algorithm: str = "MD5",
    uri: str = CALLEE,
    nc: int = 1,
) -> str:
    """A Digest answer to the challenge of ``algorithm`` in ``response`` (either kind)."""
    [challenge] = [
        c for c in proxy_challenges(response) + www_challenges(response) if c.algorithm == algorithm
    ]
    return str(
        build_authorization(
            challenge, method="INVITE", uri=uri, username=user, password=password, nc=nc
        )
    )


async def failed_attempt(harness: Harness, n: int, *, source: str = SOURCE) -> SipResponse:
    first = await refused(harness.proxy, invite(cseq=2 * n + 1), source=source)
    guess = answer(first, password=f"guess{n}")
    return await refused(
        harness.proxy, invite(cseq=2 * n + 2, proxy_authorization=guess), source=source
    )


async def login(harness: Harness, *, source: str = SOURCE, cseq: int = 1) -> Authenticated:
    first = await refused(harness.proxy, invite(cseq=cseq), source=source)
    request = invite(cseq=cseq + 1, proxy_authorization=answer(first))
    return await harness.proxy.authenticate(request, [DOMAIN], source)


# -- the tests --------------------------------------------------------------------------


class TestProxyChallenge:
    async def test_challenge_md5_then_sha256(self, harness: Harness) -> None:
        request = invite()
        response = await refused(harness.proxy, request)
        assert (response.status, response.reason) == (407, "Proxy Authentication Required")
        assert response.headers.getall("www-authenticate") == []
        md5, sha256 = proxy_challenges(response)
        assert (md5.algorithm, sha256.algorithm) == ("MD5", "SHA-256")
        for challenge in (md5, sha256):
            assert challenge.realm == DOMAIN
            assert challenge.qop == ("auth",)
            assert not challenge.stale
        assert md5.nonce == sha256.nonce
        assert harness.directory.lookups == []  # nothing looked up before credentials

    @pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
    async def test_invite_with_proxy_authorization(self, harness: Harness, algorithm: str) -> None:
        first = await refused(harness.proxy, invite())
        authorization = answer(first, algorithm=algorithm)
        assert f"algorithm={algorithm}" in authorization
        request = invite(cseq=2, proxy_authorization=authorization)
        authenticated = await harness.proxy.authenticate(request, [DOMAIN], SOURCE)
        assert authenticated == Authenticated(
            ACCOUNT, DOMAIN, harness.directory.accounts[(DOMAIN, ACCOUNT)]
        )
        assert authenticated.credentials.owner == ("device", 7)
        assert harness.directory.lookups == [(DOMAIN, ACCOUNT)]

    async def test_the_first_realm_is_challenged_any_is_accepted(self, harness: Harness) -> None:
        realms = (DOMAIN, OTHER_DOMAIN)
        first = await refused(harness.proxy, invite(), realms=realms)
        assert {c.realm for c in proxy_challenges(first)} == {DOMAIN}
        challenge = DigestChallenge(realm=OTHER_DOMAIN, nonce=harness.nonces.issue(OTHER_DOMAIN))
        authorization = build_authorization(
            challenge, method="INVITE", uri=CALLEE, username=ACCOUNT, password="other"
        )
        request = invite(cseq=2, proxy_authorization=str(authorization))
        authenticated = await harness.proxy.authenticate(request, realms, SOURCE)
        assert (authenticated.username, authenticated.realm) == (ACCOUNT, OTHER_DOMAIN)

    async def test_credentials_for_another_realm_are_ignored(self, harness: Harness) -> None:
        challenge = DigestChallenge(realm="elsewhere.lo", nonce=harness.nonces.issue())
        authorization = build_authorization(
            challenge, method="INVITE", uri=CALLEE, username=ACCOUNT, password=PASSWORD
        )
        response = await refused(harness.proxy, invite(proxy_authorization=str(authorization)))
        assert response.status == 407
        assert harness.directory.lookups == []

    async def test_to_tag(self, harness: Harness) -> None:
        response = await refused(harness.proxy, invite(), to_tag="fixed-tag")
        assert response.to_tag == "fixed-tag"
        other = await refused(harness.proxy, invite())
        assert other.to_tag not in (None, "fixed-tag")
        # An in-dialog request keeps its own To tag.
        response = await refused(harness.proxy, invite(to_tag="dialog"), to_tag="ignored")
        assert response.to_tag == "dialog"

    async def test_challenge_directly(self, harness: Harness) -> None:
        request = invite()
        response = as_received(
            request, harness.proxy.challenge(request, DOMAIN, stale=True, to_tag="t1")
        )
        assert (response.status, response.to_tag) == (407, "t1")
        assert [c.stale for c in proxy_challenges(response)] == [True, True]
        response = as_received(request, harness.registrar.challenge(request, DOMAIN))
        assert response.status == 401
        assert response.headers.getall("proxy-authenticate") == []
        assert [c.algorithm for c in www_challenges(response)] == ["MD5", "SHA-256"]
        assert not any(c.stale for c in www_challenges(response))

    async def test_needs_a_realm(self, harness: Harness) -> None:
        with pytest.raises(ValueError):
            await harness.proxy.authenticate(invite(), [], SOURCE)


class TestProxyFailures:
    async def test_wrong_password(self, harness: Harness) -> None:
        response = await failed_attempt(harness, 0)
        assert response.status == 407
        assert not any(c.stale for c in proxy_challenges(response))

    async def test_wrong_password_with_sha256(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        authorization = answer(first, algorithm="SHA-256", password="nope")
        response = await refused(harness.proxy, invite(cseq=2, proxy_authorization=authorization))
        assert response.status == 407

    async def test_unknown_account_looks_like_a_wrong_password(self, harness: Harness) -> None:
        async def attempt(user: str, password: str) -> SipResponse:
            first = await refused(harness.proxy, invite())
            authorization = answer(first, user=user, password=password)
            return await refused(harness.proxy, invite(cseq=2, proxy_authorization=authorization))

        wrong = await attempt(ACCOUNT, "wrong")
        unknown = await attempt("9999", "whatever")
        for response in (wrong, unknown):
            assert (response.status, response.reason) == (407, "Proxy Authentication Required")
        assert wrong.headers.names() == unknown.headers.names()
        shape = [
            (c.realm, c.algorithm, c.qop, c.stale, c.opaque, len(c.nonce))
            for c in proxy_challenges(wrong)
        ]
        assert shape == [
            (c.realm, c.algorithm, c.qop, c.stale, c.opaque, len(c.nonce))
            for c in proxy_challenges(unknown)
        ]
        # Both were looked up, and both count as failures of the source.
        assert (DOMAIN, "9999") in harness.directory.lookups
        assert len(harness.failures._failures[SOURCE]) == 2

    async def test_stale_nonce(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        harness.clock.advance(301)  # past the nonce lifetime
        right = await refused(harness.proxy, invite(cseq=2, proxy_authorization=answer(first)))
        assert right.status == 407
        assert [c.stale for c in proxy_challenges(right)] == [True, True]
        # A wrong password with the stale nonce is a plain failure, not stale.
        wrong = await refused(
            harness.proxy, invite(cseq=3, proxy_authorization=answer(first, password="x"))
        )
        assert not any(c.stale for c in proxy_challenges(wrong))
        # The fresh nonce works.
        request = invite(cseq=4, proxy_authorization=answer(right))
        assert (await harness.proxy.authenticate(request, [DOMAIN], SOURCE)).username == ACCOUNT

    async def test_nonce_from_another_server_is_stale(self, harness: Harness) -> None:
        other = NonceManager(b"another secret, 32 bytes long...", clock=harness.clock)
        challenge = DigestChallenge(realm=DOMAIN, nonce=other.issue(DOMAIN))
        authorization = build_authorization(
            challenge, method="INVITE", uri=CALLEE, username=ACCOUNT, password=PASSWORD
        )
        response = await refused(harness.proxy, invite(proxy_authorization=str(authorization)))
        assert response.status == 407
        assert all(c.stale for c in proxy_challenges(response))

    async def test_replay(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        authorization = answer(first)
        request = invite(cseq=2, proxy_authorization=authorization)
        await harness.proxy.authenticate(request, [DOMAIN], SOURCE)
        # The same Proxy-Authorization (nonce and nonce-count) again.
        replay = await refused(harness.proxy, invite(cseq=2, proxy_authorization=authorization))
        assert replay.status == 407
        assert [c.stale for c in proxy_challenges(replay)] == [True, True]
        # A higher nonce-count with the same nonce is fine.
        again = invite(cseq=3, proxy_authorization=answer(first, nc=2))
        assert (await harness.proxy.authenticate(again, [DOMAIN], SOURCE)).username == ACCOUNT
        # A replay is no failure of the source.
        assert harness.proxy.blocked(SOURCE) is False
        assert SOURCE not in harness.failures._failures

    async def test_digest_uri_must_be_the_request_uri(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        response = await refused(
            harness.proxy,
            invite(cseq=2, proxy_authorization=answer(first, uri="sip:1003@my-company.lo")),
        )
        assert (response.status, response.reason) == (400, "Digest URI Does Not Match Request-URI")
        # The same URI written differently is the same URI.
        request = invite(cseq=3, proxy_authorization=answer(first, uri="sip:1002@MY-COMPANY.lo"))
        assert (await harness.proxy.authenticate(request, [DOMAIN], SOURCE)).username == ACCOUNT

    async def test_malformed_proxy_authorization(self, harness: Harness) -> None:
        malformed = 'Digest username="1001", realm="my-company.lo"'
        response = await refused(harness.proxy, invite(proxy_authorization=malformed))
        assert (response.status, response.reason) == (400, "Malformed Proxy-Authorization Header")
        assert harness.directory.lookups == []

    async def test_other_schemes_are_challenged(self, harness: Harness) -> None:
        response = await refused(
            harness.proxy, invite(proxy_authorization="Basic MTAwMTpzM2NyZXQ=")
        )
        assert response.status == 407

    async def test_unoffered_algorithm_is_challenged_and_no_failure(self, harness: Harness) -> None:
        challenge = DigestChallenge(
            realm=DOMAIN, nonce=harness.nonces.issue(DOMAIN), algorithm="SHA-512-256"
        )
        authorization = build_authorization(
            challenge, method="INVITE", uri=CALLEE, username=ACCOUNT, password=PASSWORD
        )
        response = await refused(harness.proxy, invite(proxy_authorization=str(authorization)))
        assert response.status == 407
        assert harness.directory.lookups == []
        assert SOURCE not in harness.failures._failures

    async def test_credential_source_failure(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        harness.directory.broken = True
        response = await refused(harness.proxy, invite(cseq=2, proxy_authorization=answer(first)))
        assert response.status == 500


class TestHeaderFields:
    async def test_proxy_ignores_authorization(self, harness: Harness) -> None:
        first = as_received(invite(), harness.registrar.challenge(invite(), DOMAIN))
        assert first.status == 401
        request = invite(cseq=2, authorization=answer(first))
        response = await refused(harness.proxy, request)
        assert response.status == 407
        assert proxy_challenges(response) and not www_challenges(response)
        assert harness.directory.lookups == []
        # ... even when malformed.
        malformed = invite(authorization='Digest username="1001"')
        assert (await refused(harness.proxy, malformed)).status == 407
        # The registrar flavour takes it.
        assert (await harness.registrar.authenticate(request, [DOMAIN], SOURCE)).username == ACCOUNT

    async def test_registrar_ignores_proxy_authorization(self, harness: Harness) -> None:
        first = await refused(harness.proxy, invite())
        request = invite(cseq=2, proxy_authorization=answer(first))
        response = await refused(harness.registrar, request)
        assert (response.status, response.reason) == (401, "Unauthorized")
        assert www_challenges(response) and not proxy_challenges(response)
        assert harness.directory.lookups == []
        malformed = invite(proxy_authorization='Digest username="1001"')
        assert (await refused(harness.registrar, malformed)).status == 401
        # The proxy flavour takes it.
        assert (await harness.proxy.authenticate(request, [DOMAIN], SOURCE)).username == ACCOUNT

    async def test_registrar_malformed_authorization(self, harness: Harness) -> None:
        response = await refused(harness.registrar, invite(authorization='Digest realm="x"'))
        assert (response.status, response.reason) == (400, "Malformed Authorization Header")

    async def test_both_header_fields(self, harness: Harness) -> None:
        # Credentials for us in Proxy-Authorization, for the callee in Authorization.
        first = await refused(harness.proxy, invite())
        callee = DigestChallenge(realm="callee.lo", nonce="abc")
        request = invite(
            cseq=2,
            proxy_authorization=answer(first),
            authorization=str(
                build_authorization(callee, method="INVITE", uri=CALLEE, username="x", password="y")
            ),
        )
        assert (await harness.proxy.authenticate(request, [DOMAIN], SOURCE)).username == ACCOUNT


class TestRateLimit:
    async def test_blocks_the_source_after_too_many_failures(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        attacker = "198.51.100.66"
        with caplog.at_level(logging.INFO, logger="callboard.sip.authentication"):
            for n in range(5):
                assert not harness.proxy.blocked(attacker)
                assert (await failed_attempt(harness, n, source=attacker)).status == 407
        assert harness.proxy.blocked(attacker)
        assert harness.registrar.blocked(attacker)  # the limiter is shared
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert attacker in warnings[0].getMessage()
        assert len([r for r in caplog.records if r.levelno == logging.INFO]) == 4
        account = harness.directory.accounts[(DOMAIN, ACCOUNT)]
        for secret in (PASSWORD, "guess4", account.ha1_md5, account.ha1_sha256):
            assert secret not in caplog.text
        assert "nonce" not in caplog.text and "response=" not in caplog.text

        # Now even the right password is refused, without a challenge and unread.
        lookups = len(harness.directory.lookups)
        first = await refused(harness.proxy, invite())  # from another source
        blocked = await refused(
            harness.proxy,
            invite(cseq=2, proxy_authorization=answer(first)),
            source=attacker,
            to_tag="t403",
        )
        assert (blocked.status, blocked.reason, blocked.to_tag) == (403, "Forbidden", "t403")
        assert blocked.headers.getall("proxy-authenticate") == []
        assert len(harness.directory.lookups) == lookups

        # Another source is not affected.
        assert (await login(harness, source="192.0.2.20")).username == ACCOUNT

        # The block lifts after the window.
        harness.monotonic.advance(61)
        assert not harness.proxy.blocked(attacker)
        assert (await login(harness, source=attacker, cseq=30)).username == ACCOUNT

    async def test_success_clears_the_failures(self, harness: Harness) -> None:
        for n in range(4):
            await failed_attempt(harness, n)
        assert len(harness.failures._failures[SOURCE]) == 4
        await login(harness, cseq=20)
        assert SOURCE not in harness.failures._failures
        await failed_attempt(harness, 30)
        assert not harness.proxy.blocked(SOURCE)

    async def test_challenges_and_stale_nonces_are_not_failures(self, harness: Harness) -> None:
        for n in range(10):
            first = await refused(harness.proxy, invite(cseq=2 * n + 1))
            harness.clock.advance(400)
            stale = await refused(
                harness.proxy, invite(cseq=2 * n + 2, proxy_authorization=answer(first))
            )
            assert all(c.stale for c in proxy_challenges(stale))
        assert not harness.proxy.blocked(SOURCE)
        assert SOURCE not in harness.failures._failures

    async def test_own_limiter_from_the_arguments(self, harness: Harness) -> None:
        authenticator = DigestAuthenticator(
            harness.directory,
            harness.nonces,
            proxy=True,
            max_failures=1,
            failure_window=60,
            clock=harness.monotonic,
        )
        first = await refused(authenticator, invite())
        wrong = invite(cseq=2, proxy_authorization=answer(first, password="x"))
        assert (await refused(authenticator, wrong)).status == 407
        assert authenticator.blocked(SOURCE)
        assert not harness.proxy.blocked(SOURCE)  # not the shared limiter
        assert (await refused(authenticator, invite(cseq=3))).status == 403
