"""Alembic environment: migrations run on a connection handed over by `Database.migrate()`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from callboard.store.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `callboard migrate` or Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
