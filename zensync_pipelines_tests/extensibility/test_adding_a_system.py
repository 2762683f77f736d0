"""docs/adding-a-system.md followed literally, on SQLite and on PostgreSQL: in a copy of the checkout its adapter
module and its spec file are written from the page's blocks, its registry block is appended to `registry.py`, and
its command blocks run as a user types them from the copy's root (`zensync seed`, `zensync sync` without the token
and with it, the regenerate command), against a stand-in of the page's Acme API."""

import re
import shlex
import sys
import types

import pytest
from dagster import DagsterInstance, Definitions

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems import registry

from .docs import blocks
from .walk import commands, copy_checkout, environment, typed

TOKEN = "acme-secret-token"


@pytest.fixture
def acme_api():
    """The page's stand-in of the Acme API (step 3's `sandbox/acme.py`), taken from the page and started here."""
    module = types.ModuleType("acme_stand_in")
    exec(compile(blocks("adding-a-system.md")["zensync_pipelines/sandbox/acme.py"], "acme_stand_in", "exec"),  # noqa: S102
         module.__dict__)
    api = module.AcmeStandIn(TOKEN)
    yield api
    api.stop()


@pytest.fixture
def acme_system(tmp_path):
    """Step 1: the module where the page says (here a package of its own); step 2: the registry line."""
    steps = blocks("adding-a-system.md")
    package = tmp_path / "walkthrough" / "zensync_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "acme.py").write_text(steps["zensync_pipelines/systems/acme.py"])
    sys.path.insert(0, str(tmp_path / "walkthrough"))
    line = steps["registry"].replace("zensync_pipelines.systems.acme", "zensync_acme.acme")
    exec(line, {"register": registry.register, "SystemEntry": registry.SystemEntry})  # noqa: S102
    yield registry.REGISTRY["acme"]
    registry.unregister("acme")
    sys.path.remove(str(tmp_path / "walkthrough"))
    for name in [m for m in sys.modules if m.startswith("zensync_acme")]:
        del sys.modules[name]


SPEC = CatalogSpec(name="customers", table="customers", primary_key="id", cursor_column="updated_at",
                   created_at_column="created_at", soft_delete_column="deleted_at", systems={"acme": [
                       ExternalObject("contact", [Field("name", "name", required=True, max_length=200),
                                                  Field("email", "email")])]})
PAGE = "adding-a-system.md"
MODULE, CATALOG = "zensync_pipelines/systems/acme.py", "zensync_pipelines/catalogs/acme_contacts.py"
STAND_IN = "zensync_pipelines/sandbox/acme.py"


