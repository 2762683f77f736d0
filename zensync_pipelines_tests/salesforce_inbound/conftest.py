"""Fixtures: a Salesforce sandbox per test over real HTTPS, zensync's adapter logged in to it, the inbox."""

from __future__ import annotations

from typing import Iterator

import pytest
from simple_salesforce import Salesforce

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import SALES_USER_ID
from zensync_pipelines.systems.salesforce import SalesforceAdapter
from zensync_pipelines_tests.salesforce.conftest import resource_for


@pytest.fixture
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def adapter(sb) -> SalesforceAdapter:
    return resource_for(sb).adapter()


@pytest.fixture
def sales(sb) -> Salesforce:
    """A person editing in Salesforce: another user than the integration user zensync logs in as."""
    return Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(SALES_USER_ID),
                      session=sb.requests_session())
