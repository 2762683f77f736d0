"""Bad settings end in one line naming the variable or flag, the value (secrets masked) and what to do; exit 2."""

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import make_url

from zensync_pipelines.cli import main
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.salesforce.auth import (
    Credentials,
    SalesforceAuthError,
    login,
)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("ZENSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZENSYNC_DATABASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args, **env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def one_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return lines[-1]


def test_a_garbage_database_url_names_the_variable(cli):
    for command in (["db", "upgrade"], ["seed", "--customers", "5"]):
        line = one_line(cli(*command, ZENSYNC_DATABASE_URL="garbage"))
        assert line.startswith("Error: ZENSYNC_DATABASE_URL=garbage is not a database URL")


def test_a_missing_database_names_it_and_masks_the_password(cli, postgres_server):
    url = make_url(postgres_server).set(database="nosuchdb_zs13", password="S3cret-pw")
    line = one_line(cli("db", "upgrade", ZENSYNC_DATABASE_URL=url.render_as_string(hide_password=False)))
    assert "ZENSYNC_DATABASE_URL=" in line and "nosuchdb_zs13" in line and "does not exist" in line
    assert "S3cret-pw" not in line and "***" in line and "create the database" in line


def test_an_unknown_driver_is_named(cli):
    line = one_line(cli("db", "upgrade", ZENSYNC_DATABASE_URL="mysql+nosuchdriver://u:pw@h/db"))
    assert "ZENSYNC_DATABASE_URL=mysql+nosuchdriver://u:***@h/db" in line and "driver" in line


def test_dev_names_a_taken_port_and_the_service_that_wanted_it(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line(cli("dev", "--port", "13150", "--stripe-port", str(port), "--salesforce-port", "13151"))
        assert line == (f"Error: port {port} for the Stripe sandbox is already in use (another zensync dev or "
                        f"sandbox?): stop it, or pick another port with --stripe-port")
        line = one_line(cli("sandbox", "salesforce", "--port", str(port)))
        assert f"port {port} for the Salesforce sandbox" in line and "--port" in line


def test_dev_names_a_bad_sensor_setting_before_starting_anything(cli, tmp_path):
    line = one_line(cli("dev", "--port", "13152", "--stripe-port", "13153", "--salesforce-port", "13154",
                        ZENSYNC_SENSORS_DEFAULT="on"))
    assert "ZENSYNC_SENSORS_DEFAULT must be 'running' or 'stopped', got 'on'" in line
    assert not (tmp_path / "data" / "stripe-sandbox.json").exists()


def test_seed_without_options_says_what_it_can_do(cli):
    result = cli("seed")
    assert result.exit_code == 2 and "--customers" in result.output and "--invoices" in result.output


def test_seeded_rows_are_stamped_now_so_a_change_sensor_sees_them(cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert cli("seed", "--customers", "20", ZENSYNC_DATABASE_URL=url).exit_code == 0
    assert cli("seed", "--customers", "25", ZENSYNC_DATABASE_URL=url).exit_code == 0
    engine = make_engine(url)
    with engine.connect() as connection:
        stamps = dict(connection.execute(select(customers.c.id, customers.c.updated_at)).all())
    engine.dispose()
    assert len(stamps) == 25
    assert all(stamp.replace(tzinfo=None) >= before for stamp in stamps.values())


def test_a_wrong_password_can_be_tried_against_the_sandbox_from_the_command_line(tmp_path, spawn):
    command = [sys.executable, "-m", "zensync_pipelines.cli", "sandbox", "salesforce", "--port", "0",
               "--ca-file", str(tmp_path / "ca.pem"), "--require-credentials", "--username", "ada@example.com",
               "--password", "Right-pw", "--security-token", "TOK"]
    server = spawn(command, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        url = server.stdout.readline().split()[-1]
        server.stdout.readline()
        http = __import__("requests").Session()
        http.verify, http.trust_env = str(tmp_path / "ca.pem"), False
        wrong = Credentials(login_url=url, username="ada@example.com", password="Wrong-pw", security_token="TOK")
        with pytest.raises(SalesforceAuthError) as failed:
            login(wrong, http, "59.0")
        message = str(failed.value)
        assert "INVALID_LOGIN" in message and "Invalid username, password" in message
        assert "{content}" not in message and "Wrong-pw" not in message
        right = Credentials(login_url=url, username="ada@example.com", password="Right-pw", security_token="TOK")
        assert login(right, http, "59.0").token
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


def test_require_credentials_without_credentials_is_a_usage_error(cli):
    result = cli("sandbox", "salesforce", "--require-credentials")
    assert result.exit_code == 2 and "--username" in result.output
