"""The Alembic migrations build exactly the schema the models describe, on both back ends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from callboard.config import Settings
from callboard.store.database import Database
from callboard.store.models import Base


async def test_migrations_match_models(settings: Settings) -> None:
    db = Database(settings.effective_database_url)
    try:
        await db.migrate()
        await db.migrate()  # a second run is a no-op

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
            roles = (await connection.execute(text("SELECT id, name FROM roles ORDER BY id"))).all()
        assert [tuple(row) for row in roles] == [
            (1, "admin"),
            (2, "supervisor"),
            (3, "agent"),
            (4, "user"),
        ]
    finally:
        await db.close()
