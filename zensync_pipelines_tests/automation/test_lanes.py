"""A change is never queued behind another catalog's long sync: on an instance with the product's pools, a small
plans run finishes while a long customers run holds Stripe, both drawing from one request rate (store/lanes.py).
With the pools of old (one sync per system at a time) the plans run would wait for the whole customers run."""

import dataclasses
import threading
import time

import yaml
from dagster import DagsterInstance, DagsterRunStatus, Definitions

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.cli.dev import INSTANCE_YAML
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.scope import CHANGES, SCOPE_TAG
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.plans import seed_plans
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.lanes import SCOPE
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.stripe import StripeResource

SPECS = {spec.name: spec for spec in load_specs()}


def stripe_only(name: str):
    spec = SPECS[name]
    return dataclasses.replace(spec, systems={"stripe": spec.systems["stripe"]})


def test_a_small_run_finishes_while_another_catalogs_long_run_holds_the_system(sqlite_url, stripe_sandbox,
                                                                                tmp_path):
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    seed_customers(engine, 60)
    seed_plans(engine, 1)
    stripe_sandbox.configure(latency_ms=20)
    resources = {"catalog_db": CatalogDatabase(url=sqlite_url),
                 "stripe": StripeResource(api_key="sk_test_lanes", api_base=stripe_sandbox.url,
                                          rate_limit_per_second=20, max_concurrency=4)}
    customers, plans = stripe_only("customers"), stripe_only("plans")
    defs = Definitions.merge(build_catalog_definitions(customers, AutomationSettings()),
                             build_catalog_definitions(plans, AutomationSettings()), Definitions(resources=resources))
    product = {k: v for k, v in yaml.safe_load(INSTANCE_YAML.read_text()).items() if k == "concurrency"}
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path), overrides=product)
    assert instance.get_concurrency_config().pool_config.default_pool_limit > 1
    ended: dict[str, float] = {}

    def sync(spec) -> None:
        job = defs.resolve_job_def(job_name(spec, "stripe"))
        result = job.execute_in_process(instance=instance, tags={SCOPE_TAG: CHANGES})
        assert result.success
        ended[spec.name] = time.monotonic()

    long_run = threading.Thread(target=sync, args=(customers,))
    long_run.start()
    deadline = time.monotonic() + 30
    # The customers run holds its stripe_api slot once it has made a request (the lane's row exists).
    while StateStore(engine).get(SCOPE, "stripe") is None:
        assert time.monotonic() < deadline and long_run.is_alive(), "the customers run never reached Stripe"
        time.sleep(0.05)
    sync(plans)  # one product and its two prices: three requests
    long_run.join()
    # Ending first is the proof: the customers run (60 rows at 20/s) outlasts the plans run unless plans waited for
    # its slot. No bound in seconds: under a loaded suite the small run alone took 5.1 s (a timing is a benchmark's).
    assert ended["plans"] < ended["customers"], "the plans run waited for the customers run to end"
    runs = {r.dagster_run.job_name: r.dagster_run for r in instance.get_run_records()}
    assert {run.status for run in runs.values()} == {DagsterRunStatus.SUCCESS}
    assert runs[job_name(customers, "stripe")].tags["zensync/copy"] == "customers.stripe"
    engine.dispose()
