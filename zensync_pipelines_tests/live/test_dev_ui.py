"""The product as a user meets it: `zensync dev`, the Dagster UI in headless Chromium, runs through GraphQL,
and the daemon syncing a catalog change to the Stripe sandbox with nobody launching anything."""

import datetime as dt
import re
import time

import pytest
import stripe
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine

from .conftest import ARTIFACTS, CUSTOMERS, wait_until

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAUNCH = """mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
AUTOMATION = """query Automation($selector: RepositorySelector!) {
  sensorsOrError(repositorySelector: $selector) { ... on Sensors { results { name sensorState { status } } } }
  schedulesOrError(repositorySelector: $selector) { ... on Schedules { results { name scheduleState { status } } } }
}"""
RUN_STATUS = "query Run($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
JOB_RUNS = """{ runsOrError(filter: {pipelineName: "sync_customers_stripe_all"}) {
  ... on Runs { results { runId tags { key value } } } } }"""
MATERIALIZATIONS = """query Events($id: ID!) { runOrError(runId: $id) { ... on Run {
  eventConnection(afterCursor: null) { events { __typename ... on MaterializationEvent { partition } } } } } }"""


@pytest.fixture
def page(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fresh profile per test (Playwright passes it as --user-data-dir).
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium"), executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()


def test_asset_graph_shows_every_catalog_with_its_external_copies(zensync_dev, page):
    location = zensync_dev.location()
    for spec in load_specs():
        page.goto(f"{zensync_dev.url}/locations/{location}/asset-groups/{spec.name}")
        nodes = page.get_by_text("Latest event", exact=True)  # one row of that name per asset node
        inbound = [system for system in spec.systems if spec.inbound_objects(system)]  # [system, inbound, name]
        copies = [system for system in spec.systems if spec.strategy(system).outbound]  # inbound_only: no copy
        wait_until(lambda: nodes.count() == 1 + len(copies) + len(inbound), 60,
                   f"the {spec.name} graph rendering")
        wait_until(lambda: page.get_by_text("Loading...").count() == 0, 60, "the graph loading its nodes' status")
        page.screenshot(path=str(ARTIFACTS / f"asset-graph-{spec.name}.png"), full_page=True)
        # Each node is titled with the catalog's name and badged with its kind: SQL for the catalog table,
        # the system for each external copy.
        assert page.get_by_text(spec.name, exact=True).count() >= 1 + len(copies)
        badges = {text.strip().lower() for text in page.locator("body").inner_text().split("\n")}
        assert {"sql", *spec.systems} <= badges, sorted(badges)


def test_sensors_run_and_schedules_wait_by_default_under_zensync_dev(zensync_dev, page):
    location = zensync_dev.location()
    selector = {"repositoryLocationName": location, "repositoryName": "__repository__"}
    data = zensync_dev.graphql(AUTOMATION, selector=selector)
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
    expected = {f"{spec.name}_{system}" for spec in load_specs() for system in spec.systems
                if spec.strategy(system).outbound}  # a copy zensync never writes has no retries or reconcile
    inbound = {f"{spec.name}_{system}" for spec in load_specs() for system in spec.systems
               if spec.inbound_objects(system)}
    # One change sensor per catalog (for all its systems), a retry sensor per copy, an inbox sensor per inbound copy.
    assert sensors == {f"{spec.name}_changes": "RUNNING" for spec in load_specs()} | {
        f"{name}_retries": "RUNNING" for name in expected} | {f"{name}_inbox": "RUNNING" for name in inbound}
    assert schedules == {f"{name}_reconcile": "STOPPED" for name in expected} | {
        name: "STOPPED" for name in ("stripe_poll_events", "salesforce_Account_poll_events",
                                     "salesforce_Contact_poll_events")}
    page.goto(f"{zensync_dev.url}/automation")
    wait_until(lambda: page.get_by_text(next(iter(sensors))).count() > 0, 60, "the automation page listing")
    page.screenshot(path=str(ARTIFACTS / "automation.png"), full_page=True)


def test_a_run_launched_through_graphql_succeeds(zensync_dev):
    params = {"selector": {"repositoryLocationName": zensync_dev.location(), "repositoryName": "__repository__",
                           "jobName": "sync_customers_stripe"},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2025-02-01"}]}}
    launched = zensync_dev.graphql(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_until(lambda: (s := zensync_dev.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"])
                        in ("SUCCESS", "FAILURE", "CANCELED") and s, 180, f"run {run_id} finishing", server=zensync_dev)
    assert status == "SUCCESS"


def test_the_daemon_syncs_a_catalog_change_without_anyone_launching_a_run(zensync_dev, stripe_key):
    client = stripe.StripeClient(stripe_key, base_addresses={"api": zensync_dev.stripe_url})

    def remote():
        return {c.metadata["zenskar_id"]: c for c in client.v1.customers.list(params={"limit": 100})
                .auto_paging_iter()}

    valid = CUSTOMERS - 2  # rows 7 and 23 of the seed are invalid on purpose
    wait_until(lambda: len(remote()) == valid, 180, "the sensor's first run syncing the seeded catalog",
               server=zensync_dev)
    engine = make_engine(zensync_dev.database_url)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 1)
                           .values(phone="+15551234567", updated_at=dt.datetime.now(dt.timezone.utc)))
    engine.dispose()
    wait_until(lambda: remote()["1"].phone == "+15551234567", 180, "the changed row reaching Stripe",
               server=zensync_dev)


def test_idle_sensor_ticks_write_nothing_to_the_console(zensync_dev):
    # Sensors tick every 2 s here; by the time one launched a run, many idle ticks have passed.
    wait_until(lambda: "Launching run for" in zensync_dev.log.read_text(errors="replace"), 180,
               "a sensor launching a run", server=zensync_dev)
    time.sleep(5)  # a few more idle ticks of all eight sensors
    text = zensync_dev.log.read_text(errors="replace")
    assert "Checking for new runs for sensor" not in text and " skipped: " not in text
    assert "No run requests returned" not in text


def test_zensync_dev_prints_the_ui_address_once_it_answers_and_no_instance_noise(zensync_dev):
    log = zensync_dev.log.read_text(errors="replace")
    announced = log.index(f"Dagster UI:         {zensync_dev.url}")
    assert log.index(f"Serving dagster-webserver on {zensync_dev.url}") < announced  # not before it listens
    assert log.count("Dagster UI:") == 1
    for noise in ("Found a dagster instance configuration value", "SupersessionWarning", "is superseded"):
        assert noise not in log


def test_one_launch_without_a_partition_syncs_the_whole_catalog(zensync_dev):
    """The launchpad's plain Launch: no partition chosen, the whole catalog synced, months it touched recorded."""
    # A change the sensors cannot see (its cursor column is untouched): only a whole-catalog run finds it, so the
    # run has a month to touch whatever the sensors synced before.
    engine = make_engine(zensync_dev.database_url)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 2).values(phone="+15557654321"))
    engine.dispose()
    params = {"selector": {"repositoryLocationName": zensync_dev.location(), "repositoryName": "__repository__",
                           "jobName": "sync_customers_stripe"}, "runConfigData": {}}
    launched = zensync_dev.graphql(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = wait_until(lambda: (s := zensync_dev.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"])
                        in ("SUCCESS", "FAILURE", "CANCELED") and s, 180, f"run {run_id} finishing", server=zensync_dev)
    assert status == "SUCCESS"
    events = zensync_dev.graphql(MATERIALIZATIONS, id=run_id)["runOrError"]["eventConnection"]["events"]
    partitions = [e["partition"] for e in events if e.get("__typename") == "MaterializationEvent"]
    assert None in partitions and len(partitions) >= 2  # the run's totals, and each month it touched


def test_the_launchpad_launches_a_whole_catalog_sync_in_one_click(zensync_dev, page):
    location = zensync_dev.location()
    before = zensync_dev.graphql(JOB_RUNS)["runsOrError"]["results"]
    page.goto(f"{zensync_dev.url}/locations/{location}/jobs/sync_customers_stripe_all/playground")
    launch = page.locator("button", has_text=re.compile("^Launch Run$"))
    try:
        wait_until(lambda: launch.count() == 1 and launch.is_enabled(), 60, "the launchpad's Launch run button")
    finally:
        page.screenshot(path=str(ARTIFACTS / "launchpad.png"), full_page=True)
    assert "dry_run: false" in page.locator("body").inner_text()  # the dry-run setting, in the launchpad
    launch.click()  # no partition to choose, no config to type, nothing to confirm
    runs = wait_until(lambda: len(r := zensync_dev.graphql(JOB_RUNS)["runsOrError"]["results"]) > len(before)
                      and r, 60, "a run from the click", server=zensync_dev)
    run_id = runs[0]["runId"]
    status = wait_until(lambda: (s := zensync_dev.graphql(RUN_STATUS, id=run_id)["runOrError"]["status"])
                        in ("SUCCESS", "FAILURE", "CANCELED") and s, 180, f"run {run_id} finishing", server=zensync_dev)
    assert status == "SUCCESS"
    events = zensync_dev.graphql(MATERIALIZATIONS, id=run_id)["runOrError"]["eventConnection"]["events"]
    assert None in [e["partition"] for e in events if e.get("__typename") == "MaterializationEvent"]
