"""HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Server side: build a challenge (:class:`DigestChallenge`, the value of WWW-Authenticate
or Proxy-Authenticate), parse the answer (:func:`parse_authorization`), and check it with
:func:`verify_response` against the stored HA1, so the server never keeps or sees a
password. Nonces come from a :class:`NonceManager`: they are stateless, HMAC-signed and
time-stamped, so that any server process sharing the secret can check them, and an
expired one is reported as stale (the client then retries with the new nonce without
asking its user again, RFC 7616 §3.3).

Client side (registering to a trunk): :func:`build_authorization` answers a challenge
from a password or an HA1.

Algorithms: MD5, SHA-256 and SHA-512-256 (RFC 8760), each with its ``-sess`` variant;
``qop`` ``auth`` and ``auth-int``, and the RFC 2069 form without ``qop`` for old clients.
Not done: ``userhash`` and the ``username*`` encoding of RFC 7616 (no SIP user agent
we interoperate with sends them), and nonce-count replay tracking, which needs state.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from callboard.sip.errors import SipParseError
from callboard.sip.grammar import quote, unquote

__all__ = [
    "ALGORITHMS",
    "DigestChallenge",
    "DigestCredentials",
    "NonceManager",
    "NonceStatus",
    "build_authorization",
    "compute_ha1",
    "compute_response",
    "parse_authorization",
    "parse_challenge",
    "verify_response",
]

# Algorithm name (upper case, without -sess) → hashlib name.
_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}

#: Every algorithm name this module computes, in RFC 8760's order of preference.
ALGORITHMS = (
    "SHA-512-256",
    "SHA-512-256-sess",
    "SHA-256",
    "SHA-256-sess",
    "MD5",
    "MD5-sess",
)

_AUTH_PARAM = re.compile(
    r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*"
    r'("(?:[^"\\]|\\.)*"|[^ \t,"]*)[ \t]*(?:,|$)',
    re.DOTALL,
)
_SCHEME = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t]+|$)")
_NC = re.compile(r"[0-9A-Fa-f]{8}")


def _split_algorithm(algorithm: str) -> tuple[str, bool]:
    name = algorithm.upper()
    session = name.endswith("-SESS")
    base = name[:-5] if session else name
    if base not in _HASHES:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _HASHES[base], session


def _hash(hash_name: str, text: str) -> str:
    # MD5 here is the protocol's, not a security choice of ours.
    return hashlib.new(
        hash_name, text.encode("utf-8", "surrogateescape"), usedforsecurity=False
    ).hexdigest()


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username:realm:password), the value a server stores instead of a password.

    For a ``-sess`` algorithm this is still the stored (per-user) value; the per-session
    value is derived from it when a response is computed.
    """
    hash_name, _ = _split_algorithm(algorithm)
    return _hash(hash_name, f"{username}:{realm}:{password}")


