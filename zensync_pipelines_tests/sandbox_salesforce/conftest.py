"""Fixtures: a Salesforce sandbox per test over real HTTPS, and the real simple-salesforce client pointed at it."""

from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from simple_salesforce import Salesforce

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.schema import DEFAULT_SCHEMA


class FakeClock:
    """The sandbox's notion of now, moved by hand so day-long windows are testable in milliseconds."""

    def __init__(self, start: float = 1_767_225_600.0):  # 2026-01-01T00:00:00Z
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client(sb: SalesforceSandbox, **kwargs: Any) -> Salesforce:
    return Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session(),
                      **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sf(sb: SalesforceSandbox) -> Salesforce:
    return client(sb)


@pytest.fixture
def schema_with_legacy_id(tmp_path) -> str:
    """The default schema plus a non-unique external id, the only way several records can match one value."""
    with open(DEFAULT_SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    schema["Account"]["fields"]["Legacy_Id__c"] = {"type": "string", "length": 40, "externalId": True}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    return str(path)


def accounts(count: int, prefix: str = "z") -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Account"}, "Name": f"Account {i}", "Zenskar_Id__c": f"{prefix}{i}"}
            for i in range(count)]


def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
