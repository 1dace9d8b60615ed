"""Trunks: provider gateways for calls to and from the public network."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.common import Id, ListQuery, fetch_page, flush
from callboard.directory.events import directory_changed
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, NotFound
from callboard.security.secretbox import SecretBox
from callboard.store.database import Database
from callboard.store.models import Trunk, TrunkNumber, User

_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,253}$")
_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")


class InboundNumber(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: str
    user_id: Id | None = None

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        if not _NUMBER.match(value):
            raise ValueError("a number is digits, optionally starting with +")
        return value


class TrunkSpec(BaseModel):
    """A gateway. `password` is write-only: it is kept encrypted, never shown again."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    transport: str = Field(default="udp", pattern="^(udp|tcp|tls)$")
    username: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, max_length=200)
    registration: bool = False
    register_expires: int = Field(default=600, ge=60, le=86400)
    caller_id: str | None = Field(default=None, max_length=64)
    outbound_pattern: str = Field(default=r"^\+?[0-9]{3,}$", max_length=200)
    priority: int = 0
    enabled: bool = True
    numbers: list[InboundNumber] | None = None

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.match(value):
            raise ValueError("a host is a name or an IP address")
        return value

    @field_validator("outbound_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value


TRUNK_LOAD = (selectinload(Trunk.numbers),)
_PLAIN_FIELDS = (
    "host",
    "port",
    "transport",
    "username",
    "registration",
    "register_expires",
    "caller_id",
    "outbound_pattern",
    "priority",
    "enabled",
)


class TrunkService:
    def __init__(self, db: Database, secrets: SecretBox) -> None:
        self.db = db
        self.secrets = secrets

    async def create(self, principal: Principal, domain_id: int, spec: TrunkSpec) -> Trunk:
        principal.require(Permission.DEVICES_WRITE)
        if not spec.name or not spec.host:
            raise InvalidInput("a trunk needs a name and a host")
        now = now_ms()
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            trunk = Trunk(domain_id=domain_id, name=spec.name, created_at=now, updated_at=now)
            self._apply(trunk, spec, set(_PLAIN_FIELDS) | {"password"})
            session.add(trunk)
            await flush(session)
            await self._numbers(session, trunk, spec.numbers or [])
            await flush(session)
            return await _load(session, domain_id, trunk.id)

    async def search(
        self, principal: Principal, domain_id: int, query: ListQuery
    ) -> tuple[list[Trunk], bool]:
        principal.require(Permission.DEVICES_READ)
        statement = select(Trunk).where(Trunk.domain_id == domain_id).options(*TRUNK_LOAD)
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(Trunk.name, Trunk.host),
                sortable={"id": Trunk.id, "name": Trunk.name, "priority": Trunk.priority},
                default_sort=Trunk.id,
            )

    async def get(self, principal: Principal, domain_id: int, trunk_id: int) -> Trunk:
        principal.require(Permission.DEVICES_READ)
        async with self.db.transaction() as session:
            return await _load(session, domain_id, trunk_id)

    async def update(
        self, principal: Principal, domain_id: int, trunk_id: int, spec: TrunkSpec, *, partial: bool
    ) -> Trunk:
        principal.require(Permission.DEVICES_WRITE)
        given = spec.model_fields_set if partial else set(_PLAIN_FIELDS) | spec.model_fields_set
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            trunk = await _load(session, domain_id, trunk_id)
            if spec.name is not None:
                trunk.name = spec.name
            if not partial and not spec.host:
                raise InvalidInput("a trunk needs a host")
            self._apply(trunk, spec, given)
            if "numbers" in given or not partial:
                await self._numbers(session, trunk, spec.numbers or [])
            trunk.updated_at = now_ms()
            await flush(session)
            return await _load(session, domain_id, trunk.id)

    async def delete(self, principal: Principal, domain_id: int, trunk_id: int) -> Trunk:
        principal.require(Permission.DEVICES_WRITE)
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            trunk = await _load(session, domain_id, trunk_id)
            await session.delete(trunk)
            return trunk

    def _apply(self, trunk: Trunk, spec: TrunkSpec, fields: set[str]) -> None:
        for name in _PLAIN_FIELDS:
            if name in fields:
                setattr(trunk, name, getattr(spec, name))
        if "password" in fields:
            trunk.secret = self.secrets.seal(spec.password) if spec.password else None

    async def _numbers(
        self, session: AsyncSession, trunk: Trunk, numbers: list[InboundNumber]
    ) -> None:
        seen: set[str] = set()
        for entry in numbers:
            if entry.number in seen:
                raise InvalidInput(f"number {entry.number} is listed twice")
            seen.add(entry.number)
            if entry.user_id is not None:
                user = await session.get(User, entry.user_id)
                if user is None or user.domain_id != trunk.domain_id:
                    raise InvalidInput(f"user {entry.user_id} not found", id="app.user.not_found")
        taken = await session.scalar(
            select(TrunkNumber.number).where(
                TrunkNumber.domain_id == trunk.domain_id,
                TrunkNumber.number.in_(seen),
                TrunkNumber.trunk_id != trunk.id,
            )
        )
        if taken is not None:
            raise Conflict(f"number {taken} belongs to another trunk", id="app.trunk.number_taken")
        await session.execute(delete(TrunkNumber).where(TrunkNumber.trunk_id == trunk.id))
        for entry in numbers:
            session.add(
                TrunkNumber(
                    domain_id=trunk.domain_id,
                    trunk_id=trunk.id,
                    number=entry.number,
                    user_id=entry.user_id,
                )
            )


async def _load(session: AsyncSession, domain_id: int, trunk_id: int) -> Trunk:
    session.expire_all()
    trunk = await session.scalar(
        select(Trunk).where(Trunk.id == trunk_id, Trunk.domain_id == domain_id).options(*TRUNK_LOAD)
    )
    if trunk is None:
        raise NotFound(f"trunk {trunk_id} not found", id="app.trunk.not_found")
    return trunk
