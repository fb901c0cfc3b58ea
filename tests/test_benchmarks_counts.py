"""The counts benchmark, run small on its own PostgreSQL server, without judging any figure."""

from __future__ import annotations

import os
import re

import pytest

from benchmarks import counts
from tests.pg import PostgresUnavailable  # the module the benchmark starts its server with

ROW = re.compile(r"^(?P<name>.+?)\s+(?P<measured>[\d.]+)us\s+(?P<floor>[\d.]+)us\s+[\d.]+\s+-\s*$")


def test_a_small_run_prints_both_rows_and_counts_every_issuance() -> None:
    arguments = ["--quick", "--count", "24", "--processes", "3", "--commit-ms", "1"]
    try:
        # Raises when the counts do not add up to the issuances.
        lines = counts.measure(arguments).splitlines()
    except PostgresUnavailable as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    rows = [ROW.match(line) for line in lines[2:]]
    assert all(rows), lines
    assert [row["name"].strip() for row in rows if row] == [
        "issuance, 32 shards per fact, 1 ms commits",
        "issuance, one row per fact, 1 ms commits",
    ]
    assert all(float(row["measured"]) > 0 and float(row["floor"]) > 0 for row in rows if row)
