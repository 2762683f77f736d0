"""The product as a user meets it: `zensync dev`, the Dagster UI in headless Chromium, runs through GraphQL,
and the daemon syncing a catalog change to the Stripe sandbox with nobody launching anything."""

import datetime as dt

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


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fresh profile per test (Playwright passes it as --user-data-dir).
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium"), executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_FLAGS,
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
        wait_until(lambda: nodes.count() == 1 + len(spec.systems) + len(inbound), 60,
                   f"the {spec.name} graph rendering")
        wait_until(lambda: page.get_by_text("Loading...").count() == 0, 60, "the graph loading its nodes' status")
        page.screenshot(path=str(ARTIFACTS / f"asset-graph-{spec.name}.png"), full_page=True)
        # Each node is titled with the catalog's name and badged with its kind: SQL for the catalog table,
        # the system for each external copy.
        assert page.get_by_text(spec.name, exact=True).count() >= 1 + len(spec.systems)
        badges = {text.strip().lower() for text in page.locator("body").inner_text().split("\n")}
        assert {"sql", *spec.systems} <= badges, sorted(badges)


def test_sensors_run_and_schedules_wait_by_default_under_zensync_dev(zensync_dev, page):
    location = zensync_dev.location()
    selector = {"repositoryLocationName": location, "repositoryName": "__repository__"}
    data = zensync_dev.graphql(AUTOMATION, selector=selector)
    sensors = {s["name"]: s["sensorState"]["status"] for s in data["sensorsOrError"]["results"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}
    expected = {f"{spec.name}_{system}" for spec in load_specs() for system in spec.systems}
    inbound = {f"{spec.name}_{system}" for spec in load_specs() for system in spec.systems
               if spec.inbound_objects(system)}
    assert sensors == {f"{name}_changes": "RUNNING" for name in expected} | {
        f"{name}_inbox": "RUNNING" for name in inbound}
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
