"""The registrar, through whole REGISTER exchanges held in memory.

Requests are written as bytes the way the real clients send them (JsSIP 3.13 as the
Webitel web phone configures it, see shared/reference/webitel-sdk.md §9.1; a plain UDP
desk phone), parsed with ``parse_message``, and every response is serialised and parsed
again, as the peer would see it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from callboard.security.ratelimit import FailureLimiter
from callboard.sip.digest import (
    DigestChallenge,
    DigestCredentials,
    NonceManager,
    build_authorization,
    compute_ha1,
    parse_challenge,
)
from callboard.sip.location import Binding, LocationService, MemoryLocationStore, RemovalReason
from callboard.sip.message import SipRequest, SipResponse, parse_message
from callboard.sip.registrar import (
    Registrar,
    RegistrarConfig,
    SipCredentials,
)
from callboard.sip.transport import Address, TransportKind
from callboard.sip.uri import NameAddress, SipUri
from tests.sip.fakes import FakeClock, FakeFlow

DOMAIN = "my-company.lo"
ACCOUNT = "1001"
PASSWORD = "s3cret-Passw0rd"
SECRET = b"0123456789abcdef0123456789abcdef"
INSTANCE = "<urn:uuid:7f1c7f0a-3e3b-4c1e-9f7e-2b8d6a4c5e11>"
AOR = f"sip:{ACCOUNT}@{DOMAIN}"


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
            (DOMAIN, "1002"): credentials_for("1002", DOMAIN, "other", ("device", 8)),
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
    registrar: Registrar
    location: LocationService
    directory: Directory
    clock: FakeClock  # wall clock: location service and nonces
    monotonic: FakeClock  # failure counting
    nonces: NonceManager


@pytest.fixture
def harness() -> Harness:
    clock = FakeClock()
    monotonic = FakeClock(1000.0)
    directory = Directory()
    location = LocationService(clock=clock)
    nonces = NonceManager(SECRET, lifetime=300, clock=clock)
    registrar = Registrar(
        directory,
        location,
        nonces,
        config=RegistrarConfig(max_failures=5, failure_window=60),
        clock=monotonic,
    )
    return Harness(registrar, location, directory, clock, monotonic, nonces)


# -- the clients ------------------------------------------------------------------------


def jssip_authorization(credentials: DigestCredentials) -> str:
    """The Authorization value exactly as JsSIP's DigestAuthentication.toString writes it."""
    return (
        f'Digest algorithm={credentials.algorithm}, username="{credentials.username}", '
        f'realm="{credentials.realm}", nonce="{credentials.nonce}", uri="{credentials.uri}", '
        f'response="{credentials.response}", qop={credentials.qop}, '
        f'cnonce="{credentials.cnonce}", nc={credentials.nc}'
    )


@dataclass
class JsSip:
    """A JsSIP 3.13 UA as the Webitel SDK configures it: it has the HA1, not the password;
    a random Contact user and ``.invalid`` host; one Call-ID for its registrations."""

    user: str = ACCOUNT
    domain: str = DOMAIN
    ha1: str = field(default_factory=lambda: compute_ha1(ACCOUNT, DOMAIN, PASSWORD))
    instance: str = INSTANCE
    call_id: str = field(default_factory=lambda: secrets.token_hex(11))
    contact_user: str = field(default_factory=lambda: secrets.token_hex(4))
    via_host: str = field(default_factory=lambda: secrets.token_hex(6) + ".invalid")
    cseq: int = 0
    transport: str = "WSS"

    @property
    def contact_uri(self) -> str:
        return f"sip:{self.contact_user}@{self.via_host};transport=ws"

    def register(self, expires: int = 90, authorization: str | None = None) -> SipRequest:
        self.cseq += 1
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {self.via_host};branch=z9hG4bK{secrets.token_hex(5)}",
            "Max-Forwards: 69",
            f"To: <sip:{self.user}@{self.domain}>",
            f'From: "Agent One" <sip:{self.user}@{self.domain}>;tag={secrets.token_hex(5)}',
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
        ]
        if authorization is not None:
            lines.append(f"Authorization: {authorization}")
        lines += [
            f"Contact: <{self.contact_uri}>;+sip.ice;reg-id=1;"
            f'+sip.instance="{self.instance}";expires={expires}',
            f"Expires: {expires}",
            "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE",
            "Supported: path,gruu,outbound",
            "User-Agent: Webitel-Phone/3.13.8",
            "Content-Length: 0",
        ]
        message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert isinstance(message, SipRequest)
        return message

    def answer(self, response: SipResponse, expires: int = 90) -> SipRequest:
        """JsSIP's reaction to a 401: take the (last) challenge, answer it with the HA1."""
        assert response.status == 401
        challenge = parse_challenge(response.headers.getall("www-authenticate")[-1])
        assert challenge.realm == self.domain, "JsSIP refuses a realm other than its own"
        assert challenge.algorithm == "MD5", "JsSIP only does MD5"
        assert "auth" in challenge.qop
        credentials = build_authorization(
            challenge,
            method="REGISTER",
            uri=f"sip:{self.domain}",
            username=self.user,
            ha1=self.ha1,
        )
        return self.register(expires, jssip_authorization(credentials))


