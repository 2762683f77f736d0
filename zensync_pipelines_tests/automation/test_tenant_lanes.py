"""Copies and lanes: on a real Dagster instance configured by the product's dagster.yaml, Dagster's own run queue
daemon starts one run per copy (`zensync/copy` = [<tenant>:]<catalog>.<system>) and two per lane (`zensync/lane` =
<tenant>:<system>) at a time, while the lanes of two tenants (and the default tenant's, the jobs' own tag) run side
by side. The run launcher is Dagster's test launcher, which records a launch
instead of starting a process: the queue's decisions are what is tested here; tenants/test_runs.py runs the syncs."""

import yaml
from dagster import DagsterEvent, DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from zensync_pipelines.cli.dev import INSTANCE_YAML
from zensync_pipelines.dagster_defs.factory import job_name
from zensync_pipelines.dagster_defs.scope import COPY_TAG, copy_tags, tenant_tags
from zensync_pipelines.dagster_defs.tenant_systems import LANE_TAG, lane_tags, run_in_progress
from zensync_pipelines.definitions import defs

# Where a queued run says its code is (the daemon reads the location's name only; the test launcher loads nothing).
LOCATION = RemoteRepositoryOrigin(InProcessCodeLocationOrigin(LoadableTargetOrigin(
    module_name="zensync_pipelines.definitions", attribute="defs")), "__repository__")
CODE = ReconstructableRepository.for_module("zensync_pipelines.definitions", "defs")


class _Workspace:
    """What the queue daemon asks of the code server process: the instance (the test launcher needs no code)."""

    def __init__(self, instance: DagsterInstance):
        self.instance = instance

    def create_request_context(self) -> None:
        return None


def test_the_queue_runs_one_run_per_copy_two_per_lane_and_different_tenants_lanes_together(tmp_path):
    config = yaml.safe_load(INSTANCE_YAML.read_text())
    config["run_launcher"] = {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        # The pools cap a system's syncs for the whole deployment (4; raised as an operator does with `dagster
        # instance concurrency set`), which is not what this test is about.
        for pool in ("stripe_api", "salesforce_api"):
            instance.event_log_storage.set_concurrency_slots(pool, 10)
        queue, workspace = QueuedRunCoordinatorDaemon(interval_seconds=1), _Workspace(instance)

        def submit(catalog, system, tenant=None):
            # As a sensor or `zensync sync --tenant` asks: the job's own tags, a tenant's launch overriding them.
            spec = _spec(catalog)
            job = defs.resolve_job_def(job_name(spec, system))
            extra = {} if tenant is None else \
                tenant_tags(tenant) | copy_tags(spec, system, tenant) | lane_tags(tenant, system)
            run = instance.create_run_for_job(job, tags=job.tags | extra, status=DagsterRunStatus.NOT_STARTED,
                                              remote_job_origin=RemoteJobOrigin(LOCATION, job.name),
                                              job_code_origin=CODE.get_reconstructable_job(job.name).get_python_origin())
            instance.submit_run(run.run_id, workspace=None)
            return run.run_id

        def started() -> set[str]:
            list(queue.run_iteration(workspace))
            return {r.run_id for r in instance.get_runs() if r.status == DagsterRunStatus.STARTING}

        t1_customers, t1_customers_again = submit("customers", "stripe", "t1"), submit("customers", "stripe", "t1")
        t1_plans, t1_invoices = submit("plans", "stripe", "t1"), submit("invoices", "stripe", "t1")
        t2, default = submit("customers", "stripe", "t2"), submit("customers", "stripe")
        t1_salesforce, default_again = submit("customers", "salesforce", "t1"), submit("customers", "stripe")
        runs = {r.run_id: r.tags for r in instance.get_runs()}
        assert runs[default][LANE_TAG] == "default:stripe" and runs[t2][LANE_TAG] == "t2:stripe"
        assert runs[default][COPY_TAG] == "customers.stripe" and runs[t2][COPY_TAG] == "t2:customers.stripe"
        assert runs[t1_salesforce][LANE_TAG] == "t1:salesforce"

        # t1's Stripe lane runs two copies; its second customers run waits for its copy, its invoices run for the
        # lane; t1's Salesforce, t2's and the default tenant's lanes run beside it.
        assert started() == {t1_customers, t1_plans, t2, default, t1_salesforce}
        assert run_in_progress(instance, COPY_TAG, "t1:customers.stripe").run_id == t1_customers  # zensync sync's
        assert started() == {t1_customers, t1_plans, t2, default, t1_salesforce}  # still queued: three
        _end(instance, t1_customers)
        assert started() == {t1_plans, t2, default, t1_salesforce, t1_customers_again}
        _end(instance, t1_plans)
        _end(instance, default)
        assert started() == {t2, t1_salesforce, t1_customers_again, t1_invoices, default_again}
        assert run_in_progress(instance, COPY_TAG, "t9:customers.stripe") is None


def _spec(name: str):
    from zensync_pipelines.catalogs import load_specs

    return {spec.name: spec for spec in load_specs()}[name]


def _end(instance: DagsterInstance, run_id: str) -> None:
    run = instance.get_run_by_id(run_id)
    instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name),
                                  run_id=run_id)
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
