"""The factory: catalog specs -> Dagster assets, jobs (and later checks, sensors, schedules)."""
