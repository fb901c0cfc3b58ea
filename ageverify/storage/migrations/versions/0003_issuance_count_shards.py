"""Issuance counts move to issuance_count_shards: a fact's count per day is the sum of its rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The counts so far move over as shard 0. The old table stays, empty: pods of
the release before keep counting there while a rolling update replaces
them, and the statistics add its rows in. Going back adds every shard into
the old table, so no count is lost either way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FACT = "day, method, threshold, over"


def upgrade() -> None:
    op.create_table(
        "issuance_count_shards",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("over", sa.Boolean(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "method", "threshold", "over", "shard", name=op.f("pk_issuance_count_shards")
        ),
    )
    op.execute(
        f"INSERT INTO issuance_count_shards ({_FACT}, shard, count) "  # noqa: S608 - constants
        f"SELECT {_FACT}, 0, count FROM issuance_counts"
    )
    op.execute("DELETE FROM issuance_counts")


def downgrade() -> None:
    # Each fact's total, what the old table holds included, as a row of the old table.
    op.execute(
        f"CREATE TEMPORARY TABLE issuance_count_totals AS SELECT {_FACT}, sum(count) AS count "  # noqa: S608
        f"FROM (SELECT {_FACT}, count FROM issuance_count_shards "
        f"UNION ALL SELECT {_FACT}, count FROM issuance_counts) AS rows GROUP BY {_FACT}"
    )
    op.execute("DELETE FROM issuance_counts")
    op.execute(
        f"INSERT INTO issuance_counts ({_FACT}, count) "  # noqa: S608 - constants
        f"SELECT {_FACT}, count FROM issuance_count_totals"
    )
    op.execute("DROP TABLE issuance_count_totals")
    op.drop_table("issuance_count_shards")
