"""Verifiers get a version, raised by every change to the verifier or its keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Existing verifiers start at version 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "verifiers", sa.Column("version", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later): no copy of the
    # table, which the keys and used attestations referring to it would block.
    op.drop_column("verifiers", "version")
