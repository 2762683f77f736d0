"""`zensync seed --plans N`: the third demo catalog's rows, deterministic and written once."""

from click.testing import CliRunner
from sqlalchemy import select

from zensync_pipelines.cli import main
from zensync_pipelines.demo.tables import plans
from zensync_pipelines.store.db import make_engine


def test_seed_plans_writes_missing_plans_only(sqlite_url, monkeypatch):
    monkeypatch.setenv("ZENSYNC_DATABASE_URL", sqlite_url)
    first = CliRunner().invoke(main, ["seed", "--plans", "7"])
    assert first.exit_code == 0, first.output
    assert "plans: 7 added (7 wanted)" in first.output
    again = CliRunner().invoke(main, ["seed", "--plans", "7"])
    assert "plans: 0 added (7 wanted)" in again.output
    with make_engine(sqlite_url).connect() as connection:
        rows = {r.id: r for r in connection.execute(select(plans))}
    assert sorted(rows) == list(range(1, 8))
    assert (rows[2].name, rows[2].monthly_amount, rows[2].yearly_amount) == ("Team 1", 2900, 29000)
