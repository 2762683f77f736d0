"""The sync engine: plain Python, no Dagster and no HTTP, so it is unit-tested fast."""