def desk_phone_register(
    *,
    user: str = ACCOUNT,
    to_user: str | None = None,
    cseq: int = 1,
    call_id: str = "deskphone-1@192.0.2.10",
    contacts: list[str] | None = None,
    expires: str | None = "3600",
    authorization: str | None = None,
    extra: list[str] | None = None,
    request_uri: str = f"sip:{DOMAIN}",
    to_host: str = DOMAIN,
) -> SipRequest:
    """A REGISTER from a plain UDP desk phone (no outbound, no instance)."""
    lines = [
        f"REGISTER {request_uri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + secrets.token_hex(6) + ";rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{to_host}>;tag=8f3a",
        f"To: <sip:{to_user or user}@{to_host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
    ]
    for contact in ["<sip:1001@192.0.2.10:5060>"] if contacts is None else contacts:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines += [*(extra or []), "User-Agent: Deskphone/2.0", "Content-Length: 0"]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def authorize(
    response: SipResponse,
    *,
    user: str = ACCOUNT,
    password: str = PASSWORD,
    algorithm: str = "MD5",
    uri: str = f"sip:{DOMAIN}",
) -> str:
    """A Digest answer to the challenge of ``algorithm`` in ``response``."""
    challenges = [parse_challenge(v) for v in response.headers.getall("www-authenticate")]
    [challenge] = [c for c in challenges if c.algorithm == algorithm]
    return str(
        build_authorization(challenge, method="REGISTER", uri=uri, username=user, password=password)
    )


async def send(harness: Harness, request: SipRequest, flow: FakeFlow) -> SipResponse:
    """Hand ``request`` to the registrar; return the response as the phone parses it."""
    response = await harness.registrar.handle_register(request, flow)
    parsed = parse_message(response.encode())
    assert isinstance(parsed, SipResponse)
    assert parsed.call_id == request.call_id
    assert parsed.cseq == request.cseq
    assert parsed.to_tag is not None
    return parsed


async def desk_phone_login(
    harness: Harness, flow: FakeFlow, *, cseq: int = 1, **kwargs: Any
) -> SipResponse:
    """REGISTER → 401 → REGISTER with credentials; returns the second response (or the
    first, when the request is refused before any challenge: a malformed Contact)."""
    first = await send(harness, desk_phone_register(cseq=cseq, **kwargs), flow)
    if first.status == 400:
        return first
    assert first.status == 401
    authorization = authorize(first)
    return await send(
        harness,
        desk_phone_register(cseq=cseq + 1, authorization=authorization, **kwargs),
        flow,
    )


def challenges(response: SipResponse) -> list[DigestChallenge]:
    return [parse_challenge(value) for value in response.headers.getall("www-authenticate")]


def ws_flow() -> FakeFlow:
    return FakeFlow(TransportKind.WSS, Address("203.0.113.50", 53211))


