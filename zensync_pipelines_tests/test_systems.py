"""Systems only the tests know, registered the way any system is: one registry entry each.

Imported by the conformance suite's registry, so it, `default_resources()` and every other reader of the
registry see them like the shipped ones. Each harness lives beside its adapter (`conformance_harness`), so an
entry here names no harness.
"""

from zensync_pipelines.systems.registry import SystemEntry, register

from .jsonl_system import JOURNAL_PATH

JSONL = register(SystemEntry(
    "jsonl", adapter="zensync_pipelines_tests.jsonl_system:JsonlSystem",
    resource="zensync_pipelines_tests.jsonl_system:jsonl_resource_from_env",
    environment=(JOURNAL_PATH,), required=((JOURNAL_PATH,),),
    description="A JSON-lines journal with the faults of a real API (tests only)"))
