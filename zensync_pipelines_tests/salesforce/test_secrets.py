"""Secrets configured through the environment never reach logs, run records, metadata or error messages."""

import logging

from dagster import DagsterInstance
from dagster._serdes import serialize_value

from zensync_pipelines.systems.salesforce import salesforce_resource_from_env

from .conftest import FAST, materialize_salesforce, metadata_of, seeded
from .test_auth import CLIENT_ID, CLIENT_SECRET, PASSWORD, TOKEN, USER, strict


def everything_recorded(instance, result, capfd, caplog) -> str:
    """All a user or operator could later read about the run, as one text."""
    out, err = capfd.readouterr()
    run = instance.get_run_by_id(result.run_id)
    records = [serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    return "\n".join([out, err, caplog.text, serialize_value(run.run_config), serialize_value(run.tags), *records])


def test_secrets_stay_out_of_logs_metadata_and_errors(sqlite_url, sb, monkeypatch, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    seeded(sqlite_url, 50).dispose()
    strict(sb)
    for name, value in {"SALESFORCE_LOGIN_URL": sb.login_url, "SALESFORCE_CA_BUNDLE": sb.ca_file,
                        "SALESFORCE_CLIENT_ID": CLIENT_ID, "SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
                        "SALESFORCE_USERNAME": USER, "SALESFORCE_PASSWORD": PASSWORD,
                        "SALESFORCE_SECURITY_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    resource = salesforce_resource_from_env(**FAST)
    assert PASSWORD not in repr(resource) and CLIENT_SECRET not in str(resource)

    instance = DagsterInstance.ephemeral()
    synced = materialize_salesforce(sqlite_url, resource, instance=instance)
    assert metadata_of(synced)["created"] > 0  # the secrets were used: the password grant logged in
    recorded = everything_recorded(instance, synced, capfd, caplog)
    assert "customers -> salesforce" in recorded  # the run's own log lines were captured
    for secret in (PASSWORD, TOKEN, CLIENT_SECRET):
        assert secret not in recorded

    seeded(sqlite_url, 60).dispose()  # ten new rows, so the next run must log in
    monkeypatch.setenv("SALESFORCE_PASSWORD", "Another-Secret-Pa55")
    failed = materialize_salesforce(sqlite_url, salesforce_resource_from_env(**FAST), instance=instance,
                                    raise_on_error=False)
    assert not failed.success
    recorded = everything_recorded(instance, failed, capfd, caplog)
    assert "invalid_grant" in recorded  # the failure and its reason are there for the operator
    for secret in ("Another-Secret-Pa55", TOKEN, CLIENT_SECRET):
        assert secret not in recorded
