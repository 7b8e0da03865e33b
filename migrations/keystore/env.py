"""Alembic environment of the key store: always run on a connection handed in by
`amanat.core.migrations` (its own database, its own `alembic_version`)."""

from __future__ import annotations

from alembic import context

from amanat.schema import keystore_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations with `amanat db upgrade`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=keystore_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
