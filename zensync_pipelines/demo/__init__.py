"""Demo catalog tables and deterministic seed data for the sandbox, the tests and the benchmarks."""
