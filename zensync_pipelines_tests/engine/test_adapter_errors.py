"""An adapter that raises: a bug fails that call's rows (named, secrets scrubbed), an outage still fails the run."""

import pytest

from zensync_pipelines.engine.failures import Outage, scrub
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.engine.types import FAILED, SYNCED, WAITING
from zensync_pipelines_tests.engine.test_sync import SPEC, rows
from zensync_pipelines_tests.memory_system import ListSource, MemorySystem


class BrokenOn(MemorySystem):
    """Raises `error` when asked to write `object_type`, the way an SDK without a method would."""

    def __init__(self, object_type, error, **kwargs):
        super().__init__(**kwargs)
        self.broken, self.error = object_type, error

    def apply(self, operations):
        if operations[0].object_type == self.broken:
            raise self.error
        return super().apply(operations)


def run(store, system, data, run_id="r1"):
    return sync(SPEC, "memory", ListSource(data), store, system, run_id, Selection())


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_an_unexpected_exception_fails_its_batch_rows_and_the_run_goes_on(store):
    error = AttributeError("'PriceService' object has no attribute 'delete' (key sk_test_abc123, "
                           "https://bob:hunter2@example.com)")
    system = BrokenOn("account", error, batch_size=4)
    report = run(store, system, rows(6))
    assert report.failed == 6 and report.waiting == 6 and report.created == 0  # every batch ran
    states = {(r["internal_id"], r["object_type"]): r for r in store.rows("people", "memory")}
    assert not [r for r in states.values() if r["status"] == "pending"]
    account = states[("1", "account")]
    assert account["status"] == FAILED and account["last_error_code"] == "adapter_error"
    assert account["last_error"].startswith("AttributeError: 'PriceService' object has no attribute 'delete'")
    assert "sk_test_abc123" not in account["last_error"] and "hunter2" not in account["last_error"]
    assert states[("1", "contact")]["status"] == WAITING  # its parent failed in the same batch

    system.broken = None
    again = run(store, system, rows(6), run_id="r2")
    assert again.created == 12 and all(r["status"] == SYNCED for r in store.rows("people", "memory"))


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
@pytest.mark.parametrize("error", [ConnectionResetError("peer went away"), TimeoutError("read timed out")])
def test_an_outage_still_fails_the_run(store, error):
    with pytest.raises(type(error)):
        run(store, BrokenOn("account", error), rows(3))
    assert {r["status"] for r in store.rows("people", "memory")} == {"pending"}


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_an_adapter_names_its_own_outage_errors(store):
    class AuthRefused(RuntimeError):
        pass

    system = BrokenOn("contact", AuthRefused("bad key"))
    system.outage_errors = (AuthRefused,)
    with pytest.raises(AuthRefused):
        run(store, system, rows(2))


def test_scrub_hides_credentials():
    text = scrub('password=hunter2 Authorization: Bearer abc.def {"client_secret": "s3cr3t"} token=xyz')
    for secret in ("hunter2", "abc.def", "s3cr3t", "xyz"):
        assert secret not in text


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_an_outage_fails_the_run_even_through_a_wrapper(store):
    class Wrapper:  # e.g. a test's or a breaker's wrapper, which declares no outage_errors of its own
        def __init__(self, inner):
            self.inner, self.name, self.batch_size = inner, inner.name, inner.batch_size

        @property
        def api_calls(self):
            return self.inner.api_calls

        def apply(self, operations):
            return self.inner.apply(operations)

    class Refused(Outage):
        pass

    with pytest.raises(Refused):
        run(store, Wrapper(BrokenOn("account", Refused("login refused"))), rows(2))
