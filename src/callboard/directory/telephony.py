"""The directory as the call engine and the registrar see it: answered from memory.

Every answer is cached (also "no such device", so a flood of unknown accounts does not
reach the database) and the whole cache is dropped when the directory changes.

Loads are single-flight: while one task loads a key, every other caller of that key waits
for the same load, and an expired entry keeps being served while one task refreshes it.
Without that, each call arriving in the instant an entry expires queries the database
itself, and under load hundreds of identical queries queue on the database's one
connection while calls wait for seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.calls.directory import DeviceCredentials, DeviceInfo, TrunkInfo, UserInfo
from callboard.directory import ephemeral
from callboard.security.secretbox import SecretBox
from callboard.store.database import Database
from callboard.store.models import Device, Domain, Trunk, TrunkNumber, User

T = TypeVar("T")
log = logging.getLogger(__name__)


class DirectoryView:
    def __init__(self, db: Database, secrets: SecretBox, *, ttl: float = 30.0) -> None:
        self.db = db
        self.secrets = secrets
        self.ttl = ttl
        self._ephemeral_key_value: bytes | None = None
        #: The longest life of a web phone's ephemeral credentials (seconds); tests
        #: shorten it to see the SDK renew them.
        self.web_phone_lifetime = ephemeral.MAX_LIFETIME
        self._cache: dict[tuple[object, ...], tuple[float, object]] = {}
        self._loads: dict[tuple[object, ...], asyncio.Task[object]] = {}
        # Bumped by invalidate(): a load that started before a change must not store
        # what it read.
        self._generation = 0

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()
        self._loads.clear()

    async def _cached(self, key: tuple[object, ...], load: Callable[[], Awaitable[T]]) -> T:
        hit = self._cache.get(key)
        if hit is not None:
            expires, value = hit
            if expires <= time.monotonic() and key not in self._loads:
                self._start_load(key, load)
            return cast(T, value)
        pending = self._loads.get(key) or self._start_load(key, load)
        # shield: a caller that is cancelled must not cancel the load the others wait for.
        return cast(T, await asyncio.shield(pending))

    def _start_load(
        self, key: tuple[object, ...], load: Callable[[], Awaitable[T]]
    ) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            self._load(key, load, self._generation)
        )
        task.add_done_callback(_log_failure)
        self._loads[key] = task
        return task

    async def _load(
        self, key: tuple[object, ...], load: Callable[[], Awaitable[object]], generation: int
    ) -> object:
        try:
            value = await load()
        finally:
            if generation == self._generation:
                self._loads.pop(key, None)
        if generation == self._generation:
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, value)
        return value

    async def domain_id(self, domain: str) -> int | None:
        async def load() -> int | None:
            async with self.db.transaction() as session:
                return await session.scalar(
                    select(Domain.id).where(Domain.name == domain, Domain.enabled)
                )

        return await self._cached(("domain", domain), load)

    async def device(self, domain: str, account: str) -> DeviceInfo | None:
        async def load() -> DeviceInfo | None:
            async with self.db.transaction() as session:
                row = (
                    await session.execute(
                        select(Device, Domain.name)
                        .join(Domain, Domain.id == Device.domain_id)
                        .where(Domain.name == domain, Domain.enabled, Device.account == account)
                        .options(selectinload(Device.user))
                    )
                ).first()
                if row is None:
                    return None
                device, domain_name = row
                user = device.user if device.user is not None and device.user.enabled else None
                return DeviceInfo(
                    device_id=device.id,
                    domain_id=device.domain_id,
                    domain=domain_name,
                    account=device.account,
                    ha1_md5=device.ha1_md5,
                    ha1_sha256=device.ha1_sha256,
                    user_id=user.id if user else None,
                    user_name=user.name if user else device.name,
                    extension=user.extension if user else None,
                )

        return await self._cached(("device", domain, account), load)

    async def credentials(self, domain: str, username: str) -> DeviceCredentials | None:
        """What `username` must prove: a device account's own HA1s, or those derived for
        an ephemeral username (`callboard.directory.ephemeral`), checked afresh on every
        call (only the device is cached, not the answer: it expires)."""
        name = ephemeral.parse_username(username)
        if name is None:
            device = await self.device(domain, username)
            if device is None:
                return None
            return DeviceCredentials(device, device.ha1_md5, device.ha1_sha256)
        # No account contains the separator: no device lookup by the whole username.
        device = await self.device(domain, name.account)
        if device is None:
            return None
        return ephemeral.verify(self._ephemeral_key, device, name)

    @property
    def _ephemeral_key(self) -> bytes:
        if self._ephemeral_key_value is None:
            self._ephemeral_key_value = self.secrets.derive(ephemeral.KEY_PURPOSE)
        return self._ephemeral_key_value

    def web_phone_credentials(
        self, device: DeviceInfo, token_expires_at_ms: int
    ) -> ephemeral.EphemeralCredentials:
        """Credentials for a browser's web phone that expire with its API token (at most
        `web_phone_lifetime` from now)."""
        end = ephemeral.lifetime_end(token_expires_at_ms, lifetime=self.web_phone_lifetime)
        return ephemeral.issue(self._ephemeral_key, device, end)

    async def user_by_extension(self, domain_id: int, extension: str) -> UserInfo | None:
        async def load() -> UserInfo | None:
            async with self.db.transaction() as session:
                user = await session.scalar(
                    select(User)
                    .where(User.domain_id == domain_id, User.extension == extension, User.enabled)
                    .options(selectinload(User.devices))
                )
                return await _user_info(session, user)

        return await self._cached(("extension", domain_id, extension), load)

    async def user(self, user_id: int) -> UserInfo | None:
        async def load() -> UserInfo | None:
            async with self.db.transaction() as session:
                user = await session.scalar(
                    select(User)
                    .where(User.id == user_id, User.enabled)
                    .options(selectinload(User.devices))
                )
                return await _user_info(session, user)

        return await self._cached(("user", user_id), load)

    async def web_device(self, user_id: int) -> DeviceInfo | None:
        """The device a user's web phone registers as: the default one, else the first."""
        async with self.db.transaction() as session:
            user = await session.scalar(
                select(User).where(User.id == user_id).options(selectinload(User.devices))
            )
            if user is None or not user.devices:
                return None
            chosen = next((d for d in user.devices if d.id == user.default_device_id), None)
            device = chosen or user.devices[0]
            domain = await session.get(Domain, user.domain_id)
        return await self.device(domain.name if domain else "", device.account)

    async def number_owner(self, domain_id: int, number: str) -> UserInfo | None:
        async def load() -> UserInfo | None:
            async with self.db.transaction() as session:
                user_id = await session.scalar(
                    select(TrunkNumber.user_id).where(
                        TrunkNumber.domain_id == domain_id, TrunkNumber.number == number
                    )
                )
            return None if user_id is None else await self.user(user_id)

        return await self._cached(("number", domain_id, number), load)

    async def trunks(self, domain_id: int) -> tuple[TrunkInfo, ...]:
        async def load() -> tuple[TrunkInfo, ...]:
            async with self.db.transaction() as session:
                rows = await session.execute(
                    select(Trunk, Domain.name)
                    .join(Domain, Domain.id == Trunk.domain_id)
                    .where(Trunk.domain_id == domain_id, Trunk.enabled)
                    .order_by(Trunk.priority.desc(), Trunk.id)
                )
                return tuple(self._trunk_info(trunk, name) for trunk, name in rows)

        return await self._cached(("trunks", domain_id), load)

    async def all_trunks(self) -> tuple[TrunkInfo, ...]:
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Trunk, Domain.name)
                .join(Domain, Domain.id == Trunk.domain_id)
                .where(Trunk.enabled, Domain.enabled)
                .order_by(Trunk.id)
            )
            return tuple(self._trunk_info(trunk, name) for trunk, name in rows)

    async def trunk_from(self, host: str) -> TrunkInfo | None:
        async def load() -> TrunkInfo | None:
            for trunk in await self.all_trunks():
                if trunk.host == host:
                    return trunk
            return None

        return await self._cached(("trunk_from", host), load)

    def _trunk_info(self, trunk: Trunk, domain: str) -> TrunkInfo:
        return TrunkInfo(
            trunk_id=trunk.id,
            domain_id=trunk.domain_id,
            domain=domain,
            name=trunk.name,
            host=trunk.host,
            port=trunk.port,
            transport=trunk.transport,
            username=trunk.username,
            password=self.secrets.open(trunk.secret) if trunk.secret else None,
            registration=trunk.registration,
            register_expires=trunk.register_expires,
            caller_id=trunk.caller_id,
            outbound_pattern=trunk.outbound_pattern,
            priority=trunk.priority,
        )


def _log_failure(task: asyncio.Task[object]) -> None:
    # A refresh nobody waits for would otherwise fail silently ("never retrieved").
    if not task.cancelled() and (error := task.exception()) is not None:
        log.warning("directory lookup failed: %r", error)


async def _user_info(session: AsyncSession, user: User | None) -> UserInfo | None:
    if user is None:
        return None
    domain = await session.get(Domain, user.domain_id)
    return UserInfo(
        user_id=user.id,
        domain_id=user.domain_id,
        domain=domain.name if domain else "",
        name=user.name,
        extension=user.extension,
        accounts=tuple(device.account for device in user.devices),
    )
