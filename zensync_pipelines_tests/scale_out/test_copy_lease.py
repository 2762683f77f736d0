"""The copy lock as a lease row (ZENSYNC_COPY_LOCK=lease, store/copy_lease.py), on SQLite and PostgreSQL, and
through a real PgBouncer in transaction mode, where the default advisory lock refuses in one line."""

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from zensync_pipelines.store import migrate
from zensync_pipelines.store.copy_lease import CopyLease, copy_lease, lease_holders
from zensync_pipelines.store.copy_lock import CopyLockError, copy_lock
from zensync_pipelines.store.db import make_engine
from zensync_pipelines_tests.conftest import free_port, wait_for_port

COPY = ("t1", "customers", "stripe")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def _lease(engine, clock, shared=False, seconds=60):
    return CopyLease(engine, *COPY, shared=shared, seconds=seconds, clock=clock)


def test_one_exclusive_holder_or_many_shared_ones(engine):
    clock = Clock()
    first, second = _lease(engine, clock), _lease(engine, clock)
    assert first.take() and not second.take()
    assert not _lease(engine, clock, shared=True).take()  # a month range waits for a whole sync too
    first.give_back()
    assert lease_holders(engine, *COPY) is None  # no row left behind
    ranges = [_lease(engine, clock, shared=True) for _ in range(2)]
    assert all(r.take() for r in ranges)  # disjoint month ranges of one run side by side
    assert not second.take()  # ... and the whole sync waits for both
    ranges[0].give_back()
    assert not second.take()
    ranges[1].give_back()
    assert second.take()
    assert CopyLease(engine, "t2", "customers", "stripe", clock=clock).take()  # another tenant's copy is free


def test_a_holder_that_stops_renewing_is_taken_over_when_its_lease_expires(engine):
    clock = Clock()
    dead, live, next_one = _lease(engine, clock), _lease(engine, clock), _lease(engine, clock)
    assert dead.take()
    clock.now += 59
    assert not live.take()  # still within its 60 s
    assert dead.renew()  # renewed: another 60 s from now
    clock.now += 59
    assert not live.take()
    clock.now += 2  # 61 s without a renewal: a killed worker's lease
    assert live.take()
    assert not dead.renew() and dead.lost  # the dead holder, back, learns it lost the copy
    dead.give_back()  # and giving back what it no longer holds takes nothing from the new holder
    assert not next_one.take()
    live.give_back()
    assert next_one.take()


def test_the_lease_is_renewed_while_its_block_runs_and_a_waiter_takes_it_after(engine):
    waited = threading.Event()
    order = []

    def second():
        with copy_lease(engine, *COPY, waiting=waited.set, seconds=0.6, poll=0.05):
            order.append("second")

    with copy_lease(engine, *COPY, seconds=0.6):
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(10)
        time.sleep(1.5)  # more than two lease lengths: only the renewals keep the copy
        assert order == []
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
    assert lease_holders(engine, *COPY) is None


def test_a_bad_lock_setting_is_one_line(engine, monkeypatch):
    monkeypatch.setenv("ZENSYNC_COPY_LOCK", "mutex")
    with pytest.raises(CopyLockError, match=r"^ZENSYNC_COPY_LOCK='mutex' is not one of advisory, lease$"):
        with copy_lock(engine, *COPY):
            pass


@pytest.fixture
def pgbouncer(postgres_server, tmp_path):
    """A real PgBouncer in transaction mode in front of a fresh database on the test server; its URL."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(binary), "pgbouncer is not installed (.ci/run installs Debian's package)"
    name = f"zs_pgb_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_server).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    server = make_url(postgres_server)
    port = free_port()
    tmp_path.chmod(0o777)  # pgbouncer drops root for the postgres user, which must read and write here
    (tmp_path / "users.txt").write_text(f'"{server.username}" ""\n')
    (tmp_path / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={server.host} port={server.port or 5432} dbname={name}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
        f"auth_file = {tmp_path / 'users.txt'}\npool_mode = transaction\ndefault_pool_size = 3\n"
        # Idle server connections taken in turn, as a busy pool hands them out: consecutive transactions of one
        # client land on different server connections.
        f"server_round_robin = 1\nunix_socket_dir =\nignore_startup_parameters = extra_float_digits\n")
    command = [binary, str(tmp_path / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]  # it refuses to run as root
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield server.set(host="127.0.0.1", port=port, database=name).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _warm(engine, connections=3):
    """Every server connection of the pool opened (three clients in transactions at once), then idle."""
    held = [engine.connect() for _ in range(connections)]
    for connection in held:
        connection.execute(text("SELECT 1"))
    for connection in held:
        connection.close()


def test_behind_pgbouncer_in_transaction_mode_the_advisory_lock_refuses_and_the_lease_holds(pgbouncer,
                                                                                          monkeypatch):
    engine = make_engine(pgbouncer)
    try:
        migrate.upgrade(engine)
        _warm(engine)
        # The advisory lock taken in one transaction lives on its server connection; the next transaction runs
        # on another, so the sync refuses before it writes anything, naming the setting.
        with pytest.raises(CopyLockError, match=r"pooled per transaction .* set ZENSYNC_COPY_LOCK=lease$"):
            with copy_lock(engine, *COPY):
                pass
        monkeypatch.setenv("ZENSYNC_COPY_LOCK", "lease")
        waited, order = threading.Event(), []

        def second():
            with copy_lock(engine, *COPY, waiting=waited.set):
                order.append("second")

        with copy_lock(engine, *COPY):
            thread = threading.Thread(target=second)
            thread.start()
            assert waited.wait(10)  # through the pooler, the second sync of the copy waits for the first
            time.sleep(0.3)
            order.append("first")
        thread.join(10)
        assert order == ["first", "second"]
    finally:
        engine.dispose()


def test_one_copys_advisory_lock_in_two_schemas_of_one_database_is_two_locks(postgres_url, postgres_server,
                                                                            monkeypatch):
    """Catalog databases kept as schemas of one PostgreSQL database (the suite's parallel workers do) each have
    their own copies: PostgreSQL scopes advisory locks by database, so the lock's key names the schema. A sync of
    the copy in another schema goes ahead; in the same schema it still waits."""
    from zensync_pipelines_tests.conftest import _postgres_schema_url

    monkeypatch.delenv("ZENSYNC_COPY_LOCK", raising=False)
    other = f"zs_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{other}"'))
    here, there = make_engine(postgres_url), make_engine(_postgres_schema_url(postgres_server, other))
    events = {name: threading.Event() for name in ("there waited", "there done", "here waited", "here done")}

    def sync(engine, name):
        with copy_lock(engine, *COPY, waiting=events[f"{name} waited"].set):
            events[f"{name} done"].set()

    try:
        with copy_lock(here, *COPY):
            threads = [threading.Thread(target=sync, args=(engine, name), daemon=True)
                       for engine, name in ((there, "there"), (here, "here"))]
            for thread in threads:
                thread.start()
            assert events["there done"].wait(10) and not events["there waited"].is_set()
            assert events["here waited"].wait(10) and not events["here done"].is_set()
        assert events["here done"].wait(10)
        for thread in threads:
            thread.join(10)
    finally:
        here.dispose()
        there.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
        admin.dispose()
