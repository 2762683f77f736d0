"""Upgrade zensync's tables to the newest migration (the `zensync db upgrade` command and first use)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "zensync_alembic_version"
# The newest migration (a test checks it against the scripts): a database already there needs no Alembic, whose
# import costs every run's process half a second before its step starts.
HEAD = "0011"

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser would read a %-escape in the URL (e.g. search_path options) as interpolation
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and _at_head(engine):
        return
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}) \
            .get_current_revision()


def _at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == HEAD
    except DBAPIError:  # no version table yet: a new database
        return False