def udp_flow(host: str = "192.0.2.10") -> FakeFlow:
    return FakeFlow(TransportKind.UDP, Address(host, 5060))


# -- the tests --------------------------------------------------------------------------


class TestJsSip:
    async def test_challenge_then_register(self, harness: Harness) -> None:
        phone = JsSip()
        flow = ws_flow()
        first = await send(harness, phone.register(), flow)
        assert (first.status, first.reason) == (401, "Unauthorized")
        # Over WebSocket, MD5 only: JsSIP keeps the LAST challenge header of a response
        # and gives up on SHA-256 (tests/integration/test_jssip.py runs the real JsSIP).
        [md5] = challenges(first)
        assert md5.algorithm == "MD5"
        assert md5.realm == DOMAIN
        assert md5.qop == ("auth",)
        assert not md5.stale
        assert harness.directory.lookups == []  # nothing looked up before credentials

        second = await send(harness, phone.answer(first), flow)
        assert (second.status, second.reason) == (200, "OK")
        [contact] = second.contacts
        assert str(contact.uri) == phone.contact_uri
        assert contact.params["expires"] == "90"
        assert contact.params["reg-id"] == "1"
        assert contact.params["+sip.instance"] == f'"{INSTANCE}"'
        assert "+sip.ice" in contact.params
        assert second.require == ("outbound",)
        assert "outbound" in second.supported
        assert second.date is not None
        assert abs(second.date.timestamp() - harness.clock.now) < 1
        assert harness.directory.lookups == [(DOMAIN, ACCOUNT)]

        [binding] = await harness.location.lookup(AOR)
        assert binding.flow_token == flow.token
        assert binding.transport is TransportKind.WSS
        assert binding.source == flow.remote
        assert binding.requires_flow and binding.outbound
        assert binding.instance == INSTANCE
        assert binding.owner == ("device", 7)
        assert binding.user_agent == "Webitel-Phone/3.13.8"
        assert binding.expires_at == harness.clock.now + 90

    async def test_refresh_and_unregister(self, harness: Harness) -> None:
        phone = JsSip()
        flow = ws_flow()
        assert (
            await send(harness, phone.answer(await send(harness, phone.register(), flow)), flow)
        ).status == 200
        harness.clock.advance(45)
        refresh = await send(
            harness, phone.answer(await send(harness, phone.register(), flow)), flow
        )
        assert refresh.status == 200
        assert refresh.contacts[0].params["expires"] == "90"
        assert (await harness.location.lookup(AOR))[0].expires_at == harness.clock.now + 90
        # ua.unregister(): the same Contact with expires=0.
        bye = await send(
            harness, phone.answer(await send(harness, phone.register(0), flow), 0), flow
        )
        assert bye.status == 200
        assert bye.contacts == ()
        assert await harness.location.lookup(AOR) == []

    async def test_reconnect_replaces_the_flow(self, harness: Harness) -> None:
        phone = JsSip()
        old, new = ws_flow(), ws_flow()
        await send(harness, phone.answer(await send(harness, phone.register(), old)), old)
        # After a reconnect JsSIP registers again over the new socket with the same
        # instance (and here a new Contact host); the old binding goes.
        phone.via_host = "zzzz.invalid"
        response = await send(
            harness, phone.answer(await send(harness, phone.register(), new)), new
        )
        [contact] = response.contacts
        assert contact.uri == SipUri.parse(phone.contact_uri)
        [binding] = await harness.location.lookup(AOR)
        assert binding.flow_token == new.token
        assert await harness.location.flow_closed(old.token) == []

    async def test_closing_the_websocket_removes_the_binding(self, harness: Harness) -> None:
        phone = JsSip()
        flow = ws_flow()
        await send(harness, phone.answer(await send(harness, phone.register(), flow)), flow)
        [removed] = await harness.location.flow_closed(flow.token)
        assert removed.aor == AOR
        assert await harness.location.lookup(AOR) == []

    async def test_replayed_credentials_are_challenged_again(self, harness: Harness) -> None:
        phone = JsSip()
        flow = ws_flow()
        answer = phone.answer(await send(harness, phone.register(), flow))
        assert (await send(harness, answer, flow)).status == 200
        # The same Authorization (nonce and nonce-count) on a new request.
        replay = phone.register(authorization=answer.headers.get("authorization"))
        response = await send(harness, replay, flow)
        assert response.status == 401
        assert all(challenge.stale for challenge in challenges(response))


