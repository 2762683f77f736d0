"""External systems. Each one is an adapter (plain Python over its SDK) plus a Dagster resource that builds it."""
