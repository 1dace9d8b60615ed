"""Server-side Digest authentication of SIP requests (RFC 3261 §22, RFC 8760).

A :class:`DigestAuthenticator` checks the credentials of a request against the accounts
of a :class:`CredentialSource`. It comes in two flavours:

* ``proxy=False``, the registrar's (RFC 3261 §22.2): challenges are ``401 Unauthorized``
  with ``WWW-Authenticate``, credentials come in ``Authorization``;
* ``proxy=True``, for INVITE and other requests outside a dialog (§22.3): challenges are
  ``407 Proxy Authentication Required`` with ``Proxy-Authenticate``, credentials come in
  ``Proxy-Authorization``.

Each flavour reads only its own header field: credentials in the other one are ignored
(and so challenged). ACK and CANCEL cannot be challenged (§22.1); the caller does not
pass them here.

:meth:`DigestAuthenticator.authenticate` either returns who the request is from
(:class:`Authenticated`) or raises :class:`AuthenticationFailed` carrying the response to
send, in this order:

1. A source address with too many failed authentications lately gets ``403``, without a
   challenge (:class:`~callboard.security.ratelimit.FailureLimiter`).
2. Without Digest credentials for one of the realms, the answer is a challenge: two of
   them, MD5 first (SIPp and other MD5-only phones answer the first one they see) and
   SHA-256, both ``qop="auth"`` with a stateless nonce of the
   :class:`~callboard.sip.digest.NonceManager`. A request that came over WebSocket (top
   Via ``WS``/``WSS``) gets the MD5 challenge only: JsSIP 3.x and SIP.js keep just the
   *last* ``WWW-Authenticate``/``Proxy-Authenticate`` header of a response (their parser
   replaces earlier ones), support MD5 only, and give up on a SHA-256 challenge; the
   web phone is handed an MD5 HA1 anyway. Which algorithms are offered is the
   ``algorithms`` argument: a node offers MD5 alone (see ``callboard.telephony``), because
   older stacks fail on a challenge they cannot answer instead of skipping it (baresip
   1.0's libre gives up with ENOSYS on the SHA-256 one). Credentials with an algorithm
   not offered are challenged again too. None of this counts as a failure.
3. Malformed credentials, or a digest ``uri`` that is not the Request-URI, get ``400``.
4. An unknown account is checked against a dummy HA1, so that it costs the same and
   answers the same as a wrong password; both count as a failure of the source address
   and get a fresh challenge. The failure that blocks a source is logged as a WARNING,
   the others at INFO.
5. A correct answer to an expired (or foreign) nonce gets a challenge with
   ``stale=TRUE``. A nonce-count seen before for the same nonce is a replay and gets the
   same; that check is per authenticator, so per process.
6. Success clears the source address's failures.

Every response built here carries a To tag. Nothing secret (credentials, nonces, HA1s)
is ever logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from callboard.security.ratelimit import FailureLimiter
from callboard.sip.digest import (
    DigestChallenge,
    DigestCredentials,
    NonceManager,
    NonceStatus,
    parse_authorization,
    verify_response,
)
from callboard.sip.errors import SipParseError
from callboard.sip.message import SipRequest, SipResponse
from callboard.sip.uri import SipUri

__all__ = [
    "Authenticated",
    "AuthenticationFailed",
    "CredentialSource",
    "DigestAuthenticator",
    "SipCredentials",
]

_log = logging.getLogger(__name__)

#: The digest algorithms offered, in the order the challenges are sent.
_ALGORITHMS = ("MD5", "SHA-256")
#: What browser phones (JsSIP, SIP.js: over WebSocket) are offered; see the module doc.
_WEBSOCKET_ALGORITHMS = ("MD5",)
_WEBSOCKET_TRANSPORTS = frozenset({"WS", "WSS"})


@dataclass(frozen=True, slots=True)
class SipCredentials:
    """What the SIP stack needs to know about one SIP account (a device).

    ``ha1_md5`` and ``ha1_sha256`` are ``H(account:realm:password)`` with each
    algorithm (lower-case hex). ``owner`` is opaque to the SIP stack: it is stored in
    every binding the account makes (a device id and a domain id, say) so that whoever
    reads the bindings can map them back. ``aliases`` are other user parts the account
    may register as (the extension of the user who owns a web phone, when the phone's
    AOR is ``sip:<extension>@<domain>``); those bindings are kept under the account's AOR.

    ``account`` is the account these credentials authenticate as when the username they
    were looked up by is another name for it (short-lived credentials whose username is
    not the account); None means the username itself. ``expires_at`` (wall-clock
    seconds) is when such credentials stop being valid: the registrar grants no binding
    beyond it. Whoever looks credentials up refuses expired ones (answers None).
    """

    ha1_md5: str
    ha1_sha256: str
    owner: object = None
    aliases: frozenset[str] = frozenset()
    account: str | None = None
    expires_at: float | None = None

    def ha1(self, algorithm: str) -> str | None:
        name = algorithm.upper()
        if name == "MD5":
            return self.ha1_md5
        if name == "SHA-256":
            return self.ha1_sha256
        return None


class CredentialSource(Protocol):
    """Where accounts come from (the device directory, in Callboard)."""

    async def lookup(self, realm: str, username: str) -> SipCredentials | None:
        """The credentials of account ``username`` in domain ``realm``, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Who a request is from: ``account`` of ``realm``, which authenticated as
    ``username`` (the same, unless the credentials say otherwise)."""

    username: str
    realm: str
    credentials: SipCredentials

    @property
    def account(self) -> str:
        return self.credentials.account or self.username


class AuthenticationFailed(Exception):
    """Stop: answer `response` (401/407 challenge, 400, 403 for a blocked source, 500)."""

    def __init__(self, response: SipResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _NonceCounts:
    """The highest nonce-count seen per nonce, to refuse replayed credentials. Bounded:
    the oldest entries go first."""

    def __init__(self, ttl: float, limit: int, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._seen: dict[str, tuple[int, float]] = {}

    def fresh(self, nonce: str, count: int) -> bool:
        """Record ``count`` for ``nonce``; False when it is not above the last one."""
        now = self._clock()
        seen = self._seen
        while seen:
            first = next(iter(seen))
            if seen[first][1] > now - self._ttl and len(seen) < self._limit:
                break
            del seen[first]
        entry = seen.get(nonce)
        if entry is not None and count <= entry[0]:
            return False
        seen[nonce] = (count, entry[1] if entry is not None else now)
        return True


class DigestAuthenticator:
    """Checks Digest credentials. See the module documentation for the rules."""

    def __init__(
        self,
        credentials: CredentialSource,
        nonces: NonceManager,
        *,
        proxy: bool = False,
        failures: FailureLimiter | None = None,
        max_failures: int = 10,
        failure_window: float = 300.0,
        nonce_count_ttl: float = 600.0,
        nonce_count_limit: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        algorithms: Sequence[str] = _ALGORITHMS,
    ) -> None:
        """
        Args:
            credentials: where accounts and their HA1s come from.
            nonces: issues and checks nonces (share its secret between processes).
            proxy: challenge with 407 and Proxy-Authenticate and read
                Proxy-Authorization; else 401, WWW-Authenticate and Authorization.
            failures: failed authentications per source address (share one to block a
                source everywhere); default: one of ``max_failures`` within
                ``failure_window`` seconds.
            nonce_count_ttl: how long nonce counts are remembered to detect replays
                (longer than the nonce lifetime) ...
            nonce_count_limit: ... and how many at most.
            clock: a monotonic clock for the failure counts and the nonce counts.
            algorithms: the digest algorithms offered (and accepted), one challenge
                each, in this order: some of MD5 and SHA-256.
        """
        self._algorithms = tuple(algorithm.upper() for algorithm in algorithms)
        if not self._algorithms or not set(self._algorithms) <= set(_ALGORITHMS):
            raise ValueError(f"digest algorithms must be some of {_ALGORITHMS}")
        self._credentials = credentials
        self._nonces = nonces
        if proxy:
            self._status = 407
            self._challenge_header = "Proxy-Authenticate"
            self._credentials_header = "Proxy-Authorization"
        else:
            self._status = 401
            self._challenge_header = "WWW-Authenticate"
            self._credentials_header = "Authorization"
        self._failures = (
            FailureLimiter(max_failures, failure_window) if failures is None else failures
        )
        self._clock = clock
        self._nonce_counts = _NonceCounts(nonce_count_ttl, nonce_count_limit, clock)
        # Checked against when the account is unknown: the same work as a real check.
        self._dummy = SipCredentials(
            hashlib.md5(secrets.token_bytes(16), usedforsecurity=False).hexdigest(),
            hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        )

    def blocked(self, source: str) -> bool:
        """Whether ``source`` failed too often lately to be heard."""
        return self._failures.retry_after(source, self._clock()) > 0

    def challenge(
        self,
        request: SipRequest,
        realm: str,
        *,
        stale: bool = False,
        to_tag: str | None = None,
    ) -> SipResponse:
        """A 401 (407 for a proxy) to ``request`` with a fresh nonce for ``realm``."""
        response = _respond(request, self._status, to_tag=to_tag)
        nonce = self._nonces.issue(realm)
        websocket = request.via.transport.upper() in _WEBSOCKET_TRANSPORTS
        offered = self._algorithms
        if websocket:
            offered = tuple(a for a in offered if a in _WEBSOCKET_ALGORITHMS) or offered
        for algorithm in offered:
            challenge = DigestChallenge(
                realm=realm, nonce=nonce, algorithm=algorithm, qop=("auth",), stale=stale
            )
            response.headers.add(self._challenge_header, str(challenge))
        return response

    async def authenticate(
        self,
        request: SipRequest,
        realms: Sequence[str],
        source: str,
        *,
        to_tag: str | None = None,
    ) -> Authenticated:
        """Who ``request``, received from address ``source``, is from, with credentials
        for one of ``realms`` (the first one is challenged); else
        :class:`AuthenticationFailed` (403, 401/407, 400, 500)."""
        if not realms:
            raise ValueError("no realm to authenticate in")
        if self.blocked(source):
            raise AuthenticationFailed(_respond(request, 403, to_tag=to_tag))
        answer = self._credentials_for(request, realms, to_tag)
        if answer is None:
            raise AuthenticationFailed(self.challenge(request, realms[0], to_tag=to_tag))
        realm = answer.realm
        ha1_algorithm = answer.algorithm.upper()
        if ha1_algorithm not in self._algorithms:
            # Not one we offered: no password was tried, so this is no failure.
            raise AuthenticationFailed(self.challenge(request, realm, to_tag=to_tag))
        if not _uri_matches(answer.uri, request):
            raise AuthenticationFailed(
                _respond(request, 400, "Digest URI Does Not Match Request-URI", to_tag=to_tag)
            )

        try:
            found = await self._credentials.lookup(realm, answer.username)
        except Exception:
            _log.exception("looking up SIP account credentials failed")
            raise AuthenticationFailed(_respond(request, 500, to_tag=to_tag)) from None
        credentials = found if found is not None else self._dummy
        ha1 = credentials.ha1(ha1_algorithm) or ""
        proven = (
            verify_response(answer, ha1, request.method)
            and answer.qop == "auth"
            and found is not None
        )
        nonce_status = self._nonces.check(answer.nonce, realm)
        if not proven:
            self._failed(request, source, answer.username, realm)
            raise AuthenticationFailed(self.challenge(request, realm, to_tag=to_tag))
        if nonce_status is not NonceStatus.VALID:
            # The right password with an expired nonce (or one from before a restart).
            raise AuthenticationFailed(self.challenge(request, realm, stale=True, to_tag=to_tag))
        count = answer.nonce_count
        if count is None or not self._nonce_counts.fresh(answer.nonce, count):
            _log.info(
                "%s from %s: replayed nonce-count for %r", request.method, source, answer.username
            )
            raise AuthenticationFailed(self.challenge(request, realm, stale=True, to_tag=to_tag))
        self._failures.succeeded(source)
        return Authenticated(answer.username, realm, credentials)

    def _credentials_for(
        self, request: SipRequest, realms: Sequence[str], to_tag: str | None
    ) -> DigestCredentials | None:
        """The Digest credentials of the request for one of ``realms``; None when there
        are none. A malformed header field is a 400."""
        name = self._credentials_header
        for value in request.headers.getall(name.lower()):
            try:
                credentials = parse_authorization(value)
            except SipParseError:
                raise AuthenticationFailed(
                    _respond(request, 400, f"Malformed {name} Header", to_tag=to_tag)
                ) from None
            if credentials is not None and credentials.realm in realms:
                return credentials
        return None

    def _failed(self, request: SipRequest, source: str, username: str, realm: str) -> None:
        now = self._clock()
        self._failures.failed(source, now)
        retry_after = self._failures.retry_after(source, now)
        if retry_after:
            _log.warning(
                "SIP authentication from %s failed %d times (last %s for %r@%r); "
                "source blocked for %d s",
                source,
                self._failures.limit,
                request.method,
                username,
                realm,
                retry_after,
            )
        else:
            _log.info(
                "SIP authentication from %s failed (%s for %r@%r)",
                source,
                request.method,
                username,
                realm,
            )


def _uri_matches(digest_uri: str, request: SipRequest) -> bool:
    """RFC 3261 §22.4: the digest ``uri`` is the Request-URI (compared as URIs)."""
    if digest_uri == str(request.uri):
        return True
    try:
        return SipUri.parse(digest_uri) == request.uri
    except SipParseError:
        return False


def _respond(
    request: SipRequest, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> SipResponse:
    return request.create_response(
        status, reason, to_tag=secrets.token_hex(8) if to_tag is None else to_tag
    )
