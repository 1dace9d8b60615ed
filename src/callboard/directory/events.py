"""What the directory tells the rest of the node after a change commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from callboard.store.database import publish_after_commit


@dataclass(frozen=True, slots=True)
class DirectoryChanged:
    """Devices, users or trunks of this domain changed: telephony's view is stale."""

    domain_id: int


def directory_changed(session: AsyncSession, domain_id: int) -> None:
    publish_after_commit(session, DirectoryChanged(domain_id))
