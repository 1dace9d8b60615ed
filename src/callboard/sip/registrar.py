"""The registrar: REGISTER requests, authenticated by digest, applied to the location service.

:meth:`Registrar.handle_register` takes a parsed REGISTER and the
:class:`~callboard.sip.transport.Flow` it came on, and returns the response to send. It
knows nothing of transactions (the endpoint's transaction user calls it), of HTTP or of
the database: accounts come from a :class:`CredentialSource`, bindings go to a
:class:`~callboard.sip.location.LocationService`.

What it does, in the order of RFC 3261 §10.3:

1. A source address with too many failed authentications lately gets ``403`` without
   further ado (:class:`~callboard.security.ratelimit.FailureLimiter`).
2. ``Require`` with an option tag other than ``path`` and ``outbound`` → ``420`` listing
   them in ``Unsupported``; a Request-URI scheme other than sip/sips → ``416``.
3. The realm is the domain the REGISTER is for: the host of the To URI (the AOR), or the
   host of the Request-URI when the To host is not a domain served here. By default every
   host is its own realm; pass ``resolve_realm`` to map hosts (an IP address, an alias) to
   domain names, and to refuse unknown ones with ``404``.
4. Digest authentication (RFC 3261 §22, RFC 8760): without valid credentials the answer
   is ``401`` with two challenges, MD5 first (JsSIP answers the first challenge it sees,
   and supports MD5 only) and SHA-256, both ``qop="auth"`` with a stateless nonce of the
   :class:`~callboard.sip.digest.NonceManager`. A correct answer to an expired (or
   foreign) nonce gets ``401`` with ``stale=TRUE``. An unknown account is checked against
   a dummy HA1, so that it costs the same and answers the same as a wrong password; both
   count as a failure of the source address. A nonce-count seen before for the same nonce
   is a replay (``401 stale=TRUE``); that check is per process.
5. The To user must be the authenticated account (or one of its
   :attr:`SipCredentials.aliases`) → else ``403``. Bindings are kept under the canonical
   AOR ``sip:<account>@<realm>`` whatever alias the phone used.
6. Contacts: ``Contact: *`` only with ``Expires: 0`` and alone; each contact's interval
   is its ``expires`` parameter, else the Expires header field, else ``default_expires``;
   a non-zero interval under ``min_expires`` → ``423`` with ``Min-Expires``; over
   ``max_expires`` → lowered to it. RFC 5626 ``reg-id`` is honoured when the REGISTER
   has ``Supported: outbound`` and a ``+sip.instance`` (a request from beyond an edge
   proxy also needs that proxy's ``Path`` with ``;ob``, else ``439``).
7. ``200`` lists every binding of the AOR with ``;expires=`` the time left, a ``Date``
   header field, ``Require: outbound`` when ``reg-id`` was honoured, ``Supported``, and
   the Path values when the phone supports ``path``.

Malformed header fields (To, Contact, Expires, Authorization, Path) get ``400`` with a
reason. Nothing secret (Authorization, nonces, HA1) is ever logged.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
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
from callboard.sip.errors import BadExtension, SipParseError
from callboard.sip.headers import parse_expires
from callboard.sip.location import (
    ContactSpec,
    LocationError,
    LocationService,
    RegistrationSource,
    parse_contact_params,
)
from callboard.sip.message import SipRequest, SipResponse, validate_request
from callboard.sip.transport.base import Flow
from callboard.sip.uri import NameAddress, SipUri

__all__ = [
    "SUPPORTED_OPTIONS",
    "CredentialSource",
    "RealmResolver",
    "Registrar",
    "RegistrarConfig",
    "SipCredentials",
]

_log = logging.getLogger(__name__)

#: Option tags the registrar supports (RFC 3327 Path, RFC 5626 outbound).
SUPPORTED_OPTIONS = frozenset({"path", "outbound"})
#: The digest algorithms offered, in the order the challenges are sent.
_ALGORITHMS = ("MD5", "SHA-256")
_MAX_USER_AGENT = 256


@dataclass(frozen=True, slots=True)
class SipCredentials:
    """What the registrar needs to know about one SIP account (a device).

    ``ha1_md5`` and ``ha1_sha256`` are ``H(account:realm:password)`` with each
    algorithm (lower-case hex). ``owner`` is opaque to the SIP stack: it is stored in
    every binding the account makes (a device id and a domain id, say) so that whoever
    reads the bindings can map them back. ``aliases`` are other user parts the account
    may register as (the extension of the user who owns a web phone, when the phone's
    AOR is ``sip:<extension>@<domain>``); those bindings are kept under the account's AOR.
    """

    ha1_md5: str
    ha1_sha256: str
    owner: object = None
    aliases: frozenset[str] = frozenset()

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


#: ``resolve_realm(host)``: the realm (domain name) a To or Request-URI host belongs
#: to, or None when no domain here has that host.
RealmResolver = Callable[[str], Awaitable[str | None]]


async def _host_is_realm(host: str) -> str | None:
    return host.lower()


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    #: Shortest registration interval accepted (423 below it, 0 aside).
    min_expires: int = 60
    #: Longest interval granted; longer requests are lowered to it.
    max_expires: int = 3600
    #: Interval when the REGISTER gives none.
    default_expires: int = 3600
    #: Failed authentications from one source address before it is blocked ...
    max_failures: int = 10
    #: ... within this many seconds (the block lasts at most as long).
    failure_window: float = 300.0
    #: How long nonce counts are remembered to detect replays (longer than the nonce
    #: lifetime), and how many at most.
    nonce_count_ttl: float = 600.0
    nonce_count_limit: int = 100_000
    #: Option tags listed in the Supported header field of a 200.
    supported: tuple[str, ...] = field(default=("outbound", "path"))

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")


class _Reply(Exception):
    """Stop handling the request and answer this response."""

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


@dataclass(frozen=True, slots=True)
class _Authenticated:
    username: str
    realm: str
    credentials: SipCredentials


class Registrar:
    """Answers REGISTER requests. See the module documentation for the rules."""

    def __init__(
        self,
        credentials: CredentialSource,
        location: LocationService,
        nonces: NonceManager,
        *,
        config: RegistrarConfig | None = None,
        failures: FailureLimiter | None = None,
        resolve_realm: RealmResolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            credentials: where accounts and their HA1s come from.
            location: where bindings go.
            nonces: issues and checks nonces (share its secret between processes).
            config: intervals and limits.
            failures: failed authentications per source address; default: one from
                ``config.max_failures`` and ``config.failure_window``.
            resolve_realm: maps a host to its realm; default: every host is one.
            clock: a monotonic clock for the failure counts and the nonce counts.
        """
        self.config = config or RegistrarConfig()
        self._credentials = credentials
        self._location = location
        self._nonces = nonces
        self._failures = failures or FailureLimiter(
            self.config.max_failures, self.config.failure_window
        )
        self._resolve_realm = resolve_realm or _host_is_realm
        self._clock = clock
        self._nonce_counts = _NonceCounts(
            self.config.nonce_count_ttl, self.config.nonce_count_limit, clock
        )
        # Checked against when the account is unknown: the same work as a real check.
        self._dummy = SipCredentials(
            hashlib.md5(secrets.token_bytes(16), usedforsecurity=False).hexdigest(),
            hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        )

    async def handle_register(self, request: SipRequest, flow: Flow) -> SipResponse:
        """The response to the REGISTER ``request`` received on ``flow``."""
        if request.method != "REGISTER":
            raise ValueError(f"not a REGISTER: {request.method}")
        try:
            return await self._handle(request, flow)
        except _Reply as reply:
            return reply.response
        except SipParseError as error:
            response = _respond(request, error.status, error.reason)
            if isinstance(error, BadExtension):
                response.headers.add("Unsupported", ", ".join(error.unsupported))
            return response
        except LocationError as error:
            return _respond(request, error.status, error.reason)
        except Exception:
            _log.exception("REGISTER from %s failed", flow.remote)
            return _respond(request, 500)

    async def _handle(self, request: SipRequest, flow: Flow) -> SipResponse:
        source = flow.remote.host
        if self._failures.retry_after(source, self._clock()):
            return _respond(request, 403)
        validate_request(request, schemes=frozenset({"sip", "sips"}), supported=SUPPORTED_OPTIONS)

        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or not to_uri.user:
            return _respond(request, 400, "Invalid Address-of-Record")
        realms = await self._realms(request, to_uri)
        if not realms:
            return _respond(request, 404, "Domain Not Found")

        authenticated = await self._authenticate(request, realms, source)
        credentials = authenticated.credentials
        if to_uri.user != authenticated.username and to_uri.user not in credentials.aliases:
            _log.info(
                "REGISTER from %s: account %r may not register %r",
                flow.remote,
                authenticated.username,
                to_uri.user,
            )
            return _respond(request, 403)
        aor = SipUri(
            host=authenticated.realm, user=authenticated.username, scheme=to_uri.scheme
        ).aor

        path = self._path(request)
        outbound = "outbound" in request.supported
        try:
            wildcard = request.is_contact_wildcard
            contacts = () if wildcard else request.contacts
        except SipParseError as error:
            raise SipParseError(f"Invalid Contact: {error.reason}") from None
        if wildcard:
            if request.expires != 0:
                return _respond(request, 400, "Wildcard Contact Requires Expires 0")
            await self._location.unregister_all(
                aor, call_id=request.call_id, cseq=request.cseq.number
            )
            bindings = []
            honoured_reg_id = False
        else:
            specs = self._contacts(request, contacts, outbound)
            honoured_reg_id = any(spec.reg_id is not None for spec in specs)
            if honoured_reg_id and not self._first_hop_ok(request, path):
                return _respond(request, 439)
            user_agent = request.headers.get("user-agent")
            bindings = await self._location.register(
                aor,
                specs,
                call_id=request.call_id,
                cseq=request.cseq.number,
                source=RegistrationSource.from_flow(flow),
                user_agent=None if user_agent is None else user_agent[:_MAX_USER_AGENT],
                path=path,
                owner=credentials.owner,
            )
        response = _respond(request, 200)
        headers = response.headers
        now = self._location.clock()
        for binding in bindings:
            headers.add("Contact", str(binding.contact_with_expires(now)))
        headers.add("Date", email.utils.formatdate(now, usegmt=True))
        if honoured_reg_id:
            headers.add("Require", "outbound")
        if self.config.supported:
            headers.add("Supported", ", ".join(self.config.supported))
        if path and "path" in request.supported:
            for value in path:
                headers.add("Path", value)
        return response

    # -- the steps ------------------------------------------------------------------------

    async def _realms(self, request: SipRequest, to_uri: SipUri) -> list[str]:
        """The realms the request may be for: the To host's first, then the Request-URI
        host's when it differs."""
        realms: list[str] = []
        hosts = [to_uri.host]
        if isinstance(request.uri, SipUri) and request.uri.host.lower() != to_uri.host.lower():
            hosts.append(request.uri.host)
        for host in hosts:
            realm = await self._resolve_realm(host)
            if realm is not None and realm not in realms:
                realms.append(realm)
        return realms

    async def _authenticate(
        self, request: SipRequest, realms: list[str], source: str
    ) -> _Authenticated:
        """Authenticated credentials, or a :class:`_Reply` (401, 400, 500)."""
        answer = _credentials_for(request, realms)
        if answer is None:
            raise _Reply(self._challenge(request, realms[0]))
        realm = answer.realm
        ha1_algorithm = answer.algorithm.upper()
        if ha1_algorithm not in _ALGORITHMS:
            # Not one we offered: no password was tried, so this is no failure.
            raise _Reply(self._challenge(request, realm))
        if not _uri_matches(answer.uri, request):
            raise _Reply(_respond(request, 400, "Digest URI Does Not Match Request-URI"))

        try:
            found = await self._credentials.lookup(realm, answer.username)
        except Exception:
            _log.exception("looking up SIP account credentials failed")
            raise _Reply(_respond(request, 500)) from None
        credentials = found if found is not None else self._dummy
        ha1 = credentials.ha1(ha1_algorithm) or ""
        proven = (
            verify_response(answer, ha1, request.method)
            and answer.qop == "auth"
            and found is not None
        )
        nonce_status = self._nonces.check(answer.nonce, realm)
        if not proven:
            self._failed(source, answer.username, realm)
            raise _Reply(self._challenge(request, realm))
        if nonce_status is not NonceStatus.VALID:
            # The right password with an expired nonce (or one from before a restart).
            raise _Reply(self._challenge(request, realm, stale=True))
        count = answer.nonce_count
        if count is None or not self._nonce_counts.fresh(answer.nonce, count):
            _log.info("REGISTER from %s: replayed nonce-count for %r", source, answer.username)
            raise _Reply(self._challenge(request, realm, stale=True))
        self._failures.succeeded(source)
        return _Authenticated(answer.username, realm, credentials)

    def _failed(self, source: str, username: str, realm: str) -> None:
        now = self._clock()
        self._failures.failed(source, now)
        retry_after = self._failures.retry_after(source, now)
        if retry_after:
            _log.warning(
                "SIP authentication from %s failed %d times (last for %r@%r); "
                "REGISTER blocked for %d s",
                source,
                self._failures.limit,
                username,
                realm,
                retry_after,
            )
        else:
            _log.info("SIP authentication from %s failed for %r@%r", source, username, realm)

    def _challenge(self, request: SipRequest, realm: str, *, stale: bool = False) -> SipResponse:
        response = _respond(request, 401)
        nonce = self._nonces.issue(realm)
        for algorithm in _ALGORITHMS:
            challenge = DigestChallenge(
                realm=realm, nonce=nonce, algorithm=algorithm, qop=("auth",), stale=stale
            )
            response.headers.add("WWW-Authenticate", str(challenge))
        return response

    def _contacts(
        self, request: SipRequest, contacts: Sequence[NameAddress], outbound: bool
    ) -> list[ContactSpec]:
        config = self.config
        try:
            header_expires = request.expires
        except SipParseError:
            raise SipParseError("Invalid Expires Header") from None
        specs: list[ContactSpec] = []
        for contact in contacts:
            if not isinstance(contact.uri, SipUri):
                raise SipParseError("Unsupported Contact URI Scheme")
            if "expires" in contact.params:
                try:
                    expires = parse_expires(contact.params["expires"] or "")
                except SipParseError:
                    raise SipParseError("Invalid Contact expires Parameter") from None
            elif header_expires is not None:
                expires = header_expires
            else:
                expires = config.default_expires
            if 0 < expires < config.min_expires:
                response = _respond(request, 423)
                response.headers.add("Min-Expires", str(config.min_expires))
                raise _Reply(response)
            expires = min(expires, config.max_expires)
            q, instance, reg_id = parse_contact_params(contact)
            honour = outbound and instance is not None and reg_id is not None
            specs.append(ContactSpec(contact, expires, q, instance, reg_id if honour else None))
        return specs

    def _path(self, request: SipRequest) -> tuple[str, ...]:
        try:
            return tuple(str(NameAddress.parse(value)) for value in request.headers.getall("path"))
        except SipParseError:
            raise SipParseError("Invalid Path Header") from None

    @staticmethod
    def _first_hop_ok(request: SipRequest, path: Sequence[str]) -> bool:
        """RFC 5626 §6: the UA's first hop must support outbound: either it is us (one
        Via), or the edge proxy nearest the UA added a Path with ``;ob``."""
        if len(request.vias) == 1:
            return True
        if not path:
            return False
        nearest = NameAddress.parse(path[-1]).uri
        return isinstance(nearest, SipUri) and "ob" in nearest.params


def _credentials_for(request: SipRequest, realms: list[str]) -> DigestCredentials | None:
    """The Digest credentials of the request for one of ``realms``; None when there are
    none. A malformed Authorization header field is a 400."""
    for value in request.headers.getall("authorization"):
        try:
            credentials = parse_authorization(value)
        except SipParseError:
            raise SipParseError("Malformed Authorization Header") from None
        if credentials is not None and credentials.realm in realms:
            return credentials
    return None


def _uri_matches(digest_uri: str, request: SipRequest) -> bool:
    """RFC 3261 §22.4: the digest ``uri`` is the Request-URI (compared as URIs)."""
    if digest_uri == str(request.uri):
        return True
    try:
        return SipUri.parse(digest_uri) == request.uri
    except SipParseError:
        return False


def _respond(request: SipRequest, status: int, reason: str | None = None) -> SipResponse:
    return request.create_response(status, reason, to_tag=secrets.token_hex(8))
