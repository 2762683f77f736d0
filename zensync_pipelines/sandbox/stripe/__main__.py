"""`python -m zensync_pipelines.sandbox.stripe`: the same command the `zensync sandbox stripe` CLI runs."""

from ...cli.sandbox_stripe import command

command(prog_name="python -m zensync_pipelines.sandbox.stripe")
