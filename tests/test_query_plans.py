"""Lookups on the paths every message takes use an index, so their cost does not grow
with the members or the stored mail: read from SQLite's query planner, and on
PostgreSQL from the indexes the schema has."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, func, inspect, select, text

from mailflow.app import App
from mailflow.models import InboundMessage, Member


def _plan(app: App, query: Select[tuple[int]]) -> str:
    """SQLite's plan for `query`, one line per step."""
    compiled = query.compile(app.engine, compile_kwargs={"literal_binds": True})
    with app.engine.connect() as conn:
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_a_member_is_found_by_address_through_an_index(app: App) -> None:
    query = select(Member.id).where(func.lower(Member.email) == "jane@school.example")
    if app.engine.dialect.name == "sqlite":
        assert "USING INDEX ix_members_email_lower" in _plan(app, query)
    else:
        names = {index["name"] for index in inspect(app.engine).get_indexes("members")}
        assert "ix_members_email_lower" in names


def test_the_flood_limit_looks_only_at_the_last_minute(app: App) -> None:
    now = app.now()
    query = select(InboundMessage.id).where(
        InboundMessage.status == "processed",
        InboundMessage.received_at >= now - timedelta(minutes=1),
        InboundMessage.id < 1000,
    )
    if app.engine.dialect.name == "sqlite":
        assert "USING INDEX" in _plan(app, query)
    else:
        columns = {c for index in inspect(app.engine).get_indexes("inbound")
                   for c in index["column_names"]}  # fmt: skip
        assert {"received_at", "status"} <= columns
