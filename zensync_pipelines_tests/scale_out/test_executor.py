"""The executor is the deployment's: in process unless ZENSYNC_EXECUTOR=celery, then dagster-celery's for every job
and for the implicit asset job alike, with the broker read from the environment when a run starts (never baked
into the definitions) and late acknowledgement on; bad settings end in one line."""

import pytest
from click.testing import CliRunner

from zensync_pipelines.cli import main
from zensync_pipelines.dagster_defs.executors import ExecutorSettingError, job_executor
from zensync_pipelines.definitions import build_definitions

BROKER = "amqp://zensync:Br0ker-Secret@rabbit.internal:5672//"


def _jobs(defs):
    return [job for job in defs.resolve_all_job_defs()]


def test_in_process_by_default(monkeypatch):
    monkeypatch.delenv("ZENSYNC_EXECUTOR", raising=False)
    jobs = _jobs(build_definitions())
    assert jobs and {job.executor_def.name for job in jobs} == {"in_process"}


def test_celery_for_every_job_with_the_broker_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZENSYNC_EXECUTOR", "celery")
    monkeypatch.setenv("ZENSYNC_CELERY_BROKER_URL", BROKER)
    monkeypatch.setenv("ZENSYNC_CELERY_QUEUE", "billing-eu")
    defs = build_definitions()
    jobs = _jobs(defs)
    names = {job.name for job in jobs}
    assert {"sync_customers_stripe", "sync_customers_stripe_all", "sync_customers_stripe_fanout", "poll_stripe",
            "inbound_customers_stripe"} <= names and any(name.startswith("__ASSET_JOB") for name in names)
    assert {job.executor_def.name for job in jobs} == {"celery"}
    executor = defs.resolve_job_def("sync_customers_stripe").executor_def
    # The broker is read when a run starts, not when the definitions were built: a rotated password needs no
    # reload of the code location, and the URL is in no definition or snapshot.
    monkeypatch.setenv("ZENSYNC_CELERY_BROKER_URL", BROKER.replace("Br0ker-Secret", "Rotated-Secret"))
    config = executor.config_schema.resolve_config({}).value["config"]
    assert config["broker"] == BROKER.replace("Br0ker-Secret", "Rotated-Secret")
    assert config["config_source"]["task_acks_late"] and config["config_source"]["task_reject_on_worker_lost"]
    assert config["config_source"]["task_default_queue"] == "billing-eu"
    assert config["backend"] == "rpc://"  # RabbitMQ's replies unless ZENSYNC_CELERY_BACKEND_URL says otherwise


@pytest.mark.parametrize("env, message", [
    ({"ZENSYNC_EXECUTOR": "celery"}, "ZENSYNC_EXECUTOR=celery needs ZENSYNC_CELERY_BROKER_URL"),
    ({"ZENSYNC_EXECUTOR": "dask"}, "ZENSYNC_EXECUTOR='dask' is not one of in_process, celery"),
])
def test_a_bad_setting_is_one_line(monkeypatch, env, message):
    monkeypatch.delenv("ZENSYNC_CELERY_BROKER_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ExecutorSettingError, match=message):
        job_executor()


def test_zensync_worker_without_a_broker_is_one_line(monkeypatch):
    monkeypatch.delenv("ZENSYNC_CELERY_BROKER_URL", raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: ZENSYNC_EXECUTOR=celery needs ZENSYNC_CELERY_BROKER_URL (e.g. amqp://user:password@rabbitmq:5672//)"]
