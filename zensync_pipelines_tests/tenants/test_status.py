"""`zensync status` with tenants: each registered tenant's health per copy, whole in a pipe, and as JSON."""

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from zensync_pipelines.cli import main
from zensync_pipelines.engine.types import Operation
from zensync_pipelines.store import migrate
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import mappings
from zensync_pipelines.store.tenants import Tenant, TenantStore


@pytest.fixture
def status(engine, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("ZENSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ZENSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)  # CliRunner's output is no terminal: as wide as the content
    migrate.upgrade(engine)

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["status", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def _rows(engine, tenant: str, catalog: str, system: str, ids: list[int], failed: list[int] = ()) -> None:
    """Mappings of `ids`, synced but for `failed` (one object each: a row counts under its worst object)."""
    store = MappingStore(engine, tenant)
    store.record_intents("run", [Operation(catalog, system, "customer", str(i), "create", {}, "f", None, f"k{i}")
                                 for i in ids])
    c = mappings.c
    with engine.begin() as connection:
        for wanted, chosen in (("synced", [i for i in ids if i not in failed]), ("failed", list(failed))):
            connection.execute(update(mappings).where(c.tenant == tenant, c.catalog == catalog, c.system == system,
                                                      c.internal_id.in_([str(i) for i in chosen]))
                               .values(status=wanted))


def _cells(output: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")][1:-1] for line in output.splitlines() if line.startswith("│")]


def _copies(document: dict, tenant: str) -> dict:
    [found] = [t for t in document["tenants"] if t["id"] == tenant]
    return {(c["catalog"], c["system"]): c["counts"] for c in found["copies"]}


def test_without_tenants_status_is_the_single_tenant_table(engine, status):
    _rows(engine, "default", "customers", "stripe", [1, 2])
    output = status()
    assert "Tenants" not in output
    assert [line for line in output.splitlines() if _row(line, "customers", "stripe")]
    document = json.loads(status("--json"))
    assert [t["id"] for t in document["tenants"]] == ["default"]
    assert _copies(document, "default")[("customers", "stripe")]["synced"] == 2


def test_status_tells_each_tenants_health_and_json_serves_scripts(engine, status):
    registry = TenantStore(engine)
    registry.add(Tenant(id="acme-industries-long-name", status="active", stripe_account="acct_1One"))
    registry.add(Tenant(id="t2", status="active", stripe_account="acct_1Two"))
    registry.disable("t2")
    # The same internal ids in two tenants never meet: each counts its own.
    _rows(engine, "default", "customers", "stripe", [1])
    _rows(engine, "acme-industries-long-name", "customers", "stripe", [1, 2, 3], failed=[2])
    _rows(engine, "t2", "customers", "stripe", [1, 2])
    MappingStore(engine, "t2").record_intents("run", [
        Operation("plans", "salesforce", "Product2", "9", "create", {}, "f", None, "k9")])

    rows = _cells(status())
    acme = [row for row in rows if row[:4] == ["acme-industries-long-name", "active", "customers", "stripe"]]
    assert len(acme) == 1, rows  # whole in a pipe: no name cut to fit 80 columns
    assert acme[0][4:9] == ["2", "1", "0", "0", "0"]
    assert [row for row in rows if row[:2] == ["t2", "disabled"]]

    document = json.loads(status("--json"))
    assert [(t["id"], t["status"]) for t in document["tenants"]] == [
        ("default", "active"), ("acme-industries-long-name", "active"), ("t2", "disabled")]
    assert _copies(document, "default")[("customers", "stripe")]["synced"] == 1
    assert _copies(document, "acme-industries-long-name")[("customers", "stripe")] == {
        "synced": 2, "failed": 1, "invalid": 0, "waiting": 0, "pending": 0, "deleted": 0}
    t2 = _copies(document, "t2")
    assert (t2[("customers", "stripe")]["synced"], t2[("plans", "salesforce")]["pending"]) == (2, 1)
    assert all(c["last_run"] is None for t in document["tenants"] for c in t["copies"])  # no instance yet

    narrowed = json.loads(status("--tenant", "t2", "--json"))
    assert [t["id"] for t in narrowed["tenants"]] == ["t2"]
    assert _copies(narrowed, "t2") == t2
    one = status("--tenant", "t2")
    assert "tenant t2: disabled" in one and "Tenants" not in one
    [line] = [line for line in one.splitlines() if _row(line, "customers", "stripe")]
    assert [c.strip() for c in line.split("│")][3] == "2"


def _row(line: str, catalog: str, system: str) -> bool:
    """A table row of that copy, whatever the columns' widths (they follow the longest catalog's name)."""
    return [cell.strip() for cell in line.split("│")][1:3] == [catalog, system]
