"""Alembic environment of the app store, run from data_access.app_store (no alembic.ini).

data_access.app_store.alembic_config() builds the Config in code and, when it upgrades,
passes the open connection as ``config.attributes["connection"]``. Without one (an ad-hoc
``command`` call), the URL in ``sqlalchemy.url`` is used.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        # SQLite cannot ALTER most things: later revisions use op.batch_alter_table.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
