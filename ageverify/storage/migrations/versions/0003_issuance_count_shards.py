"""Issuance counts get a shard: a fact's count per day is the sum of its rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Existing counts become shard 0. Going back adds each fact's shards into one
row, so no count is lost either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FACT = ("day", "method", "threshold", "over")


def upgrade() -> None:
    # On SQLite a new primary key means a copy of the table, which nothing
    # refers to; PostgreSQL alters it in place.
    with op.batch_alter_table("issuance_counts") as table:
        table.add_column(sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False))
        table.drop_constraint("pk_issuance_counts", type_="primary")
        table.create_primary_key("pk_issuance_counts", [*_FACT, "shard"])


def downgrade() -> None:
    columns = ", ".join(_FACT)
    # Each fact's total as a row of shard -1, then only those rows kept, as shard 0.
    op.execute(
        f"INSERT INTO issuance_counts ({columns}, shard, count) "  # noqa: S608 - constants
        f"SELECT {columns}, -1, sum(count) FROM issuance_counts GROUP BY {columns}"
    )
    op.execute("DELETE FROM issuance_counts WHERE shard <> -1")
    op.execute("UPDATE issuance_counts SET shard = 0")
    with op.batch_alter_table("issuance_counts") as table:
        table.drop_constraint("pk_issuance_counts", type_="primary")
        table.create_primary_key("pk_issuance_counts", list(_FACT))
        table.drop_column("shard")
