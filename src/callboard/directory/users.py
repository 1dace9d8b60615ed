"""Users: the people who log in, own devices and tokens, and make and take calls."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.common import ListQuery, Ref, StrRef, fetch_page, flush
from callboard.directory.devices import find_devices
from callboard.directory.events import directory_changed
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from callboard.security.passwords import hash_password
from callboard.store.database import Database
from callboard.store.models import Device, License, Role, User, UserLicense

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,99}$")
_EXTENSION = re.compile(r"^[0-9]{1,32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")

USER_LOAD = (
    selectinload(User.roles),
    selectinload(User.licenses),
    selectinload(User.devices),
    selectinload(User.default_device),
    selectinload(User.created_by),
    selectinload(User.updated_by),
)

# The fields a user may change on their own record without `users:write`.
SELF_SERVICE_FIELDS = frozenset({"name", "email", "password"})


class UserSpec(BaseModel):
    """The writable fields of a user.

    The body may be the user itself (seed 000, current protos) or `{"user": {...}}` as the
    published webitel-sdk REST client sends it; `wrapped` remembers which, so the answer can
    come back in the same envelope.
    """

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    username: str | None = None
    password: str | None = Field(default=None, min_length=8, max_length=256)
    extension: str | None = None
    roles: list[Ref] | None = None
    device: Ref | None = None
    devices: list[Ref] | None = None
    license: list[StrRef] | None = None

    _wrapped: bool = PrivateAttr(default=False)

    @property
    def wrapped(self) -> bool:
        return self._wrapped

    @model_validator(mode="wrap")
    @classmethod
    def _unwrap(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> UserSpec:
        wrapped = isinstance(data, dict) and isinstance(data.get("user"), dict)
        if wrapped:
            inner = dict(data["user"])
            if data.get("user_password") and not inner.get("password"):
                inner["password"] = data["user_password"]
            data = inner
        spec: UserSpec = handler(data)
        spec._wrapped = wrapped
        return spec

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is not None and not _USERNAME.match(value):
            raise ValueError("a username is 1 to 100 letters, digits or _ . @ + -")
        return value

    @field_validator("extension", mode="before")
    @classmethod
    def _extension(cls, value: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, str) and not _EXTENSION.match(value):
            raise ValueError("an extension is 1 to 32 digits")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not _EMAIL.match(value):
            raise ValueError("not an e-mail address")
        return value or None

    @field_validator("device", mode="before")
    @classmethod
    def _empty_device(cls, value: Any) -> Any:
        return None if value == {} else value


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, principal: Principal, domain_id: int, spec: UserSpec) -> User:
        principal.require(Permission.USERS_WRITE)
        if not spec.username:
            raise InvalidInput("a user needs a username")
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            now = now_ms()
            user = User(
                domain_id=domain_id,
                username=spec.username,
                name=spec.name or spec.username,
                email=spec.email,
                extension=spec.extension,
                password_hash=hash_password(spec.password) if spec.password else None,
                created_at=now,
                created_by_id=principal.user_id,
                updated_at=now,
                updated_by_id=principal.user_id,
            )
            await _check_unique(session, domain_id, spec.username, spec.extension, None)
            session.add(user)
            await flush(session)
            await _load(session, domain_id, user.id)
            await _apply_relations(session, principal, user, spec, set(spec.model_fields_set))
            await flush(session)
            return await _load(session, domain_id, user.id)

    async def get(self, principal: Principal, domain_id: int, user_id: int) -> User:
        if user_id != principal.user_id or domain_id != principal.domain_id:
            principal.require(Permission.USERS_READ)
        async with self.db.transaction() as session:
            return await _load(session, domain_id, user_id)

    async def search(
        self, principal: Principal, domain_id: int, query: ListQuery
    ) -> tuple[list[User], bool]:
        statement = select(User).where(User.domain_id == domain_id).options(*USER_LOAD)
        if not principal.can(Permission.USERS_READ):
            statement = statement.where(User.id == principal.user_id)
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(User.name, User.username, User.extension, User.email),
                sortable={
                    "id": User.id,
                    "name": User.name,
                    "username": User.username,
                    "extension": User.extension,
                },
                default_sort=User.id,
            )

    async def update(
        self, principal: Principal, domain_id: int, user_id: int, spec: UserSpec, *, partial: bool
    ) -> User:
        given = set(spec.model_fields_set)
        own = user_id == principal.user_id and domain_id == principal.domain_id
        if not principal.can(Permission.USERS_WRITE):
            if not own:
                raise PermissionDenied(f"permission {Permission.USERS_WRITE.value!r} is required")
            if not partial or not given <= SELF_SERVICE_FIELDS:
                raise PermissionDenied("you can change only your name, e-mail and password")
        if not partial and not spec.username:
            raise InvalidInput("a user needs a username")
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            user = await _load(session, domain_id, user_id)
            if user.is_root and not principal.is_root:
                raise PermissionDenied("only the root administrator can change this user")
            fields = given if partial else {"name", "email", "username", "extension"} | given
            username = spec.username if "username" in fields and spec.username else user.username
            extension = spec.extension if "extension" in fields else user.extension
            await _check_unique(session, domain_id, username, extension, user.id)
            user.username = username
            user.extension = extension
            if "name" in fields:
                user.name = spec.name or username
            if "email" in fields:
                user.email = spec.email
            if spec.password:
                user.password_hash = hash_password(spec.password)
            if not partial:
                fields |= {"roles", "devices", "device", "license"}
            await _apply_relations(session, principal, user, spec, fields)
            user.updated_at = now_ms()
            user.updated_by_id = principal.user_id
            await flush(session)
            return await _load(session, domain_id, user.id)

    async def delete(self, principal: Principal, domain_id: int, user_id: int) -> User:
        principal.require(Permission.USERS_WRITE)
        if user_id == principal.user_id:
            raise Conflict("you cannot delete yourself", id="app.user.delete_self")
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            user = await _load(session, domain_id, user_id)
            if user.is_root:
                raise PermissionDenied("the root administrator cannot be deleted")
            await session.execute(
                update(Device).where(Device.user_id == user.id).values(user_id=None)
            )
            await session.delete(user)
            return user


async def _apply_relations(
    session: AsyncSession, principal: Principal, user: User, spec: UserSpec, fields: set[str]
) -> None:
    domain_id = user.domain_id
    if "roles" in fields:
        user.roles = await _roles(session, principal, domain_id, [r.id for r in spec.roles or []])
    if "devices" in fields or "device" in fields:
        wanted = [d.id for d in spec.devices] if "devices" in fields and spec.devices else []
        if "devices" not in fields:
            wanted = [d.id for d in user.devices]
        default = spec.device.id if "device" in fields and spec.device else None
        if "device" not in fields:
            default = user.default_device_id
        if default is not None and default not in wanted:
            wanted.append(default)
        devices = await find_devices(session, domain_id, list(dict.fromkeys(wanted)))
        for device in devices:
            if device.user_id not in (None, user.id):
                raise Conflict(f"device {device.id} belongs to another user", id="app.device.taken")
            device.user_id = user.id
        kept = {device.id for device in devices}
        for device in user.devices:
            if device.id not in kept:
                device.user_id = None
        user.default_device_id = default
    if "license" in fields:
        ids = [ref.id for ref in spec.license or []]
        user.licenses = await _licenses(session, principal, user, ids)


async def _roles(
    session: AsyncSession, principal: Principal, domain_id: int, ids: list[int]
) -> list[Role]:
    if ids and not principal.is_admin:
        raise PermissionDenied("only an administrator can grant roles")
    roles = list(
        await session.scalars(
            select(Role).where(
                Role.id.in_(ids), (Role.domain_id == domain_id) | (Role.domain_id.is_(None))
            )
        )
    )
    missing = set(ids) - {role.id for role in roles}
    if missing:
        raise InvalidInput(f"role {min(missing)} not found", id="app.role.not_found")
    return roles


async def _licenses(
    session: AsyncSession, principal: Principal, user: User, ids: list[str]
) -> list[License]:
    current = {license.id for license in user.licenses}
    if set(ids) != current:
        principal.require(Permission.LICENSES_ASSIGN)
    licenses = list(
        await session.scalars(
            select(License).where(License.id.in_(ids), License.domain_id == user.domain_id)
        )
    )
    missing = set(ids) - {license.id for license in licenses}
    if missing:
        raise InvalidInput(f"license {min(missing)} not found", id="app.license.not_found")
    for license in licenses:
        if license.id in current:
            continue
        used = await session.scalar(
            select(func.count()).where(UserLicense.license_id == license.id)
        )
        if (used or 0) >= license.seats:
            raise Conflict(
                f"license {license.id} has no free seat ({license.seats} in use)",
                id="app.license.no_seats",
            )
    return licenses


async def _check_unique(
    session: AsyncSession,
    domain_id: int,
    username: str,
    extension: str | None,
    except_id: int | None,
) -> None:
    others = select(User.username, User.extension).where(User.domain_id == domain_id)
    if except_id is not None:
        others = others.where(User.id != except_id)
    taken = await session.execute(
        others.where((User.username == username) | (User.extension == extension))
    )
    for other_username, other_extension in taken:
        if other_username == username:
            raise Conflict(f"username {username!r} is taken", id="app.user.username_exists")
        if extension is not None and other_extension == extension:
            raise Conflict(f"extension {extension!r} is taken", id="app.user.extension_exists")


async def _load(session: AsyncSession, domain_id: int, user_id: int) -> User:
    # Reload from the database: what this transaction changed, with relations freshly loaded.
    session.expire_all()
    user = await session.scalar(
        select(User).where(User.id == user_id, User.domain_id == domain_id).options(*USER_LOAD)
    )
    if user is None:
        raise NotFound(f"user {user_id} not found", id="app.user.not_found")
    return user