class TestAuthentication:
    async def test_wrong_password(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        second = await send(
            harness,
            desk_phone_register(cseq=2, authorization=authorize(first, password="wrong")),
            flow,
        )
        assert second.status == 401
        assert not any(challenge.stale for challenge in challenges(second))
        assert await harness.location.lookup(AOR) == []

    async def test_unknown_account_looks_like_a_wrong_password(self, harness: Harness) -> None:
        flow = udp_flow()

        async def attempt(user: str, password: str) -> SipResponse:
            first = await send(harness, desk_phone_register(user=user), flow)
            return await send(
                harness,
                desk_phone_register(
                    user=user, cseq=2, authorization=authorize(first, user=user, password=password)
                ),
                flow,
            )

        wrong = await attempt(ACCOUNT, "wrong")
        unknown = await attempt("9999", "whatever")
        for response in (wrong, unknown):
            assert (response.status, response.reason) == (401, "Unauthorized")
        assert wrong.headers.names() == unknown.headers.names()
        shape = [
            (c.realm, c.algorithm, c.qop, c.stale, c.opaque, len(c.nonce))
            for c in challenges(wrong)
        ]
        assert shape == [
            (c.realm, c.algorithm, c.qop, c.stale, c.opaque, len(c.nonce))
            for c in challenges(unknown)
        ]
        # Both were looked up, and both count as failures of the source.
        assert (DOMAIN, "9999") in harness.directory.lookups
        assert harness.registrar._failures.retry_after(flow.remote.host, 1000.0) == 0
        assert len(harness.registrar._failures._failures[flow.remote.host]) == 2

    async def test_sha256(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        authorization = authorize(first, algorithm="SHA-256")
        assert "algorithm=SHA-256" in authorization
        second = await send(harness, desk_phone_register(cseq=2, authorization=authorization), flow)
        assert second.status == 200
        assert [str(c.uri) for c in second.contacts] == ["sip:1001@192.0.2.10:5060"]
        assert second.require == ()  # no reg-id, no outbound

    async def test_wrong_password_with_sha256(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        authorization = authorize(first, algorithm="SHA-256", password="nope")
        second = await send(harness, desk_phone_register(cseq=2, authorization=authorization), flow)
        assert second.status == 401

    async def test_stale_nonce(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        harness.clock.advance(301)  # past the nonce lifetime
        right = await send(
            harness, desk_phone_register(cseq=2, authorization=authorize(first)), flow
        )
        assert right.status == 401
        assert all(challenge.stale for challenge in challenges(right))
        # A wrong password with the stale nonce is a plain failure, not stale.
        wrong = await send(
            harness,
            desk_phone_register(cseq=3, authorization=authorize(first, password="x")),
            flow,
        )
        assert wrong.status == 401
        assert not any(challenge.stale for challenge in challenges(wrong))
        # The fresh nonce works.
        ok = await send(harness, desk_phone_register(cseq=4, authorization=authorize(right)), flow)
        assert ok.status == 200

    async def test_nonce_from_another_server_with_the_right_password(
        self, harness: Harness
    ) -> None:
        flow = udp_flow()
        other = NonceManager(b"another secret, 32 bytes long...", clock=harness.clock)
        challenge = DigestChallenge(realm=DOMAIN, nonce=other.issue(DOMAIN))
        authorization = build_authorization(
            challenge, method="REGISTER", uri=f"sip:{DOMAIN}", username=ACCOUNT, password=PASSWORD
        )
        response = await send(harness, desk_phone_register(authorization=str(authorization)), flow)
        assert response.status == 401
        assert all(c.stale for c in challenges(response))

    async def test_credentials_for_another_realm_are_ignored(self, harness: Harness) -> None:
        flow = udp_flow()
        challenge = DigestChallenge(realm="elsewhere.lo", nonce=harness.nonces.issue())
        authorization = build_authorization(
            challenge, method="REGISTER", uri=f"sip:{DOMAIN}", username=ACCOUNT, password=PASSWORD
        )
        response = await send(harness, desk_phone_register(authorization=str(authorization)), flow)
        assert response.status == 401
        assert harness.directory.lookups == []

    async def test_digest_uri_must_be_the_request_uri(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        authorization = authorize(first, uri="sip:other.example")
        response = await send(
            harness, desk_phone_register(cseq=2, authorization=authorization), flow
        )
        assert response.status == 400
        # The same URI written differently is the same URI.
        equivalent = authorize(first, uri="sip:MY-COMPANY.lo")
        response = await send(harness, desk_phone_register(cseq=3, authorization=equivalent), flow)
        assert response.status == 200

    async def test_malformed_authorization(self, harness: Harness) -> None:
        response = await send(
            harness,
            desk_phone_register(authorization='Digest username="1001", realm="my-company.lo"'),
            udp_flow(),
        )
        assert response.status == 400
        assert "Authorization" in response.reason

    async def test_other_schemes_are_challenged(self, harness: Harness) -> None:
        response = await send(
            harness, desk_phone_register(authorization="Basic MTAwMTpzM2NyZXQ="), udp_flow()
        )
        assert response.status == 401

    async def test_credential_source_failure(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(), flow)
        harness.directory.broken = True
        response = await send(
            harness, desk_phone_register(cseq=2, authorization=authorize(first)), flow
        )
        assert response.status == 500


class TestRateLimit:
    async def test_blocks_the_source_after_too_many_failures(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        attacker = udp_flow("198.51.100.66")
        with caplog.at_level(logging.INFO, logger="callboard.sip.registrar"):
            for n in range(5):
                first = await send(harness, desk_phone_register(cseq=2 * n + 1), attacker)
                assert first.status == 401
                guess = authorize(first, password=f"guess{n}")
                failed = await send(
                    harness, desk_phone_register(cseq=2 * n + 2, authorization=guess), attacker
                )
                assert failed.status == 401
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "198.51.100.66" in warnings[0].getMessage()
        for secret in (PASSWORD, "guess4", harness.directory.accounts[(DOMAIN, ACCOUNT)].ha1_md5):
            assert secret not in caplog.text
        assert "nonce" not in caplog.text and "response=" not in caplog.text

        # Now even the right password is refused, without a challenge.
        blocked = await send(harness, desk_phone_register(cseq=20), attacker)
        assert (blocked.status, blocked.headers.getall("www-authenticate")) == (403, [])

        # Another source is not affected.
        phone = udp_flow("192.0.2.10")
        assert (await desk_phone_login(harness, phone)).status == 200

        # The block lifts after the window.
        harness.monotonic.advance(61)
        assert (await desk_phone_login(harness, attacker, cseq=30)).status == 200

    async def test_challenges_and_stale_nonces_are_not_failures(self, harness: Harness) -> None:
        flow = udp_flow()
        for n in range(10):
            first = await send(harness, desk_phone_register(cseq=2 * n + 1), flow)
            assert first.status == 401
            harness.clock.advance(400)
            stale = await send(
                harness, desk_phone_register(cseq=2 * n + 2, authorization=authorize(first)), flow
            )
            assert stale.status == 401
        assert harness.registrar._failures.retry_after(flow.remote.host, 1000.0) == 0

    async def test_shared_limiter(self, harness: Harness) -> None:
        limiter = FailureLimiter(1, 60)
        registrar = Registrar(harness.directory, harness.location, harness.nonces, failures=limiter)
        limiter.failed("192.0.2.10")
        response = await registrar.handle_register(desk_phone_register(), udp_flow())
        assert response.status == 403


class TestBindings:
    async def test_default_expires(self, harness: Harness) -> None:
        response = await desk_phone_login(harness, udp_flow(), expires=None)
        assert response.status == 200
        assert response.contacts[0].params["expires"] == "3600"

    async def test_too_long_is_lowered(self, harness: Harness) -> None:
        response = await desk_phone_login(harness, udp_flow(), expires="86400")
        assert response.contacts[0].params["expires"] == "3600"

    @pytest.mark.parametrize(
        ("contact", "expires"),
        [("<sip:1001@192.0.2.10>", "30"), ("<sip:1001@192.0.2.10>;expires=59", "600")],
    )
    async def test_too_brief(self, harness: Harness, contact: str, expires: str) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(contacts=[contact], expires=expires), flow)
        response = await send(
            harness,
            desk_phone_register(
                cseq=2, contacts=[contact], expires=expires, authorization=authorize(first)
            ),
            flow,
        )
        assert (response.status, response.reason) == (423, "Interval Too Brief")
        assert response.headers.get("min-expires") == "60"
        assert await harness.location.lookup(AOR) == []

    async def test_contact_expires_param_wins(self, harness: Harness) -> None:
        response = await desk_phone_login(
            harness, udp_flow(), contacts=["<sip:1001@192.0.2.10>;expires=120"], expires="3600"
        )
        assert response.contacts[0].params["expires"] == "120"

    async def test_several_contacts_and_expires_zero(self, harness: Harness) -> None:
        flow = udp_flow()
        both = ["<sip:1001@192.0.2.10>;q=0.5", "<sip:1001@192.0.2.11>;q=0.9"]
        response = await desk_phone_login(harness, flow, contacts=both)
        assert [str(c.uri) for c in response.contacts] == [
            "sip:1001@192.0.2.11",
            "sip:1001@192.0.2.10",
        ]
        assert response.contacts[0].params["q"] == "0.9"
        response = await desk_phone_login(
            harness, flow, cseq=3, contacts=["<sip:1001@192.0.2.11>"], expires="0"
        )
        assert [str(c.uri) for c in response.contacts] == ["sip:1001@192.0.2.10"]

    async def test_wildcard_removes_everything(self, harness: Harness) -> None:
        flow = udp_flow()
        await desk_phone_login(harness, flow, contacts=["<sip:1001@192.0.2.10>"], call_id="a")
        await desk_phone_login(harness, flow, contacts=["<sip:1001@192.0.2.11>"], call_id="b")
        assert len(await harness.location.lookup(AOR)) == 2
        response = await desk_phone_login(harness, flow, cseq=3, contacts=["*"], expires="0")
        assert response.status == 200
        assert response.contacts == ()
        assert await harness.location.lookup(AOR) == []

    @pytest.mark.parametrize("expires", [None, "60"])
    async def test_wildcard_needs_expires_zero(self, harness: Harness, expires: str | None) -> None:
        response = await desk_phone_login(harness, udp_flow(), contacts=["*"], expires=expires)
        assert response.status == 400
        assert "Wildcard" in response.reason

    async def test_query(self, harness: Harness) -> None:
        flow = udp_flow()
        await desk_phone_login(harness, flow)
        response = await desk_phone_login(harness, flow, cseq=3, contacts=[])
        assert [str(c.uri) for c in response.contacts] == ["sip:1001@192.0.2.10:5060"]

    async def test_out_of_order_cseq(self, harness: Harness) -> None:
        flow = udp_flow()
        assert (await desk_phone_login(harness, flow, cseq=10)).status == 200
        first = await send(harness, desk_phone_register(cseq=5), flow)
        late = await send(
            harness, desk_phone_register(cseq=5, authorization=authorize(first)), flow
        )
        assert (late.status, late.reason) == (400, "Invalid CSeq Number")

    async def test_the_binding_keeps_the_owner_and_source(self, harness: Harness) -> None:
        flow = udp_flow()
        await desk_phone_login(harness, flow)
        [binding] = await harness.location.lookup(AOR)
        assert binding.owner == ("device", 7)
        assert binding.source == Address("192.0.2.10", 5060)
        assert binding.transport is TransportKind.UDP
        assert binding.flow_token == flow.token
        assert not binding.requires_flow
        assert binding.user_agent == "Deskphone/2.0"

    async def test_events_reach_listeners(self, harness: Harness) -> None:
        seen: list[tuple[str, RemovalReason | None]] = []
        harness.location.add_listener(lambda e: seen.append((e.change.value, e.reason)))
        flow = udp_flow()
        await desk_phone_login(harness, flow)
        await desk_phone_login(harness, flow, cseq=3)
        await desk_phone_login(harness, flow, cseq=5, expires="0")
        assert seen == [
            ("added", None),
            ("refreshed", None),
            ("removed", RemovalReason.UNREGISTERED),
        ]


class TestAuthorization:
    async def test_to_user_must_be_the_account(self, harness: Harness) -> None:
        flow = udp_flow()
        first = await send(harness, desk_phone_register(to_user="1002"), flow)
        response = await send(
            harness,
            desk_phone_register(to_user="1002", cseq=2, authorization=authorize(first)),
            flow,
        )
        assert (response.status, response.reason) == (403, "Forbidden")
        assert await harness.location.lookup("sip:1002@my-company.lo") == []
        assert await harness.location.lookup(AOR) == []

    async def test_alias(self, harness: Harness) -> None:
        account = harness.directory.accounts[(DOMAIN, ACCOUNT)]
        harness.directory.accounts[(DOMAIN, ACCOUNT)] = SipCredentials(
            account.ha1_md5, account.ha1_sha256, account.owner, frozenset({"201"})
        )
        # A web phone whose AOR is the user's extension, authenticating as the device.
        phone = JsSip(user="201")
        flow = ws_flow()
        first = await send(harness, phone.register(), flow)
        challenge = challenges(first)[0]
        credentials = build_authorization(
            challenge,
            method="REGISTER",
            uri=f"sip:{DOMAIN}",
            username=ACCOUNT,
            ha1=compute_ha1(ACCOUNT, DOMAIN, PASSWORD),
        )
        response = await send(harness, phone.register(authorization=str(credentials)), flow)
        assert response.status == 200
        assert len(await harness.location.lookup(AOR)) == 1  # under the account's AOR

    async def test_realm_resolution(self, harness: Harness) -> None:
        async def resolve(host: str) -> str | None:
            return {"192.0.2.1": DOMAIN, DOMAIN: DOMAIN}.get(host)

        registrar = Registrar(
            harness.directory, harness.location, harness.nonces, resolve_realm=resolve
        )
        flow = udp_flow()
        # A phone configured with the server's IP address as its domain.
        first = await registrar.handle_register(
            desk_phone_register(request_uri="sip:192.0.2.1", to_host="192.0.2.1"), flow
        )
        assert challenges(first)[0].realm == DOMAIN
        response = await registrar.handle_register(
            desk_phone_register(
                request_uri="sip:192.0.2.1",
                to_host="192.0.2.1",
                cseq=2,
                authorization=authorize(first, uri="sip:192.0.2.1"),
            ),
            flow,
        )
        assert response.status == 200
        assert len(await harness.location.lookup(AOR)) == 1
        unknown = await registrar.handle_register(
            desk_phone_register(request_uri="sip:other.lo", to_host="other.lo"), flow
        )
        assert unknown.status == 404


class TestBadRequests:
    @pytest.mark.parametrize(
        ("kwargs", "status", "reason_part"),
        [
            ({"contacts": ["<sip:1001@192.0.2.10"]}, 400, "Contact"),
            ({"contacts": ["<sip:1001@192.0.2.10>;q=7"]}, 400, "q"),
            ({"contacts": ["<sip:1001@192.0.2.10>;expires=soon"]}, 400, "expires"),
            ({"contacts": ["<tel:+15551234567>"]}, 400, "Contact"),
            ({"contacts": ["*", "<sip:1001@192.0.2.10>"]}, 400, "Contact"),
            ({"expires": "soon"}, 400, "Expires"),
            ({"expires": "99999999999"}, 400, "Expires"),
            ({"extra": ["Path: <sip:edge"]}, 400, "Path"),
        ],
    )
    async def test_400(
        self, harness: Harness, kwargs: dict[str, Any], status: int, reason_part: str
    ) -> None:
        response = await desk_phone_login(harness, udp_flow(), **kwargs)
        assert response.status == status
        assert reason_part in response.reason

    async def test_unsupported_require(self, harness: Harness) -> None:
        response = await send(
            harness,
            desk_phone_register(extra=["Require: path, foo, bar"]),
            udp_flow(),
        )
        assert (response.status, response.reason) == (420, "Bad Extension")
        assert response.headers.getall("unsupported") == ["foo", "bar"]

    async def test_too_many_contacts(self, harness: Harness) -> None:
        contacts = [f"<sip:1001@192.0.2.{n}>" for n in range(11)]
        response = await desk_phone_login(harness, udp_flow(), contacts=contacts)
        assert (response.status, response.reason) == (403, "Too Many Contacts")

    async def test_store_failure(self, harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
        class BrokenStore(MemoryLocationStore):
            async def put(self, aor: str, bindings: Sequence[Binding]) -> None:
                raise ConnectionError("redis is down")

        harness.location.store = BrokenStore()
        with caplog.at_level(logging.ERROR, logger="callboard.sip.registrar"):
            response = await desk_phone_login(harness, udp_flow())
        assert response.status == 500
        assert "REGISTER from 192.0.2.10:5060 failed" in caplog.text

    async def test_to_without_user(self, harness: Harness) -> None:
        request = desk_phone_register()
        request.headers.set("To", f"<sip:{DOMAIN}>")
        response = await harness.registrar.handle_register(request, udp_flow())
        assert response.status == 400

    async def test_not_a_register(self, harness: Harness) -> None:
        request = SipRequest("OPTIONS", f"sip:{DOMAIN}")
        with pytest.raises(ValueError, match="not a REGISTER"):
            await harness.registrar.handle_register(request, udp_flow())


class TestOutbound:
    async def test_behind_an_edge_proxy_without_ob(self, harness: Harness) -> None:
        phone = JsSip()
        flow = udp_flow("198.51.100.7")
        request = phone.answer(await send(harness, phone.register(), flow))
        request.headers.prepend("Via", "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKedge1")
        response = await send(harness, request, flow)
        assert (response.status, response.reason) == (439, "First Hop Lacks Outbound Support")

    async def test_behind_an_edge_proxy_with_ob(self, harness: Harness) -> None:
        phone = JsSip()
        flow = udp_flow("198.51.100.7")
        request = phone.answer(await send(harness, phone.register(), flow))
        request.headers.prepend("Via", "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKedge2")
        request.headers.add("Path", "<sip:abc@198.51.100.7;lr;ob>")
        response = await send(harness, request, flow)
        assert response.status == 200
        assert response.headers.getall("path") == ["<sip:abc@198.51.100.7;lr;ob>"]
        [binding] = await harness.location.lookup(AOR)
        assert binding.path == ("<sip:abc@198.51.100.7;lr;ob>",)

    async def test_reg_id_ignored_without_supported_outbound(self, harness: Harness) -> None:
        flow = udp_flow()
        contact = '<sip:1001@192.0.2.10>;reg-id=1;+sip.instance="<urn:uuid:1>"'
        response = await desk_phone_login(harness, flow, contacts=[contact])
        assert response.status == 200
        assert response.require == ()
        [binding] = await harness.location.lookup(AOR)
        assert binding.reg_id is None and binding.instance == "<urn:uuid:1>"


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        RegistrarConfig(min_expires=600, default_expires=300)


def test_name_address_of_contacts_round_trip() -> None:
    # The Contact JsSIP sends survives parsing and writing unchanged.
    text = f'<sip:a@b.invalid;transport=ws>;+sip.ice;reg-id=1;+sip.instance="{INSTANCE}"'
    assert str(NameAddress.parse(text)) == text
