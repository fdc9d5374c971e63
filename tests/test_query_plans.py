"""Lookups on the paths every message takes use an index, so their cost does not grow
with the members or the stored mail: read from SQLite's query planner, and on
PostgreSQL from the indexes the schema has."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, inspect, select, text

from mailflow import ingest, late, sentmail
from mailflow.app import App
from mailflow.models import Member


def _plan(app: App, query: Select[Any]) -> str:
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


def test_the_flood_limit_counts_one_sender_through_an_index(app: App) -> None:
    query = ingest.flood_count("member:7", since=app.now() - timedelta(minutes=1), before_id=1000)
    if app.engine.dialect.name == "sqlite":
        plan = _plan(app, query)
        assert "INDEX ix_inbound_budget (budget=? AND status=? AND received_at>?)" in plan, plan
        assert "SCAN" not in plan, plan
    else:
        indexes = {i["name"]: i["column_names"] for i in inspect(app.engine).get_indexes("inbound")}
        assert indexes["ix_inbound_budget"] == ["budget", "status", "received_at"]


def test_the_mail_a_reply_answers_is_found_by_its_reply_address(app: App) -> None:
    """`sentmail` finds the mail by the signed address it went out with: one indexed
    lookup, not a walk back over the outbox."""
    query = sentmail.NEWEST_WITH_ADDRESS.params(address="x+c1-1-x@example.org")
    if app.engine.dialect.name == "sqlite":
        plan = _plan(app, query)
        assert "USING INDEX ix_outbox_reply_address (reply_address=?)" in plan, plan
        assert "SCAN" not in plan, plan
    else:
        indexes = {i["name"]: i["column_names"] for i in inspect(app.engine).get_indexes("outbox")}
        assert indexes["ix_outbox_reply_address"] == ["reply_address"]


def test_whether_a_meetings_invites_went_out_is_found_through_an_index(app: App) -> None:
    query = late.INVITE_MAILING.params(meeting=3)
    if app.engine.dialect.name == "sqlite":
        plan = _plan(app, query)
        assert "INDEX ix_mailings_meeting_kind (meeting_id=? AND kind=?)" in plan, plan
    else:
        found = inspect(app.engine).get_indexes("mailings")
        indexes = {i["name"]: i["column_names"] for i in found}
        assert indexes["ix_mailings_meeting_kind"] == ["meeting_id", "kind"]