def totals(output: str) -> dict[str, int]:
    """The totals table `zensync sync` prints: its header row, then the first row of numbers under it."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if "created" in line and "api calls" in line)
    cells = [[c.strip() for c in re.split(r"[│┃|]", line) if c.strip()] for line in lines[header:]]
    values = next(row for row in cells[1:] if row and row[0].isdigit())
    return dict(zip(cells[0], (int(float(v)) for v in values)))


def test_the_page_followed_literally(acme_api, database_url, tmp_path):
    steps = blocks(PAGE)
    checkout = copy_checkout(tmp_path / "checkout")
    (checkout / MODULE).write_text(steps[MODULE])  # step 1
    registry_file = checkout / "zensync_pipelines/systems/registry.py"  # step 2: at its end
    registry_file.write_text(registry_file.read_text() + "\n" + steps["registry"])
    (checkout / STAND_IN).write_text(steps[STAND_IN])  # step 3: the stand-in, and the harness at the module's end
    (checkout / MODULE).write_text(steps[MODULE] + "\n\n" + steps["conformance_harness"])
    (checkout / CATALOG).write_text(steps[CATALOG])  # step 4
    env = environment(checkout, {"ZENSYNC_DATABASE_URL": database_url} if database_url.startswith("postgres") else {})

    if database_url.startswith("sqlite"):  # the suite keeps its rows in SQLite whatever the catalog database
        [suite] = commands(steps["conformance"])
        done = typed(suite, checkout, env)
        assert done.returncode == 0 and "6 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]

    seed, unconfigured, export, first, again = commands(steps["sync"])
    done = typed(seed, checkout, env)
    assert done.returncode == 0 and "customers: 12 added" in done.stdout, done.stdout + done.stderr
    done = typed(unconfigured, checkout, env)
    assert (done.returncode, done.stderr.strip()) == (2, "Error: acme is not configured here: set ACME_TOKEN (an "
                                                         "empty value counts as unset)")
    assert export.startswith("export ")  # a shell keeps it for the next commands: so does this one
    env |= dict(word.split("=", 1) for word in shlex.split(export.split("#")[0])[1:])
    assert (env["ACME_TOKEN"], env["ACME_BASE_URL"]) == ("YOUR_TOKEN", "https://api.acme.example")
    env |= {"ACME_TOKEN": TOKEN, "ACME_BASE_URL": acme_api.url}  # the stand-in's, where a user has Acme's own

    acme_api.busy = 3  # answered 429 three times: retried with the same key, nothing doubled
    done = typed(first, checkout, env)
    assert done.returncode == 0 and re.search(r"sync_acme_contacts_acme: run \S+ succeeded", done.stdout), \
        done.stdout + done.stderr[-3000:]
    assert [totals(done.stdout)[k] for k in ("created", "failed", "api calls")] == [11, 1, 11 + 3]
    assert sorted(int(c["zenskar_id"]) for c in acme_api.contacts.values()) == [i for i in range(1, 13) if i != 7]
    assert all(c["name"] and "@" in c["email"] for c in acme_api.contacts.values() if c["email"])
    done = typed(again, checkout, env)
    assert done.returncode == 0 and totals(done.stdout)["api calls"] == 0, done.stdout + done.stderr[-3000:]
    # Past the page: the billing platform renames one customer and deletes another; the same command follows.
    engine = make_engine(database_url if database_url.startswith("postgres") else
                         f"sqlite:///{checkout / '.zensync' / 'catalog.db'}")
    with engine.begin() as connection:
        connection.execute(customers.update().where(customers.c.id == 2).values(name="Renamed"))
        connection.execute(customers.update().where(customers.c.id == 3).values(deleted_at=customers.c.updated_at))
    engine.dispose()
    done = typed(again, checkout, env)
    assert [totals(done.stdout)[k] for k in ("updated", "deleted")] == [1, 1], done.stdout + done.stderr[-3000:]
    assert [c["name"] for c in acme_api.contacts.values() if c["zenskar_id"] == "2"] == ["Renamed"]
    assert "3" not in {c["zenskar_id"] for c in acme_api.contacts.values()}

    if database_url.startswith("postgres"):
        return  # step 5 reads no catalog row: on SQLite only (walk.py)
    regenerate, check, registry_test = commands(steps["regenerate"])  # step 5
    assert typed(regenerate, checkout, env).returncode == 0
    assert typed(check, checkout, env).returncode == 0
    done = typed(registry_test, checkout, env)
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    table = (checkout / "docs" / PAGE).read_text()
    assert "| `acme` | Acme CRM contacts | `zensync_pipelines.systems.acme:AcmeAdapter` | `ACME_TOKEN`, " \
           "`ACME_BASE_URL` | no |" in table
    listing = (checkout / "zensync_pipelines_tests/dagster/definitions_snapshot.txt").read_text()
    assert "asset acme/acme_contacts group=acme_contacts" in listing and "job sync_acme_contacts_acme" in listing


def test_a_refused_token_fails_the_run_and_names_no_secret(acme_system, acme_api, sqlite_url, monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", "wrong-token")
    monkeypatch.setenv("ACME_BASE_URL", acme_api.url)
    seed_customers(make_engine(sqlite_url), 3)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(resources=default_resources(catalog_db=CatalogDatabase(url=sqlite_url))))
    result = defs.resolve_job_def("sync_customers_acme").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "AcmeRefused" in failure.to_string() and "wrong-token" not in failure.to_string()
