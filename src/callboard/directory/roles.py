"""Roles of a domain: the system roles, plus custom ones an administrator defines."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callboard.directory.common import ListQuery, fetch_page, flush
from callboard.directory.permissions import ALL_PERMISSIONS, SYSTEM_ROLE_IDS, Permission
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput, NotFound, PermissionDenied
from callboard.store.database import Database
from callboard.store.models import Role


class RoleSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    permissions: list[str] | None = None

    @field_validator("permissions")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - set(ALL_PERMISSIONS))
        if unknown:
            raise ValueError(f"unknown permissions {unknown}; known: {sorted(ALL_PERMISSIONS)}")
        return sorted(set(value))


class RoleService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(
        self, principal: Principal, domain_id: int, query: ListQuery
    ) -> tuple[list[Role], bool]:
        principal.require(Permission.ROLES_READ)
        statement = select(Role).where((Role.domain_id == domain_id) | Role.domain_id.is_(None))
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(Role.name, Role.description),
                sortable={"id": Role.id, "name": Role.name},
                default_sort=Role.id,
            )

    async def get(self, principal: Principal, domain_id: int, role_id: int) -> Role:
        principal.require(Permission.ROLES_READ)
        async with self.db.transaction() as session:
            return await _load(session, domain_id, role_id)

    async def create(self, principal: Principal, domain_id: int, spec: RoleSpec) -> Role:
        principal.require(Permission.ROLES_WRITE)
        if not spec.name:
            raise InvalidInput("a role needs a name")
        async with self.db.transaction() as session:
            role = Role(
                domain_id=domain_id,
                name=spec.name,
                description=spec.description or "",
                permissions=spec.permissions or [],
            )
            session.add(role)
            await flush(session)
            return role

    async def update(
        self, principal: Principal, domain_id: int, role_id: int, spec: RoleSpec
    ) -> Role:
        principal.require(Permission.ROLES_WRITE)
        async with self.db.transaction() as session:
            role = await _custom(session, domain_id, role_id)
            if spec.name is not None:
                role.name = spec.name
            if spec.description is not None:
                role.description = spec.description
            if spec.permissions is not None:
                role.permissions = spec.permissions
            await flush(session)
            return role

    async def delete(self, principal: Principal, domain_id: int, role_id: int) -> Role:
        principal.require(Permission.ROLES_WRITE)
        async with self.db.transaction() as session:
            role = await _custom(session, domain_id, role_id)
            await session.delete(role)
            return role


async def _load(session: AsyncSession, domain_id: int, role_id: int) -> Role:
    role = await session.get(Role, role_id)
    if role is None or role.domain_id not in (None, domain_id):
        raise NotFound(f"role {role_id} not found", id="app.role.not_found")
    return role


async def _custom(session: AsyncSession, domain_id: int, role_id: int) -> Role:
    role = await _load(session, domain_id, role_id)
    if role.id in SYSTEM_ROLE_IDS:
        raise PermissionDenied("system roles cannot be changed")
    return role
