"""The API budget guard stops a run cleanly before the allocation's share is spent; the next run finishes."""

import datetime as dt

from dagster import DagsterInstance, materialize

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase

from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore

from .conftest import (SPEC, account_ids, catalog_rows, contacts_by_row, materialize_salesforce, metadata_of,
                       resource_for, seeded, soql, valid_ids)


def test_a_small_allocation_stops_the_run_cleanly_and_a_later_run_finishes(sqlite_url, sb):
    engine = seeded(sqlite_url, 1000)
    accounts, contacts = valid_ids(catalog_rows(engine))
    # 10 calls a day, 90% of it for zensync: the /limits probe and 8 writes fit, the 10 writes needed do not.
    sb.configure(daily_api_limit=10)

    stopped = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb)))

    assert "API budget" in stopped["stopped_reason"] and "resumes on the next run" in stopped["stopped_reason"]
    assert sb.allocation.used() == 9  # never past the share: no call was refused
    assert stopped["created"] == 960 + 3 * 200 and stopped["deferred"] == 940 - 3 * 200
    statuses = MappingStore(engine).status_counts("customers", "salesforce")
    assert statuses["pending"] == 340

    sb.configure(daily_api_limit=1000)
    a_day_later(engine)
    finished = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb)))
    assert "stopped_reason" not in finished
    assert (finished["created"], finished["skipped"]) == (340, 1560)
    assert sorted(account_ids(sb)) == sorted(accounts)
    linked = contacts_by_row(sb)
    assert set(linked) == contacts and all(parents == [i] for i, parents in linked.items())
    engine.dispose()


def test_an_allocation_already_spent_elsewhere_stops_cleanly_on_salesforces_refusal(sqlite_url, sb):
    engine = seeded(sqlite_url, 100)
    sb.configure(daily_api_limit=3)
    for _ in range(3):  # another integration of the org spends the day's calls
        soql(sb, "SELECT Id FROM Account LIMIT 1")

    stopped = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb)))

    assert "REQUEST_LIMIT_EXCEEDED" in stopped["stopped_reason"]
    assert (stopped["created"], stopped["deferred"]) == (0, 190)
    assert MappingStore(engine).status_counts("customers", "salesforce")["pending"] == 190
    engine.dispose()


def a_day_later(engine):
    """The remembered usage as if observed a day ago: its 24-hour window has moved on."""
    states = StateStore(engine)
    usage = states.get("salesforce", "api_usage")
    observed = dt.datetime.fromisoformat(usage["observed_at"]) - dt.timedelta(hours=24, minutes=1)
    states.put("salesforce", "api_usage", usage | {"observed_at": observed.isoformat(), "resumes_at": None})


def test_a_spent_budget_is_remembered_and_later_runs_make_no_call(sqlite_url, sb):
    engine = seeded(sqlite_url, 1000)
    sb.configure(daily_api_limit=10)
    instance = DagsterInstance.ephemeral()
    first = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb), instance=instance))
    assert "API budget" in first["stopped_reason"] and sb.allocation.used() == 9
    usage = StateStore(engine).get("salesforce", "api_usage")
    assert (usage["used"], usage["limit"]) == (9, 10) and usage["resumes_at"]
    assert dt.datetime.fromisoformat(usage["observed_at"]).tzinfo is not None
    sb.counters.reset()

    for _ in range(3):  # a sensor or the retry automation asking again and again
        later = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb), instance=instance))
        assert "no call made" in later["stopped_reason"] and usage["resumes_at"][:16].replace("T", " ") in \
            later["stopped_reason"]
        assert later["api_calls"] == 0 and later["api_usage"]["resumes_at"] == usage["resumes_at"]
    assert sb.counters.total() == 0 and sb.allocation.used() == 9  # not a single /limits probe

    checks = [c for c in build_catalog_definitions(SPEC).asset_checks if "salesforce" in str(c.check_keys)]
    assets = [a for a in build_catalog_definitions(SPEC).assets if a.key.path[0] in ("catalog", "salesforce")]
    result = materialize([*assets, *checks], instance=instance, resources={
        "catalog_db": CatalogDatabase(url=sqlite_url), "salesforce": resource_for(sb)})
    [failed_rows] = [e for e in result.get_asset_check_evaluations() if e.check_name == "failed_rows"]
    resumes = failed_rows.metadata["sync_resumes_at"].value
    assert dt.datetime.fromtimestamp(resumes, dt.timezone.utc) == dt.datetime.fromisoformat(usage["resumes_at"])
    assert sb.counters.total() == 0

    a_day_later(engine)
    sb.allocation.reset()
    resumed = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb), instance=instance))
    assert "stopped_reason" not in resumed and resumed["created"] == 340
    engine.dispose()
