"""A registered system's missing or empty settings end every command in one line naming the variables (exit 2),
and a launched run in a failed run with that line; an unreachable database ends `zensync status` in one line."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance, Definitions

from zensync_pipelines.catalogs import customers, invoices
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, UnconfiguredSystem, default_resources
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.registry import REGISTRY
from zensync_pipelines_tests import test_systems  # noqa: F401 (registers the test-only systems)
from zensync_pipelines_tests.conftest import free_port
from zensync_pipelines_tests.jsonl_system import JOURNAL_PATH

ZENSYNC = str(Path(sys.executable).parent / "zensync")  # the installed command, as a user runs it
STRIPE_LINE = "Error: stripe is not configured here: set STRIPE_API_KEY (an empty value counts as unset)"
SALESFORCE_LINE = ("Error: salesforce is not configured here: set SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET, "
                   "or SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN, "
                   "or SALESFORCE_USERNAME and SALESFORCE_PASSWORD, "
                   "or SALESFORCE_SESSION_ID and SALESFORCE_INSTANCE_URL (an empty value counts as unset)")


def environment(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SALESFORCE_", "ZENSYNC_"))}
    return env | {"ZENSYNC_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "300"} | extra


def test_every_command_ends_in_one_line_naming_the_missing_variables(tmp_path):
    dead = f"postgresql+psycopg2://postgres:S3cret@127.0.0.1:{free_port()}/nowhere"
    cases = {  # the commands run at once: each pays Python's and the CLI's start-up
        ("sync", "customers", "stripe"): ({}, STRIPE_LINE),
        ("retry", "invoices", "stripe"): ({"STRIPE_API_KEY": ""}, STRIPE_LINE),  # empty is unset
        ("plan", "customers", "salesforce"): ({"SALESFORCE_USERNAME": ""}, SALESFORCE_LINE),
        ("sync", "plans", "salesforce"): ({"SALESFORCE_USERNAME": "ada@example.com"}, (  # the closest first
            "Error: salesforce is not configured here: set SALESFORCE_PASSWORD (beside SALESFORCE_USERNAME), or "
            "SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET, or SALESFORCE_CLIENT_ID and SALESFORCE_REFRESH_TOKEN, "
            "or SALESFORCE_SESSION_ID and "
            "SALESFORCE_INSTANCE_URL (an empty value counts as unset)")),
        ("status",): ({"ZENSYNC_DATABASE_URL": dead}, None),
        # Configured, but the catalog has no such table yet: the spec's error, in one line too.
        ("plan", "invoices", "stripe"): ({"STRIPE_API_KEY": "sk_test_1"}, (
            f"Error: catalog spec 'invoices' ({invoices.__file__}): table 'invoices' does not exist in the catalog "
            f"database")),
    }
    running = {args: subprocess.Popen([ZENSYNC, *args], env=environment(tmp_path / "-".join(args), **env),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for args, (env, _) in cases.items()}
    for args, process in running.items():
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 2, (args, output)
        assert "Traceback" not in output
        [line] = output.strip().splitlines()
        expected = cases[args][1]
        if expected is not None:
            assert line == expected, args
        else:  # the driver's reason sits in the middle; the variable, the masked URL and what to do around it
            assert line.startswith(f"Error: ZENSYNC_DATABASE_URL={dead.replace('S3cret', '***')}: cannot connect (")
            assert line.endswith("): start the server, create the database or fix the URL")


def test_a_launched_run_without_the_key_fails_with_that_line_and_calls_nothing(sqlite_url, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "")  # empty: today's resource took it for no key and called Stripe
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")  # nothing answers there either
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    seed_customers(engine, 5)
    resources = default_resources(catalog_db=CatalogDatabase(url=sqlite_url))
    defs = Definitions.merge(build_catalog_definitions(customers.SPEC, AutomationSettings()),
                             Definitions(resources=resources))
    for job in ("sync_customers_stripe", "sync_customers_stripe_all"):  # the asset job and the one-click job
        result = defs.resolve_job_def(job).execute_in_process(instance=DagsterInstance.ephemeral(),
                                                              raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failure.step_failure_data.user_failure_data.description == STRIPE_LINE.removeprefix("Error: ")
    assert MappingStore(engine).status_counts("customers", "stripe") == {}  # no row was planned or attempted
    assert REGISTRY["stripe"].unconfigured({"STRIPE_API_KEY": "sk_test_1"}) is None


def test_any_registered_system_gets_the_same_stand_in(monkeypatch):
    monkeypatch.delenv(JOURNAL_PATH, raising=False)
    stand_in = default_resources()["jsonl"]  # a test-only system, registered like a shipped one
    assert isinstance(stand_in, UnconfiguredSystem)
    assert stand_in.problem == f"jsonl is not configured here: set {JOURNAL_PATH} (an empty value counts as unset)"
    monkeypatch.setenv(JOURNAL_PATH, "/tmp/journal.jsonl")
    assert not isinstance(default_resources()["jsonl"], UnconfiguredSystem)
