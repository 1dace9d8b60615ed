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
4. Digest authentication (RFC 3261 §22, RFC 8760) by a
   :class:`~callboard.sip.authentication.DigestAuthenticator` of the registrar flavour:
   without valid credentials the answer is ``401`` with two challenges, MD5 first and
   SHA-256 (over WebSocket MD5 only: JsSIP keeps the last challenge and supports MD5
   only), both ``qop="auth"`` with a stateless nonce of the
   :class:`~callboard.sip.digest.NonceManager`.
   A correct answer to an expired (or foreign) nonce gets ``401`` with ``stale=TRUE``. An
   unknown account is checked against a dummy HA1, so that it costs the same and answers
   the same as a wrong password; both count as a failure of the source address. A
   nonce-count seen before for the same nonce is a replay (``401 stale=TRUE``); that
   check is per process.
5. The To user must be the authenticated account (or one of its
   :attr:`SipCredentials.aliases`) → else ``403``. Bindings are kept under the canonical
   AOR ``sip:<account>@<realm>`` whatever alias the phone used, and whatever username
   it authenticated with (:attr:`SipCredentials.account`: a web phone's short-lived
   username authenticates as its device's account).
6. Contacts: ``Contact: *`` only with ``Expires: 0`` and alone; each contact's interval
   is its ``expires`` parameter, else the Expires header field, else ``default_expires``;
   a non-zero interval under ``min_expires`` → ``423`` with ``Min-Expires``; over
   ``max_expires`` → lowered to it; one that would outlast credentials that expire
   (:attr:`SipCredentials.expires_at`) → lowered to the time they have left. RFC 5626
   ``reg-id`` is honoured when the REGISTER has ``Supported: outbound`` and a
   ``+sip.instance`` (a request from beyond an edge proxy also needs that proxy's
   ``Path`` with ``;ob``, else ``439``).
7. ``200`` lists every binding of the AOR with ``;expires=`` the time left, a ``Date``
   header field, ``Require: outbound`` when ``reg-id`` was honoured, ``Supported``, and
   the Path values when the phone supports ``path``.

Malformed header fields (To, Contact, Expires, Authorization, Path) get ``400`` with a
reason; a malformed To or Contact gets it before any challenge. Nothing secret
(Authorization, nonces, HA1) is ever logged.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from callboard.security.ratelimit import FailureLimiter
from callboard.sip.authentication import (
    AuthenticationFailed,
    CredentialSource,
    DigestAuthenticator,
    SipCredentials,
)
from callboard.sip.digest import NonceManager
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
_MAX_USER_AGENT = 256


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
    #: The digest algorithms offered, one challenge each, in this order.
    algorithms: tuple[str, ...] = ("MD5", "SHA-256")

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError("need 0 < min_expires <= default_expires <= max_expires")


class _Reply(Exception):
    """Stop handling the request and answer this response."""

    def __init__(self, response: SipResponse) -> None:
        super().__init__(response.status)
        self.response = response


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
        self._location = location
        self._failures = failures or FailureLimiter(
            self.config.max_failures, self.config.failure_window
        )
        self._resolve_realm = resolve_realm or _host_is_realm
        self._authenticator = DigestAuthenticator(
            credentials,
            nonces,
            proxy=False,
            failures=self._failures,
            nonce_count_ttl=self.config.nonce_count_ttl,
            nonce_count_limit=self.config.nonce_count_limit,
            clock=clock,
            algorithms=self.config.algorithms,
        )

    async def handle_register(self, request: SipRequest, flow: Flow) -> SipResponse:
        """The response to the REGISTER ``request`` received on ``flow``."""
        if request.method != "REGISTER":
            raise ValueError(f"not a REGISTER: {request.method}")
        try:
            return await self._handle(request, flow)
        except (_Reply, AuthenticationFailed) as reply:
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
        if self._authenticator.blocked(source):
            return _respond(request, 403)
        validate_request(request, schemes=frozenset({"sip", "sips"}), supported=SUPPORTED_OPTIONS)

        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or not to_uri.user:
            return _respond(request, 400, "Invalid Address-of-Record")
        realms = await self._realms(request, to_uri)
        if not realms:
            return _respond(request, 404, "Domain Not Found")
        # A malformed Contact is a 400 before any challenge (RFC 4475 §3.1.2.13): the
        # phone would answer the challenge with the same broken request.
        try:
            wildcard = request.is_contact_wildcard
            contacts = () if wildcard else request.contacts
        except SipParseError as error:
            raise SipParseError(f"Invalid Contact: {error.reason}") from None

        authenticated = await self._authenticator.authenticate(request, realms, source)
        credentials = authenticated.credentials
        account = authenticated.account
        if to_uri.user != account and to_uri.user not in credentials.aliases:
            _log.info(
                "REGISTER from %s: account %r may not register %r",
                flow.remote,
                account,
                to_uri.user,
            )
            return _respond(request, 403)
        aor = SipUri(host=authenticated.realm, user=account, scheme=to_uri.scheme).aor

        path = self._path(request)
        outbound = "outbound" in request.supported
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
            if credentials.expires_at is not None:
                specs = _within(specs, credentials.expires_at - self._location.clock())
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


def _within(specs: Sequence[ContactSpec], seconds_left: float) -> list[ContactSpec]:
    """The contacts with no interval beyond `seconds_left` (at least 1 s: a binding that
    ends before the phone's credentials do; removals stay removals)."""
    limit = max(1, int(seconds_left))
    return [
        dataclasses.replace(spec, expires=limit) if spec.expires > limit else spec for spec in specs
    ]


def _respond(request: SipRequest, status: int, reason: str | None = None) -> SipResponse:
    return request.create_response(status, reason, to_tag=secrets.token_hex(8))
