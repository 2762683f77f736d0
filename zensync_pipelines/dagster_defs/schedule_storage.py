"""Dagster's SQLite schedule storage (sensor and schedule state, ticks), minus work it repeats on every call.

The daemon reads and writes a sensor's state and tick several times per tick, and Dagster's SqliteScheduleStorage
builds a new SQLAlchemy engine for each connection, and before most statements asks SQLite for its list of tables
(is the `instigators` table there? has this secondary index been built?). With 19 sensors looked at every 5 s
that was about half of an idle daemon's CPU (py-spy, docs/performance.md section 11). Here the engine is built
once (still a new SQLite connection per use: NullPool, as Dagster has it, so threads never share one), and a
table or index once seen stays known: migrations only ever add them. Named, with its folder, in the instance that
`zensync dev` writes (cli/dev.py); PostgreSQL deployments keep dagster-postgres' storage.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional

from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool


class ZensyncSqliteScheduleStorage(SqliteScheduleStorage):
    def __init__(self, conn_string: str, inst_data: Optional[ConfigurableClassData] = None):
        super().__init__(conn_string, inst_data)
        self._engine = create_engine(conn_string, poolclass=NullPool)
        self._has_instigators = False
        self._has_secondary_indexes = False
        self._built: set[str] = set()

    @classmethod
    def from_config_value(cls, inst_data: Optional[ConfigurableClassData], config_value: Mapping[str, Any]
                          ) -> "ZensyncSqliteScheduleStorage":
        return cls.from_local(inst_data=inst_data, **config_value)  # type: ignore[return-value]

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            with conn.begin():
                yield conn

    def has_instigators_table(self) -> bool:
        self._has_instigators = self._has_instigators or super().has_instigators_table()
        return self._has_instigators

    def has_secondary_index_table(self) -> bool:
        self._has_secondary_indexes = self._has_secondary_indexes or super().has_secondary_index_table()
        return self._has_secondary_indexes

    def has_built_index(self, migration_name: str) -> bool:
        if migration_name not in self._built and super().has_built_index(migration_name):
            self._built.add(migration_name)
        return migration_name in self._built

    def dispose(self) -> None:
        self._engine.dispose()
        super().dispose()
