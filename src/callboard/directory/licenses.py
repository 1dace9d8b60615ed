"""Product licenses: a domain's seats of a product, valid until they expire.

A user without a valid license cannot log in or use the real-time API; administrators
can always manage their domain, so that a lapsed license can be fixed.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from callboard.clock import now_ms
from callboard.directory.common import Id
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import InvalidInput, NotFound
from callboard.store.database import Database
from callboard.store.models import Domain, License, UserLicense

CALL_CENTER = "CALL_CENTER"
YEAR_MS = 365 * 24 * 3600 * 1000


class LicenseSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prod: str = Field(default=CALL_CENTER, min_length=1, max_length=64)
    limit: int = Field(default=10, ge=1, le=1_000_000)
    expires_at: Id | None = None
    scope: list[str] = Field(default_factory=list)
    domain_id: Id | None = None


def is_valid(license: License, now: int) -> bool:
    return license.issued_at <= now < license.expires_at


class LicenseService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(self, principal: Principal, spec: LicenseSpec) -> License:
        principal.require_root()
        domain_id = spec.domain_id or principal.domain_id
        now = now_ms()
        if spec.expires_at is not None and spec.expires_at <= now:
            raise InvalidInput("expires_at is in the past")
        async with self.db.transaction() as session:
            if await session.get(Domain, domain_id) is None:
                raise NotFound(f"domain {domain_id} not found", id="app.domain.not_found")
            license = new_license(domain_id, spec.prod, spec.limit, spec.expires_at, spec.scope)
            session.add(license)
            return license

    async def search(self, principal: Principal, domain_id: int) -> list[tuple[License, int]]:
        principal.require(Permission.LICENSES_READ)
        async with self.db.transaction() as session:
            used = (
                select(UserLicense.license_id, func.count().label("used"))
                .group_by(UserLicense.license_id)
                .subquery()
            )
            rows = await session.execute(
                select(License, func.coalesce(used.c.used, 0))
                .outerjoin(used, used.c.license_id == License.id)
                .where(License.domain_id == domain_id)
                .order_by(License.issued_at)
            )
            return [(license, int(count)) for license, count in rows]

    async def revoke(self, principal: Principal, license_id: str) -> None:
        principal.require_root()
        async with self.db.transaction() as session:
            license = await session.get(License, license_id)
            if license is None:
                raise NotFound(f"license {license_id} not found", id="app.license.not_found")
            license.expires_at = now_ms()


def new_license(
    domain_id: int, product: str, seats: int, expires_at: int | None, scope: list[str]
) -> License:
    now = now_ms()
    return License(
        id=str(uuid.uuid4()),
        domain_id=domain_id,
        product=product,
        seats=seats,
        scope=scope,
        issued_at=now,
        expires_at=expires_at or now + YEAR_MS,
    )
