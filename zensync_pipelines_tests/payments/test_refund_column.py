"""A demo database made before payments carried `refunded` gains it, false for every row, on SQLite and
PostgreSQL, without touching anything else; the payments spec reads it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, MetaData, Table, inspect, select

from zensync_pipelines.demo.tables import add_missing_columns, payments
from zensync_pipelines_tests.inbound.helpers import SPECS


def test_an_older_payments_table_gains_refunded_once(engine):
    older = MetaData()
    Table("payments", older, *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable,
                                      server_default=c.server_default) for c in payments.columns
                               if c.name != "refunded"))
    older.create_all(engine)
    at = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(older.tables["payments"].insert(), {
            "id": 1, "customer_id": 1, "amount": 1000, "amount_refunded": 1000, "currency": "usd",
            "status": "succeeded", "created_at": at, "updated_at": at})
    assert "refunded" not in {c["name"] for c in inspect(engine).get_columns("payments")}
    assert add_missing_columns(engine) == ["payments.refunded"]
    assert add_missing_columns(engine) == []  # once only
    with engine.connect() as connection:
        assert connection.execute(select(payments.c.refunded, payments.c.tenant_id)).one() == (False, "default")
    assert "refunded" in SPECS["payments"].columns
