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
    assert "lists the new group" not in adding and '"Validation successful for code location zensync"' in adding


def test_readme_says_how_tests_get_postgresql_and_a_browser_and_how_dev_is_chosen():
    readme = (ROOT / "README.md").read_text()
    assert "pgserver" in readme and "playwright install chromium" in readme and "apt-get install chromium" in readme
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "### `dagster dev` or `dg dev`" in operations and "deploy/production/dagster.yaml" in operations
