"""Alembic migrations for the mailflow schema."""
