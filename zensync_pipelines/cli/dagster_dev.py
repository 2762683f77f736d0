"""Dagster's local services for `zensync dev`: webserver, daemon and code server over this code location.

This is what both `dagster dev` and `dg dev` run (`dagster._cli.dev.dev_command_impl`, with the Dagster family
pinned in setup.py). Called directly, it needs neither the `dg` CLI package and a `dg` project layout, nor the
`dagster dev` command, which only wraps it with a notice that it is superseded by `dg dev`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from dagster._cli.dev import dev_command_impl
from dagster_shared.cli import WorkspaceOpts

MODULE = "zensync_pipelines.definitions"
# The module above under the location name `zensync`, which `zensync sync` names in the runs it queues.
WORKSPACE = Path(__file__).parents[1] / "dagster_workspace.yaml"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=3000, show_default=True)
def main(host: str, port: int) -> None:
    # The code server answers each sensor tick on a thread of its pool, and an idle change or inbox tick holds its
    # thread for up to 3 s (dagster_defs/waking.py); Dagster's default pool (CPUs + 4 threads) would leave the
    # webserver's and the other sensors' calls waiting behind them. Idle threads cost nothing.
    for pool in ("DAGSTER_CODE_SERVER_MAX_WORKERS", "DAGSTER_GRPC_MAX_WORKERS"):
        os.environ.setdefault(pool, "32")
    dev_command_impl(code_server_log_level="warning", log_level="info", log_format="colored", port=str(port),
                     host=host, use_legacy_code_server_behavior=False, shutdown_pipe=None, verbose=False,
                     workspace_opts=WorkspaceOpts(workspace=(str(WORKSPACE),)), live_data_poll_rate="2000")


if __name__ == "__main__":
    main()
