"""What a fresh installation needs so a newcomer can log in: a domain, its root
administrator, a license, an admin token, and (optionally) two demo users with phones."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callboard.clock import now_ms
from callboard.directory.devices import set_password
from callboard.directory.domains import create_domain
from callboard.directory.licenses import CALL_CENTER, new_license
from callboard.directory.permissions import ADMIN_ROLE_ID, USER_ROLE_ID
from callboard.directory.tokens import INTEGRATION, issue
from callboard.security.passwords import hash_password
from callboard.security.tokens import new_password
from callboard.store.database import Database
from callboard.store.models import Device, Domain, Role, User

DEMO_USERS = (("alice", "Alice Demo", "1001"), ("bob", "Bob Demo", "1002"))


@dataclass
class DemoUser:
    username: str
    extension: str
    password: str
    sip_account: str
    sip_password: str


@dataclass
class NewDomain:
    """What was made, with the secrets that are shown this once and never stored in clear."""

    domain_id: int
    domain: str
    admin_username: str
    admin_password: str
    admin_token: str
    license_id: str
    demo_users: list[DemoUser] = field(default_factory=list)


async def is_fresh(db: Database) -> bool:
    async with db.transaction() as session:
        return not await session.scalar(select(func.count()).select_from(Domain))


async def create_tenant(
    db: Database,
    name: str,
    *,
    admin_username: str = "admin",
    admin_password: str | None = None,
    admin_token: str | None = None,
    root: bool = False,
    demo: bool = False,
    seats: int = 100,
) -> NewDomain:
    """A domain with its first administrator, a license and an admin token, in one transaction."""
    admin_password = admin_password or new_password()
    async with db.transaction() as session:
        domain = await create_domain(session, name)
        license = new_license(domain.id, CALL_CENTER, seats, None, [])
        session.add(license)
        admin = await _user(
            session, domain.id, admin_username, "Administrator", None, admin_password, ADMIN_ROLE_ID
        )
        admin.is_root = root
        token = issue(session, admin, INTEGRATION, "bootstrap", by=admin.id, token=admin_token)
        made = NewDomain(
            domain.id, domain.name, admin_username, admin_password, token.token, license.id
        )
        if demo:
            for username, display, extension in DEMO_USERS:
                password = new_password()
                user = await _user(
                    session, domain.id, username, display, extension, password, USER_ROLE_ID
                )
                user.licenses = [license]
                sip_password = new_password()
                await _device(session, domain.name, user, extension, sip_password)
                made.demo_users.append(
                    DemoUser(username, extension, password, extension, sip_password)
                )
        return made


async def _user(
    session: AsyncSession,
    domain_id: int,
    username: str,
    name: str,
    extension: str | None,
    password: str,
    role_id: int,
) -> User:
    now = now_ms()
    role = await session.get(Role, role_id)
    user = User(
        domain_id=domain_id,
        username=username,
        name=name,
        extension=extension,
        password_hash=hash_password(password),
        created_at=now,
        updated_at=now,
        roles=[role] if role else [],
        licenses=[],
    )
    session.add(user)
    await session.flush()
    return user


async def _device(
    session: AsyncSession, realm: str, user: User, account: str, password: str
) -> Device:
    now = now_ms()
    device = Device(
        domain_id=user.domain_id,
        name=f"{user.name} phone",
        account=account,
        user_id=user.id,
        created_at=now,
        created_by_id=user.id,
        updated_at=now,
        updated_by_id=user.id,
    )
    set_password(device, realm, account, password)
    session.add(device)
    await session.flush()
    user.default_device_id = device.id
    return device
