"""Settings checks for the command line: a bad setting ends in one line that names the variable or flag, its
value (secrets masked) and what to do, with exit code 2, instead of a traceback from deep inside a library.

Each check sits where the setting is first used, so it reports the cause, not a symptom three calls later.
"""

from __future__ import annotations

import errno
import re
import socket

import click
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from .. import config
from ..store.db import make_engine, redact

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


class SettingsError(click.ClickException):
    """A usage or settings error: click prints `Error: <one line>` and exits with 2."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # one line, whatever the library's message looked like


def mask(url: str) -> str:
    """The URL without its password, even when it does not parse as one."""
    try:
        return redact(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is exactly when the regex must do it
        return _PASSWORD.sub(r"\1***@", url)


def database_url() -> str:
    """ZENSYNC_DATABASE_URL (or the local SQLite default), checked for shape and driver."""
    url = config.database_url()
    try:
        make_url(url).get_dialect()
    except ArgumentError:
        raise SettingsError(f"{config.DATABASE_URL}={mask(url)} is not a database URL: set it like "
                            f"postgresql+psycopg2://user:password@host:5432/dbname, or unset it to use the "
                            f"local SQLite file") from None
    except NoSuchModuleError:
        raise SettingsError(f"{config.DATABASE_URL}={mask(url)} names a database driver that is not installed: "
                            f"use postgresql+psycopg2://... or sqlite:///...") from None
    return url


def database() -> tuple[str, Engine]:
    """The checked URL and an engine that has connected once (a missing database or a refused login end here)."""
    url = database_url()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise SettingsError(f"{config.DATABASE_URL}={mask(url)}: cannot connect ({reason}): start the server, "
                            f"create the database or fix the URL") from None
    return url, engine


def free_port(port: int, service: str, flag: str) -> None:
    """Fail before starting anything when `port` is taken, naming it and who wanted it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise SettingsError(f"port {port} for the {service} is already in use (another zensync dev or "
                                f"sandbox?): stop it, or pick another port with {flag}") from None


def automation_settings() -> None:
    """ZENSYNC_SENSORS_DEFAULT and friends, read now rather than when Dagster loads the code location."""
    from ..dagster_defs.settings import AutomationSettings

    try:
        AutomationSettings.from_env()
    except ValueError as error:
        raise SettingsError(f"{error}: fix the variable or unset it") from None


def system_settings(system: str) -> None:
    """The registered system's required settings (systems/registry.py), before a command builds or runs anything:
    unset or empty ones end here in one line, not in a Dagster config traceback or a call with no key."""
    from ..systems.registry import REGISTRY

    entry = REGISTRY.get(system)
    problem = entry.unconfigured() if entry is not None else None
    if problem:
        raise SettingsError(problem)
