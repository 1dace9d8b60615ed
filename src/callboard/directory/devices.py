"""SIP devices: the accounts phones register with."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.common import ListQuery, Ref, fetch_page, flush
from callboard.directory.events import directory_changed
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import Conflict, InvalidInput, NotFound
from callboard.sip.digest import compute_ha1
from callboard.store.database import Database
from callboard.store.models import Device, Domain, User

# RFC 3261 `user`: unreserved and user-unreserved characters, without escapes.
_ACCOUNT = re.compile(r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,100}$")

DEVICE_LOAD = (
    selectinload(Device.user),
    selectinload(Device.created_by),
    selectinload(Device.updated_by),
)


class DeviceSpec(BaseModel):
    """The writable fields of a device. Unknown fields (hotdesks, provision...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=200)
    account: str | None = None
    password: str | None = Field(default=None, min_length=6, max_length=128)
    user: Ref | None = None
    brand: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    mac: str | None = Field(default=None, max_length=32)
    ip: str | None = Field(default=None, max_length=64)
    hotdesk: bool = False

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(value):
            raise ValueError("an account is 1 to 100 characters allowed in a SIP user name")
        return value

    @field_validator("user", mode="before")
    @classmethod
    def _empty_user(cls, value: Any) -> Any:
        # `"user": {}` means no owner, as the engine shows it.
        return None if value == {} else value


class DeviceService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, principal: Principal, domain_id: int, spec: DeviceSpec) -> Device:
        principal.require(Permission.DEVICES_WRITE)
        if not spec.name or not spec.account or not spec.password:
            raise InvalidInput("a device needs a name, an account and a password")
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            domain = await _domain(session, domain_id)
            now = now_ms()
            device = Device(
                domain_id=domain_id,
                name=spec.name,
                account=spec.account,
                created_at=now,
                created_by_id=principal.user_id,
                updated_at=now,
                updated_by_id=principal.user_id,
            )
            set_password(device, domain.name, spec.account, spec.password)
            await _apply(session, device, spec, domain_id)
            await _check_account_free(session, domain_id, spec.account, None)
            session.add(device)
            await flush(session)
            return await _load(session, domain_id, device.id)

    async def get(self, principal: Principal, domain_id: int, device_id: int) -> Device:
        async with self.db.transaction() as session:
            device = await _load(session, domain_id, device_id)
            if not principal.can(Permission.DEVICES_READ) and device.user_id != principal.user_id:
                raise NotFound(f"device {device_id} not found", id="app.device.not_found")
            return device

    async def search(
        self, principal: Principal, domain_id: int, query: ListQuery, *, user_id: int | None = None
    ) -> tuple[list[Device], bool]:
        statement = select(Device).where(Device.domain_id == domain_id).options(*DEVICE_LOAD)
        if not principal.can(Permission.DEVICES_READ):
            statement = statement.where(Device.user_id == principal.user_id)
        if user_id is not None:
            statement = statement.where(Device.user_id == user_id)
        async with self.db.transaction() as session:
            return await fetch_page(
                session,
                statement,
                query,
                search=(Device.name, Device.account),
                sortable={"id": Device.id, "name": Device.name, "account": Device.account},
                default_sort=Device.id,
            )

    async def update(
        self,
        principal: Principal,
        domain_id: int,
        device_id: int,
        spec: DeviceSpec,
        *,
        partial: bool,
    ) -> Device:
        principal.require(Permission.DEVICES_WRITE)
        given = spec.model_fields_set
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            device = await _load(session, domain_id, device_id)
            domain = await _domain(session, domain_id)
            if not partial and (not spec.name or not spec.account):
                raise InvalidInput("a device needs a name and an account")
            account = spec.account if spec.account is not None else device.account
            if account != device.account:
                if spec.password is None:
                    raise InvalidInput("changing the account needs the password too")
                await _check_account_free(session, domain_id, account, device.id)
                device.account = account
            if spec.password is not None:
                set_password(device, domain.name, account, spec.password)
            if spec.name is not None:
                device.name = spec.name
            if not partial or "user" in given:
                await _apply_owner(session, device, spec.user, domain_id)
            for key in ("brand", "model", "mac", "ip", "hotdesk"):
                if not partial or key in given:
                    setattr(device, key, getattr(spec, key))
            device.updated_at = now_ms()
            device.updated_by_id = principal.user_id
            await flush(session)
            return await _load(session, domain_id, device.id)

    async def delete(self, principal: Principal, domain_id: int, device_id: int) -> Device:
        principal.require(Permission.DEVICES_WRITE)
        async with self.db.transaction() as session:
            directory_changed(session, domain_id)
            device = await _load(session, domain_id, device_id)
            await session.delete(device)
            return device


async def find_devices(session: AsyncSession, domain_id: int, ids: list[int]) -> list[Device]:
    """The devices with `ids` in the domain, in the order given; an unknown id is an error."""
    rows = await session.scalars(
        select(Device).where(Device.domain_id == domain_id, Device.id.in_(ids))
    )
    found = {device.id: device for device in rows}
    for device_id in ids:
        if device_id not in found:
            raise InvalidInput(f"device {device_id} not found", id="app.device.not_found")
    return [found[device_id] for device_id in ids]


async def _domain(session: AsyncSession, domain_id: int) -> Domain:
    domain = await session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found", id="app.domain.not_found")
    return domain


def set_password(device: Device, realm: str, account: str, password: str) -> None:
    device.ha1_md5 = compute_ha1(account, realm, password, "MD5")
    device.ha1_sha256 = compute_ha1(account, realm, password, "SHA-256")


async def _apply(session: AsyncSession, device: Device, spec: DeviceSpec, domain_id: int) -> None:
    for key in ("brand", "model", "mac", "ip", "hotdesk"):
        setattr(device, key, getattr(spec, key))
    await _apply_owner(session, device, spec.user, domain_id)


async def _apply_owner(
    session: AsyncSession, device: Device, owner: Ref | None, domain_id: int
) -> None:
    if owner is None:
        device.user_id = None
        return
    user = await session.get(User, owner.id)
    if user is None or user.domain_id != domain_id:
        raise InvalidInput(f"user {owner.id} not found", id="app.user.not_found")
    device.user_id = user.id


async def _check_account_free(
    session: AsyncSession, domain_id: int, account: str, except_id: int | None
) -> None:
    statement = select(func.count()).where(Device.domain_id == domain_id, Device.account == account)
    if except_id is not None:
        statement = statement.where(Device.id != except_id)
    if await session.scalar(statement):
        raise Conflict(f"a device with account {account!r} already exists", id="app.device.exists")


async def _load(session: AsyncSession, domain_id: int, device_id: int) -> Device:
    # Reload from the database: what this transaction changed, with relations freshly loaded.
    session.expire_all()
    device = await session.scalar(
        select(Device)
        .where(Device.id == device_id, Device.domain_id == domain_id)
        .options(*DEVICE_LOAD)
    )
    if device is None:
        raise NotFound(f"device {device_id} not found", id="app.device.not_found")
    return device