def compute_response(
    ha1: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2617 §3.2.2 without ``qop``)."""
    hash_name, session = _split_algorithm(algorithm)
    if session:
        ha1 = _hash(hash_name, f"{ha1}:{nonce}:{cnonce or ''}")
    if qop == "auth-int":
        body_hash = hashlib.new(hash_name, body, usedforsecurity=False).hexdigest()
        ha2 = _hash(hash_name, f"{method}:{uri}:{body_hash}")
    else:
        ha2 = _hash(hash_name, f"{method}:{uri}")
    if qop is None:
        return _hash(hash_name, f"{ha1}:{nonce}:{ha2}")
    return _hash(hash_name, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Scheme name=value, name="quoted", ...`` into the scheme and the params."""
    match = _SCHEME.match(value)
    if match is None:
        raise SipParseError("Malformed Authorization Header")
    scheme = match.group(1)
    params: dict[str, str] = {}
    pos = match.end()
    end = len(value.rstrip(" \t"))
    while pos < end:
        match = _AUTH_PARAM.match(value, pos)
        if match is None or match.end() == pos:
            raise SipParseError("Malformed Authorization Header")
        name = match.group(1).lower()
        if name in params:
            raise SipParseError("Malformed Authorization Header")
        params[name] = unquote(match.group(2))
        pos = match.end()
    return scheme, params


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A Digest challenge: the value of WWW-Authenticate or Proxy-Authenticate."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    stale: bool = False
    domain: str | None = None

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        return parse_challenge(value)

    def __str__(self) -> str:
        parts = [f"Digest realm={quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote(self.domain)}")
        parts.append(f"nonce={quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        if self.stale:
            parts.append("stale=TRUE")
        return ", ".join(parts)


def parse_challenge(value: str) -> DigestChallenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value of the Digest scheme."""
    scheme, params = _parse_auth_params(value)
    if scheme.lower() != "digest" or "realm" not in params or "nonce" not in params:
        raise SipParseError("Malformed Digest Challenge")
    qop = tuple(item.strip() for item in params["qop"].split(",")) if "qop" in params else ()
    return DigestChallenge(
        realm=params["realm"],
        nonce=params["nonce"],
        opaque=params.get("opaque"),
        algorithm=params.get("algorithm", "MD5"),
        qop=tuple(item for item in qop if item),
        stale=params.get("stale", "").lower() == "true",
        domain=params.get("domain"),
    )


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """Digest credentials: the value of Authorization or Proxy-Authorization.

    ``nc`` is kept as sent (eight hex digits), since the response is computed over that
    text; :attr:`nonce_count` is its value.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> DigestCredentials:
        credentials = parse_authorization(value)
        if credentials is None:
            raise SipParseError("Not Digest Credentials")
        return credentials

    @property
    def nonce_count(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)

    def __str__(self) -> str:
        parts = [
            f"Digest username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return ", ".join(parts)


def parse_authorization(value: str) -> DigestCredentials | None:
    """Parse an Authorization / Proxy-Authorization value.

    Returns ``None`` for a scheme other than Digest: such a request is well formed
    (RFC 4475 §3.3.7) and a registrar simply challenges it. Malformed Digest credentials
    raise :class:`SipParseError` (400).
    """
    scheme, params = _parse_auth_params(value)
    if scheme.lower() != "digest":
        return None
    try:
        credentials = DigestCredentials(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"],
            algorithm=params.get("algorithm", "MD5"),
            qop=params.get("qop"),
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
        )
    except KeyError:
        raise SipParseError("Incomplete Digest Credentials") from None
    if credentials.qop is not None and (
        credentials.cnonce is None or credentials.nc is None or not _NC.fullmatch(credentials.nc)
    ):
        raise SipParseError("Incomplete Digest Credentials")
    return credentials


def verify_response(
    credentials: DigestCredentials, ha1: str, method: str, *, body: bytes = b""
) -> bool:
    """Whether ``credentials.response`` is right for the stored ``ha1``.

    ``ha1`` must have been computed with the credentials' algorithm (without ``-sess``).
    The comparison takes constant time. This checks the proof only: the caller checks
    that the realm is its own, that the nonce is one it issued and still valid
    (:class:`NonceManager`), and that ``uri`` matches the Request-URI (RFC 3261 §22.4).
    An unsupported algorithm or ``qop`` never verifies.
    """
    if credentials.qop not in (None, "auth", "auth-int"):
        return False
    try:
        expected = compute_response(
            ha1,
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            algorithm=credentials.algorithm,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
            body=body,
        )
    except ValueError:
        return False
    return hmac.compare_digest(expected.encode(), credentials.response.lower().encode())


def build_authorization(
    challenge: DigestChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str | None = None,
    ha1: str | None = None,
    nc: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
) -> DigestCredentials:
    """Answer ``challenge`` as a client, from ``password`` or a precomputed ``ha1``.

    ``qop=auth`` is chosen when offered, then ``auth-int``; with no ``qop`` in the
    challenge the RFC 2069 form is used. ``nc`` counts the requests made with this nonce.
    """
    if ha1 is None:
        if password is None:
            raise ValueError("a password or an HA1 is needed")
        ha1 = compute_ha1(username, challenge.realm, password, challenge.algorithm)
    qop: str | None = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    elif challenge.qop:
        raise ValueError(f"no supported qop in {challenge.qop!r}")
    nc_text = cnonce_text = None
    if qop is not None or challenge.algorithm.upper().endswith("-SESS"):
        cnonce_text = cnonce if cnonce is not None else secrets.token_hex(8)
    if qop is not None:
        nc_text = f"{nc:08x}"
    response = compute_response(
        ha1,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce_text,
        body=body,
    )
    return DigestCredentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce_text,
        opaque=challenge.opaque,
    )


class NonceStatus(enum.Enum):
    VALID = "valid"
    #: Issued by us but expired: challenge again with ``stale=TRUE``.
    STALE = "stale"
    #: Not issued by us (forged, tampered, or for another context).
    INVALID = "invalid"


_NONCE_LABEL = b"callboard sip digest nonce\x00"
_NONCE_BYTES = 32  # 8 timestamp + 8 random + 16 MAC
_NONCE_LENGTH = 43  # base64url of 32 bytes, unpadded
_MAX_CLOCK_SKEW = 30.0


class NonceManager:
    """Stateless nonces: ``base64url(timestamp ‖ random ‖ HMAC-SHA-256(...)[:16])``.

    The MAC covers the timestamp, the random part and an optional ``context`` (a realm,
    or the client's address to bind the nonce to it). Every server process that shares
    ``secret`` can check every nonce; nothing is stored. A nonce older than ``lifetime``
    seconds is :attr:`NonceStatus.STALE`.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must have at least 16 bytes")
        self._secret = secret
        self._lifetime = lifetime
        self._clock = clock

    def _mac(self, payload: bytes, context: str) -> bytes:
        message = _NONCE_LABEL + payload + context.encode("utf-8", "surrogateescape")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:16]

    def issue(self, context: str = "") -> str:
        payload = int(self._clock()).to_bytes(8, "big") + secrets.token_bytes(8)
        raw = payload + self._mac(payload, context)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def check(self, nonce: str, context: str = "") -> NonceStatus:
        if len(nonce) != _NONCE_LENGTH or not nonce.isascii():
            return NonceStatus.INVALID
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (binascii.Error, ValueError):
            return NonceStatus.INVALID
        # Reject non-canonical spellings of the same bytes (unused trailing bits).
        if len(raw) != _NONCE_BYTES or base64.urlsafe_b64encode(raw)[:-1].decode() != nonce:
            return NonceStatus.INVALID
        payload, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._mac(payload, context)):
            return NonceStatus.INVALID
        issued = int.from_bytes(payload[:8], "big")
        now = self._clock()
        if issued > now + _MAX_CLOCK_SKEW:
            return NonceStatus.INVALID
        if now - issued > self._lifetime:
            return NonceStatus.STALE
        return NonceStatus.VALID
