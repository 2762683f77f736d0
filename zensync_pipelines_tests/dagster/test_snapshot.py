"""Every asset, group, job, sensor, schedule and check of the code location, against a checked-in listing.

A new catalog, system or automation shows up as a reviewable diff of `definitions_snapshot.txt`. After an
intended change, regenerate it with:

    ZENSYNC_UPDATE_SNAPSHOT=1 python -m pytest zensync_pipelines_tests/dagster/test_snapshot.py
"""

import os
from pathlib import Path

from dagster import Definitions

from zensync_pipelines.definitions import defs

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.txt")


def listing(definitions: Definitions) -> str:
    graph = definitions.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ", ".join(sorted(parent.to_user_string() for parent in node.parent_keys))
        lines.append(f"asset {key.to_user_string()} group={node.group_name} deps=[{deps}]")
    lines += sorted(f"check {check.asset_key.to_user_string()}:{check.name}" for check in graph.asset_check_keys)
    lines += sorted(f"job {job.name}" for job in definitions.resolve_all_job_defs()
                    if not job.name.startswith("__"))
    lines += sorted(f"sensor {sensor.name}" for sensor in definitions.sensors or [])
    lines += sorted(f"schedule {schedule.name}" for schedule in definitions.schedules or [])
    return "\n".join(lines) + "\n"


def test_definitions_match_the_checked_in_listing():
    current = listing(defs)
    if os.environ.get("ZENSYNC_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run once with ZENSYNC_UPDATE_SNAPSHOT=1"
    assert current == SNAPSHOT.read_text(), \
        "definitions changed: review the diff, then regenerate with ZENSYNC_UPDATE_SNAPSHOT=1"
