"""The phone book of a domain: its enabled users that have an extension, by name. What
any user of the domain may see (the demo CRM page's contact list), unlike the user
records themselves, which need `users:read`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from callboard.store.database import Database
from callboard.store.models import User


@dataclass(frozen=True, slots=True)
class Entry:
    user_id: int
    name: str
    extension: str


async def phone_book(db: Database, domain_id: int, *, limit: int = 500) -> list[Entry]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(User.id, User.name, User.username, User.extension)
            .where(User.domain_id == domain_id, User.enabled, User.extension.is_not(None))
            .order_by(User.name, User.id)
            .limit(limit)
        )
        return [
            Entry(user_id, name or username, extension)
            for user_id, name, username, extension in rows
            if extension
        ]
