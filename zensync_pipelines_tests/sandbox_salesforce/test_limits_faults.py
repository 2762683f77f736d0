"""API allocation, Sforce-Limit-Info, injected faults under a seed, counters and control endpoints."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import accounts, client


def test_every_reply_carries_the_usage_header(sb, sf):
    sf.query("SELECT Id FROM Account")
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 2 and sf.api_usage["api-usage"].total == 15000
    raw = sb.requests_session().get(sb.url + "/services/data/v59.0/limits",
                                    headers={"Authorization": "Bearer " + sb.new_session()})
    assert raw.headers["Sforce-Limit-Info"] == "api-usage=3/15000"
    assert raw.json()["DailyApiRequests"] == {"Max": 15000, "Remaining": 14997}


def test_the_allocation_is_a_rolling_day(clock):
    with SalesforceSandbox(daily_api_limit=3, clock=clock) as sb:
        sf = client(sb)
        for _ in range(3):
            sf.query("SELECT Id FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Account")
        assert refused.value.status == 403
        assert refused.value.content == [{"message": "TotalRequests Limit exceeded.",
                                          "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        clock.advance(24 * 3600 + 1)
        sf.query("SELECT Id FROM Account")
        assert sf.api_usage["api-usage"].used == 1


def test_bulk_and_composite_calls_count_per_http_request(sb, sf):
    sf.restful("composite/sobjects", method="POST", json={"records": accounts(5)})  # one call for five records
    sf.bulk2.Account.insert(records=[{"Name": "A"}], wait=0)  # create, upload, close, poll, final get
    assert sb.allocation.used() == 6


def outcomes(seed: int) -> list[str]:
    with SalesforceSandbox(fault_rate=0.3, seed=seed) as sb:
        sf = client(sb)
        seen = []
        for _ in range(25):
            try:
                sf.query("SELECT Id FROM Account")
                seen.append("ok")
            except SalesforceGeneralError as error:
                assert error.content[0]["errorCode"] == "UNKNOWN_EXCEPTION"
                seen.append("500")
            except requests.exceptions.ConnectionError:
                seen.append("drop")
        return seen


def test_faults_are_reproducible_under_a_seed():
    first, second, other = outcomes(7), outcomes(7), outcomes(8)
    assert first == second
    assert first != other
    assert {"ok", "500", "drop"} <= set(first)


def test_lock_row_faults_inside_collections(sb, sf):
    sb.configure(fault_rate=0.5, fault_kinds=["lock_row"], seed=3)
    results = sf.restful("composite/sobjects", method="POST", json={"records": accounts(40)})
    codes = {e["statusCode"] for r in results for e in r["errors"]}
    assert codes == {"UNABLE_TO_LOCK_ROW"} and 5 < sum(not r["success"] for r in results) < 35


def test_counters_knobs_and_reset_over_control_endpoints(sb, sf):
    sf.query("SELECT Id FROM Account")
    sf.Account.create({"Name": "A"})
    session = sb.requests_session()
    counters = session.get(sb.url + "/_sandbox/counters").json()
    assert counters["GET /services/data/{version}/query"] == 1
    assert counters["POST /services/data/{version}/sobjects/{sobject}"] == 1
    session.post(sb.url + "/_sandbox/reset")
    assert session.get(sb.url + "/_sandbox/counters").json() == {}
    assert session.post(sb.url + "/_sandbox/knobs", json={"daily_api_limit": 2}).json()["daily_api_limit"] == 2
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT Id FROM Account")
    session.post(sb.url + "/_sandbox/expire_sessions")
    assert session.get(sb.url + "/services/data/v59.0/limits",
                       headers={"Authorization": "Bearer x"}).status_code == 401
