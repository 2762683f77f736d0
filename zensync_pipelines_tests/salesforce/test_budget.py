"""The API budget guard stops a run cleanly before the allocation's share is spent; the next run finishes."""

from zensync_pipelines.store.mappings import MappingStore

from .conftest import (account_ids, catalog_rows, contacts_by_row, materialize_salesforce, metadata_of, resource_for,
                       seeded, soql, valid_ids)


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
