"""Alembic environment: the URL comes from the caller (nbsupport.db.migrate), never from alembic.ini."""

from __future__ import annotations

from alembic import context

from nbsupport.db import rollup_models  # noqa: F401  (registers the rollup tables on Base.metadata)
from nbsupport.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through nbsupport.db.migrate.upgrade(), which passes a connection")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
