"""Access tokens: integration tokens made over the API, and session tokens made by a login."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from callboard.clock import now_ms
from callboard.directory.common import ListQuery, fetch_page
from callboard.directory.permissions import Permission
from callboard.directory.principal import Principal
from callboard.errors import NotFound
from callboard.security.tokens import new_token, token_hash
from callboard.store.database import Database, publish_after_commit
from callboard.store.models import AccessToken, User

INTEGRATION = "integration"
SESSION = "session"

TOKEN_LOAD = (
    selectinload(AccessToken.user),
    selectinload(AccessToken.created_by),
    selectinload(AccessToken.updated_by),
)


class TokenSpec(BaseModel):
    """`{"token": "", "usage": "integration app"}`: the server always makes the token itself."""

    model_config = ConfigDict(extra="ignore")

    token: str | None = None
    usage: str = Field(default="", max_length=200)


@dataclass(frozen=True, slots=True)
class TokensRevoked:
    """These tokens no longer open anything: live connections made with them close."""

    token_ids: frozenset[str]


@dataclass(frozen=True)
class IssuedToken:
    """A token row and, once only, the token itself."""

    row: AccessToken
    token: str


class TokenService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, principal: Principal, domain_id: int, user_id: int, spec: TokenSpec
    ) -> IssuedToken:
        _may_manage(principal, domain_id, user_id)
        async with self.db.transaction() as session:
            user = await _user(session, domain_id, user_id)
            issued = issue(session, user, INTEGRATION, spec.usage, by=principal.user_id)
            await session.flush()
            return IssuedToken(await _load(session, user_id, issued.row.id), issued.token)

    async def search(
        self, principal: Principal, domain_id: int, user_id: int, query: ListQuery
    ) -> tuple[list[AccessToken], bool]:
        _may_manage(principal, domain_id, user_id)
        statement = (
            select(AccessToken)
            .where(
                AccessToken.domain_id == domain_id,
                AccessToken.user_id == user_id,
                AccessToken.kind == INTEGRATION,
                AccessToken.revoked_at.is_(None),
            )
            .options(*TOKEN_LOAD)
        )
        async with self.db.transaction() as session:
            await _user(session, domain_id, user_id)
            return await fetch_page(
                session,
                statement,
                query,
                search=(AccessToken.usage,),
                sortable={"created_at": AccessToken.created_at, "usage": AccessToken.usage},
                default_sort=AccessToken.created_at,
            )

    async def get(
        self, principal: Principal, domain_id: int, user_id: int, token_id: str
    ) -> AccessToken:
        _may_manage(principal, domain_id, user_id)
        async with self.db.transaction() as session:
            return await _load(session, user_id, token_id, domain_id=domain_id)

    async def revoke(
        self, principal: Principal, domain_id: int, user_id: int, token_id: str
    ) -> AccessToken:
        _may_manage(principal, domain_id, user_id)
        async with self.db.transaction() as session:
            row = await _load(session, user_id, token_id, domain_id=domain_id)
            now = now_ms()
            row.revoked_at = now
            publish_after_commit(session, TokensRevoked(frozenset({row.id})))
            row.updated_at = now
            row.updated_by_id = principal.user_id
            return row

    async def revoke_current(self, principal: Principal) -> None:
        async with self.db.transaction() as session:
            row = await session.get(AccessToken, principal.token_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = now_ms()
                publish_after_commit(session, TokensRevoked(frozenset({row.id})))


def issue(
    session: AsyncSession,
    user: User,
    kind: str,
    usage: str,
    *,
    by: int | None,
    expires_at: int | None = None,
    token: str | None = None,
) -> IssuedToken:
    """Add a token for `user` to the session; `token` is given only for the bootstrap token."""
    token = token or new_token()
    now = now_ms()
    row = AccessToken(
        id=str(uuid.uuid4()),
        domain_id=user.domain_id,
        user_id=user.id,
        token_hash=token_hash(token),
        kind=kind,
        usage=usage,
        expires_at=expires_at,
        created_at=now,
        created_by_id=by,
        updated_at=now,
        updated_by_id=by,
    )
    session.add(row)
    return IssuedToken(row, token)


def _may_manage(principal: Principal, domain_id: int, user_id: int) -> None:
    """Anyone manages their own tokens; others' need `tokens:write`."""
    if user_id != principal.user_id or domain_id != principal.domain_id:
        principal.require(Permission.TOKENS_WRITE)


async def _user(session: AsyncSession, domain_id: int, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None or user.domain_id != domain_id:
        raise NotFound(f"user {user_id} not found", id="app.user.not_found")
    return user


async def _load(
    session: AsyncSession, user_id: int, token_id: str, *, domain_id: int | None = None
) -> AccessToken:
    # Reload from the database: what this transaction changed, with relations freshly loaded.
    session.expire_all()
    statement = select(AccessToken).where(
        AccessToken.id == token_id,
        AccessToken.user_id == user_id,
        AccessToken.kind == INTEGRATION,
        AccessToken.revoked_at.is_(None),
    )
    if domain_id is not None:
        statement = statement.where(AccessToken.domain_id == domain_id)
    row = await session.scalar(statement.options(*TOKEN_LOAD))
    if row is None:
        raise NotFound(f"token {token_id} not found", id="app.token.not_found")
    return row
