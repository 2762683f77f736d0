"""The docs say what the code does: commands that work as written, one row per setting with its real default."""

import re
from pathlib import Path

from zensync_pipelines.dagster_defs import settings as s
from zensync_pipelines.dagster_defs.settings import AutomationSettings

ROOT = Path(__file__).resolve().parents[2]


def table_after(text: str, heading: str) -> list[list[str]]:
    block = text[text.index(heading):].split("\n\n")[1]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()]


def test_operations_lists_each_setting_once_under_a_header_with_the_code_default():
    rows = table_after((ROOT / "docs" / "operations.md").read_text(), "## Environment variables")
    assert rows[0] == ["variable", "default", "meaning"] and set(rows[1][0]) <= set("-")
    defaults = {row[0].strip("`"): row[1].strip("`") for row in rows[2:]}
    assert len(defaults) == len(rows) - 2  # each variable once
    code = AutomationSettings()
    assert defaults[s.SENSOR_INTERVAL] == str(code.sensor_interval_seconds)
    assert float(defaults[s.SENSOR_OVERLAP]) == code.sensor_overlap_seconds
    assert defaults[s.RECONCILE_CRON] == code.reconcile_cron
    assert float(defaults[s.FRESHNESS_MAX_LAG]) == code.freshness_max_lag_minutes
    assert defaults[s.SENSORS_DEFAULT] == defaults[s.SCHEDULES_DEFAULT] == "stopped"


def test_documented_materialize_commands_name_their_partitions():
    for doc in ("adding-a-catalog.md", "operations.md"):
        text = (ROOT / "docs" / doc).read_text().replace("\\\n", " ")
        commands = re.findall(r"^dagster asset materialize[^\n]*", text, flags=re.M)
        assert commands, doc
        for command in commands:
            assert "--partition" in command, (doc, command)  # the external copies are partitioned by month
    adding = (ROOT / "docs" / "adding-a-catalog.md").read_text()
    assert "lists the new group" not in adding and 'Validation successful for code location zensync' in adding


def test_readme_says_how_tests_get_postgresql_and_a_browser_and_how_dev_is_chosen():
    readme = (ROOT / "README.md").read_text()
    assert "pgserver" in readme and "playwright install chromium" in readme and "apt-get install chromium" in readme
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "### `dagster dev` or `dg dev`" in operations and "deploy/production/dagster.yaml" in operations


def test_operations_names_every_kind_of_check_sensor_schedule_and_asset_the_ui_lists():
    """What the UI lists of the code location, by kind (a check by name, a sensor or schedule by its suffix, an
    asset by its key's shape), is in docs/operations.md's tables."""
    from zensync_pipelines.definitions import defs

    operations = (ROOT / "docs" / "operations.md").read_text()
    graph = defs.resolve_asset_graph()
    checks = {check.name for check in graph.asset_check_keys}
    assert checks >= {"parity", "failed_rows", "freshness", "drift", "inbox_backlog", "oldest_unapplied"}
    missing = [f"check {name}" for name in checks if f"`{name}`" not in operations]
    suffixes = {sensor.name.rsplit("_", 1)[-1] for sensor in defs.sensors or []} | \
        {schedule.name.rsplit("_", 2)[-1] if schedule.name.endswith("_poll_events") else
         schedule.name.rsplit("_", 1)[-1] for schedule in defs.schedules or []}
    missing += [f"sensor or schedule *_{suffix}" for suffix in suffixes if f"_{suffix}`" not in operations]
    shapes = {"catalog/<catalog>" if key.path[0] == "catalog" else
              "<system>/inbound/<catalog>" if key.path[1:2] == ["inbound"] else "<system>/<catalog>"
              for key in graph.get_all_asset_keys()}
    missing += [f"asset {shape}" for shape in shapes if f"`{shape}`" not in operations]
    assert missing == []
