"""Alembic migrations of the issuer's schema; see ``ageverify.storage.schema``."""

# The newest revision in versions/, kept here so that a process starting on a
# database already at it can tell without importing Alembic (some 10 MB per
# worker). A test holds it equal to what Alembic finds.
HEAD = "0003"
