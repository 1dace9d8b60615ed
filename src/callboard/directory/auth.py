"""Authentication: from a token or a username and password to a `Principal`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.licenses import is_valid
from callboard.directory.permissions import Permission, permissions_of
from callboard.directory.principal import Principal
from callboard.directory.tokens import SESSION, issue
from callboard.errors import LicenseRequired, RateLimited, Unauthenticated
from callboard.security.passwords import hash_password, needs_rehash, verify_password
from callboard.security.ratelimit import FailureLimiter
from callboard.security.tokens import token_hash
from callboard.store.database import Database
from callboard.store.models import AccessToken, Domain, User


@dataclass(frozen=True)
class AuthLimits:
    failures_per_account: int = 5
    failures_per_source: int = 20
    window_seconds: int = 300
    session_ttl_seconds: int = 12 * 3600


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: int
    principal: Principal


class Authenticator:
    """Checks tokens and passwords, and counts failures per source and per account."""

    def __init__(self, db: Database, limits: AuthLimits, default_domain: str) -> None:
        self.db = db
        self.limits = limits
        self.default_domain = default_domain
        self._by_source = FailureLimiter(limits.failures_per_source, limits.window_seconds)
        self._by_account = FailureLimiter(limits.failures_per_account, limits.window_seconds)

    async def authenticate(self, token: str, source: str) -> Principal:
        """The principal behind `token`; wrong, revoked and expired tokens all look the same."""
        self._check_limit(self._by_source, f"source:{source}")
        digest = token_hash(token)
        now = now_ms()
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(AccessToken)
                .where(AccessToken.token_hash == digest)
                .options(
                    selectinload(AccessToken.user).selectinload(User.roles),
                    selectinload(AccessToken.user).selectinload(User.licenses),
                )
            )
            valid = (
                row is not None
                and hmac.compare_digest(row.token_hash, digest)
                and row.revoked_at is None
                and (row.expires_at is None or row.expires_at > now)
                and row.user.enabled
            )
            if not valid or row is None:
                self._by_source.failed(f"source:{source}")
                raise Unauthenticated("the token is invalid, expired or revoked")
            domain = await session.get(Domain, row.domain_id)
            if domain is None or not domain.enabled:
                raise Unauthenticated("the token is invalid, expired or revoked")
            return _principal(row.user, domain, row, token, now)

    async def login(
        self, username: str, password: str, domain_name: str | None, source: str
    ) -> Session:
        """Check a password and open a session. `username` may be `user@domain`, or a
        user's e-mail address (what the VoIPstudio-style `Cti.Connector` logs in with):
        when no user has that name, the one user whose e-mail it is (in the given domain,
        or in all of them when it names exactly one user)."""
        identifier, explicit_domain = username, domain_name
        if domain_name is None and "@" in username:
            username, _, domain_name = username.rpartition("@")
        domain_name = (domain_name or self.default_domain).strip().lower()
        account_key = f"account:{domain_name}/{username}"
        source_key = f"source:{source}"
        self._check_limit(self._by_source, source_key)
        self._check_limit(self._by_account, account_key)
        now = now_ms()
        async with self.db.transaction() as session:
            user = await session.scalar(
                select(User)
                .join(Domain, Domain.id == User.domain_id)
                .where(Domain.name == domain_name, User.username == username)
                .options(selectinload(User.roles), selectinload(User.licenses))
            )
            if user is None and "@" in identifier:
                user = await _user_by_email(session, identifier, explicit_domain)
            ok = verify_password(user.password_hash if user else None, password)
            if not ok or user is None or not user.enabled:
                self._by_source.failed(source_key)
                self._by_account.failed(account_key)
                raise Unauthenticated("wrong username or password", id="app.auth.bad_credentials")
            self._by_account.succeeded(account_key)
            domain = await session.get(Domain, user.domain_id)
            if domain is None or not domain.enabled:
                raise Unauthenticated("wrong username or password", id="app.auth.bad_credentials")
            if user.password_hash and needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            expires_at = now + self.limits.session_ttl_seconds * 1000
            issued = issue(session, user, SESSION, "login", by=user.id, expires_at=expires_at)
            await session.flush()
            principal = _principal(user, domain, issued.row, issued.token, now)
            return Session(issued.token, expires_at, principal)

    def _check_limit(self, limiter: FailureLimiter, key: str) -> None:
        retry_after = limiter.retry_after(key)
        if retry_after:
            raise RateLimited(
                f"too many failed attempts; try again in {retry_after} s", retry_after=retry_after
            )


async def _user_by_email(session: AsyncSession, email: str, domain_name: str | None) -> User | None:
    """The user whose e-mail address is `email` (case does not matter), in `domain_name`
    or, without one, anywhere; None when nobody or several users have it."""
    statement = (
        select(User)
        .where(func.lower(User.email) == email.strip().lower())
        .options(selectinload(User.roles), selectinload(User.licenses))
        .limit(2)
    )
    if domain_name is not None:
        statement = statement.join(Domain, Domain.id == User.domain_id).where(
            Domain.name == domain_name.strip().lower()
        )
    users = list(await session.scalars(statement))
    return users[0] if len(users) == 1 else None


def _principal(user: User, domain: Domain, row: AccessToken, token: str, now: int) -> Principal:
    permissions: frozenset[Permission] = frozenset().union(
        *(permissions_of(role.id, role.permissions) for role in user.roles)
    )
    principal = Principal(
        user_id=user.id,
        domain_id=domain.id,
        domain_name=domain.name,
        username=user.username,
        name=user.name,
        extension=user.extension,
        is_root=user.is_root,
        role_ids=tuple(sorted(role.id for role in user.roles)),
        permissions=permissions,
        token_id=row.id,
        token=token,
        expires_at=row.expires_at,
        licensed=any(is_valid(license, now) for license in user.licenses),
    )
    if not principal.licensed and not principal.is_admin:
        raise LicenseRequired("the user has no valid product license")
    return principal
