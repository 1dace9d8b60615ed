"""What the call engine needs to know about the directory, and nothing more.

The engine asks these questions on every call, so the implementation answers from
memory and is told when the directory changes (see `callboard.directory.telephony`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from callboard.sip.authentication import SipCredentials


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A SIP account and whoever owns it."""

    device_id: int
    domain_id: int
    domain: str
    account: str
    ha1_md5: str
    ha1_sha256: str
    user_id: int | None
    user_name: str
    extension: str | None


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    """What a SIP username must prove: the device it authenticates as, and the HA1s of
    the username. For the device's own account they are the device's; for an ephemeral
    username (a web phone's, `callboard.directory.ephemeral`) they are derived, and the
    credentials expire at `expires_at` (Unix seconds)."""

    device: DeviceInfo
    ha1_md5: str
    ha1_sha256: str
    expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class UserInfo:
    user_id: int
    domain_id: int
    domain: str
    name: str
    extension: str | None
    accounts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    trunk_id: int
    domain_id: int
    domain: str
    name: str
    host: str
    port: int | None
    transport: str
    username: str | None
    password: str | None
    registration: bool
    register_expires: int
    caller_id: str | None
    outbound_pattern: str
    priority: int


class Directory(Protocol):
    async def device(self, domain: str, account: str) -> DeviceInfo | None:
        """The device `account` in the domain named `domain` (the SIP realm)."""
        ...

    async def credentials(self, domain: str, username: str) -> DeviceCredentials | None:
        """What `username` (a device account, or another name a device may authenticate
        as) must prove in the domain named `domain`; None when it names no device."""
        ...

    async def user_by_extension(self, domain_id: int, extension: str) -> UserInfo | None: ...

    async def user(self, user_id: int) -> UserInfo | None: ...

    async def trunks(self, domain_id: int) -> tuple[TrunkInfo, ...]:
        """The domain's enabled trunks, best first."""
        ...

    async def trunk_from(self, host: str) -> TrunkInfo | None:
        """The trunk whose gateway is at `host` (an IP address), for inbound calls."""
        ...

    async def number_owner(self, domain_id: int, number: str) -> UserInfo | None:
        """The user an inbound number (DID) reaches."""
        ...

    async def domain_id(self, domain: str) -> int | None: ...


class DirectoryCredentials:
    """The registrar's and authenticator's view of devices: HA1s by realm and username.

    A device may also register under its user's extension (the web phone's URI is
    `sip:<extension>@<domain>` while it authenticates as the account). A username that
    is not the account itself (a web phone's ephemeral one) authenticates as the device
    it names, until it expires."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def lookup(self, realm: str, username: str) -> SipCredentials | None:
        found = await self.directory.credentials(realm, username)
        if found is None:
            return None
        device = found.device
        aliases = frozenset({device.extension}) if device.extension else frozenset()
        return SipCredentials(
            found.ha1_md5,
            found.ha1_sha256,
            owner=device,
            aliases=aliases,
            account=device.account,
            expires_at=found.expires_at,
        )
