"""Ephemeral SIP credentials for web phones, in the manner of the TURN REST API
(draft-uberti-behave-turn-rest-00): nothing is stored, everything is derived.

A browser should never hold a device's permanent digest HA1: it is as good as the SIP
password, it lives as long as the password, and a page that leaks it (an XSS, a
browser extension, a shared computer) leaks the phone line for good. So a browser whose
API token expires is handed instead

- a username that carries its own expiry, ``<unix expiry>:<account>``, e.g.
  ``1763712000:webphone1001``. ``:`` cannot occur in a device account (an RFC 3261
  ``user`` without escapes, see `callboard.directory.devices`), so an ephemeral
  username is never a real account and always parses one way. The username only ever
  travels in the digest ``username="..."`` parameter (the phone's URI stays
  ``sip:<extension>@<domain>``), a quoted string, where ``:`` is plain text; JsSIP
  accepts any quoted-string text as ``authorization_user`` and sends it unchanged;
- the HA1 of that username with a password the server derives:
  ``HMAC-SHA256(key, realm, device id, user id, device HA1, username)``, base64url. The
  key is derived from the node's secret key (`SecretBox.derive`), so every node that
  shares the secret key accepts the credentials, and nothing is written anywhere.

What the derivation binds means that the credentials stop working, before their expiry,
when the device is deleted (even if re-created with the same account), moved to another
user, or given a new password (the HA1 changes), or when its user is disabled. Revoking
the API token they were handed out with does not revoke them: like TURN credentials
they lapse at their expiry, which is why it is capped (`MAX_LIFETIME`); changing the
device's password revokes them at once.

Refusals all look alike from outside: for an expired username `verify` answers None,
which the SIP side treats as an unknown account; for one tampered with, or another
device's or domain's, it derives an HA1 the phone cannot match. Either way the phone
gets the challenge a wrong password gets, counted as a failure by the rate limiter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from callboard.calls.directory import DeviceCredentials, DeviceInfo
from callboard.sip.digest import compute_ha1

#: The longest life of ephemeral credentials: the default login session's and the
#: longest widget token's. The published webitel-sdk never asks for new credentials, so
#: a shorter cap would unregister its phone in the middle of a session.
MAX_LIFETIME = 12 * 3600
#: Between the expiry and the account.
SEPARATOR = ":"
#: The purpose the HMAC key is derived for (`SecretBox.derive`).
KEY_PURPOSE = "sip-ephemeral-credentials"

_EXPIRY = re.compile(r"[1-9][0-9]{0,11}")
_VERSION = b"callboard-sip-ephemeral-v1"


@dataclass(frozen=True, slots=True)
class EphemeralName:
    """An ephemeral username, parsed: whose, and until when (Unix seconds)."""

    expires_at: int
    account: str

    @property
    def username(self) -> str:
        return f"{self.expires_at}{SEPARATOR}{self.account}"


@dataclass(frozen=True, slots=True)
class EphemeralCredentials:
    """Credentials of a username. A web phone is handed the username and its MD5 HA1
    only, as with a device's own credentials; `password` is for peers that want one
    (SIPp in the tests), and proves no more than the HA1 does."""

    username: str
    password: str
    ha1_md5: str
    ha1_sha256: str
    #: Unix seconds.
    expires_at: int


def parse_username(username: str) -> EphemeralName | None:
    """The parts of an ephemeral username; None for anything else (a real account)."""
    expiry, separator, account = username.partition(SEPARATOR)
    if not separator or not account or SEPARATOR in account or not _EXPIRY.fullmatch(expiry):
        return None
    return EphemeralName(int(expiry), account)


def lifetime_end(
    token_expires_at_ms: int, now: float | None = None, lifetime: int = MAX_LIFETIME
) -> int:
    """When credentials handed out with a token expiring at `token_expires_at_ms` (ms)
    expire: with the token, but no later than `lifetime` (at most `MAX_LIFETIME`) from
    now (Unix seconds)."""
    now = time.time() if now is None else now
    return min(token_expires_at_ms // 1000, int(now) + min(lifetime, MAX_LIFETIME))


def issue(key: bytes, device: DeviceInfo, expires_at: int) -> EphemeralCredentials:
    """Credentials for `device` (which must belong to a user) valid until `expires_at`."""
    if device.user_id is None:
        raise ValueError("ephemeral credentials are for a user's device")
    username = EphemeralName(expires_at, device.account).username
    password = _password(key, device, username)
    return EphemeralCredentials(
        username=username,
        password=password,
        ha1_md5=compute_ha1(username, device.domain, password, "MD5"),
        ha1_sha256=compute_ha1(username, device.domain, password, "SHA-256"),
        expires_at=expires_at,
    )


def verify(
    key: bytes, device: DeviceInfo, name: EphemeralName, now: float | None = None
) -> DeviceCredentials | None:
    """The HA1s `name` must prove for `device` (the device its account names, in the
    realm asked for), or None when it can no longer be valid: expired, further ahead
    than any credentials are issued for, or the device has no (enabled) user. Whether
    the phone knows the password is the digest's to check, against these HA1s."""
    now = time.time() if now is None else now
    if device.user_id is None or device.account != name.account:
        return None
    if not now < name.expires_at <= now + MAX_LIFETIME:
        return None
    issued = issue(key, device, name.expires_at)
    return DeviceCredentials(device, issued.ha1_md5, issued.ha1_sha256, name.expires_at)


def _password(key: bytes, device: DeviceInfo, username: str) -> str:
    message = b"\n".join(
        (
            _VERSION,
            device.domain.encode(),
            str(device.device_id).encode(),
            str(device.user_id).encode(),
            device.ha1_md5.encode(),
            username.encode(),
        )
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
