"""Alembic migrations of the issuer's schema; see ``ageverify.storage.schema``."""
