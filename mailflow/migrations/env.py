"""Alembic environment: runs migrations on the engine mailflow hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from mailflow.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):  # pragma: no cover - only mailflow.db calls us
    raise RuntimeError("mailflow migrations run through mailflow.db.upgrade()")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
