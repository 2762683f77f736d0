"""zensync's own tables (mappings, sync events), their migrations, and reading users' catalog tables."""
