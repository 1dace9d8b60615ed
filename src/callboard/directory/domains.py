"""Domains (tenants). Only the root administrator creates, changes or removes them."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callboard.clock import now_ms
from callboard.directory.common import ListQuery, fetch_page, flush
from callboard.directory.events import directory_changed
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, NotFound
from callboard.store.database import Database
from callboard.store.models import Domain

_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class DomainSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _NAME.match(value):
            raise ValueError("a domain name is a DNS-like name such as my-company.lo")
        return value


class DomainService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, principal: Principal, spec: DomainSpec) -> Domain:
        principal.require_root()
        if not spec.name:
            raise InvalidInput("a domain needs a name")
        async with self.db.transaction() as session:
            return await create_domain(session, spec.name, spec.description or "")

    async def get(self, principal: Principal, domain_id: int) -> Domain:
        if domain_id != principal.domain_id:
            principal.require_root()
        async with self.db.transaction() as session:
            return await _load(session, domain_id)

    async def search(self, principal: Principal, query: ListQuery) -> tuple[list[Domain], bool]:
        statement = select(Domain)
        if not principal.is_root:
            statement = statement.where(Domain.id == principal.domain_id)
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(Domain.name, Domain.description),
                sortable={"id": Domain.id, "name": Domain.name},
                default_sort=Domain.id,
            )

    async def update(self, principal: Principal, domain_id: int, spec: DomainSpec) -> Domain:
        principal.require_root()
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            domain = await _load(session, domain_id)
            if spec.name is not None and spec.name != domain.name:
                # The name is the SIP realm every stored digest HA1 was computed with.
                raise InvalidInput("a domain cannot be renamed: it is its devices' SIP realm")
            if spec.description is not None:
                domain.description = spec.description
            if spec.enabled is not None:
                if domain_id == principal.domain_id and not spec.enabled:
                    raise Conflict("you cannot disable your own domain")
                domain.enabled = spec.enabled
            domain.updated_at = now_ms()
            return domain

    async def delete(self, principal: Principal, domain_id: int) -> Domain:
        principal.require_root()
        if domain_id == principal.domain_id:
            raise Conflict("you cannot delete your own domain", id="app.domain.delete_self")
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            domain = await _load(session, domain_id)
            await session.delete(domain)
            return domain


async def create_domain(session: AsyncSession, name: str, description: str = "") -> Domain:
    if await session.scalar(select(Domain.id).where(Domain.name == name)) is not None:
        raise Conflict(f"domain {name!r} already exists", id="app.domain.exists")
    now = now_ms()
    domain = Domain(name=name, description=description, created_at=now, updated_at=now)
    session.add(domain)
    await flush(session)
    return domain


async def _load(session: AsyncSession, domain_id: int) -> Domain:
    domain = await session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found", id="app.domain.not_found")
    return domain
