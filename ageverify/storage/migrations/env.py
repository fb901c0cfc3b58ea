"""Alembic's entry point: runs the revisions against the models' metadata."""

from ageverify.storage.schema import run_migrations

run_migrations()
