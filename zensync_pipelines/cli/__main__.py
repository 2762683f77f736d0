"""`python -m zensync_pipelines.cli`: the same command as the `zensync` console script (the tests start it so)."""

from . import main

main()
