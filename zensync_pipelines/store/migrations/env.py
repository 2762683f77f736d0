"""Alembic environment. zensync keeps its own version table so it never collides with a user's Alembic."""

from alembic import context

from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.migrate import VERSION_TABLE
from zensync_pipelines.store.tables import metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with make_engine(config.get_main_option("sqlalchemy.url")).begin() as connection:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      version_table=VERSION_TABLE, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
