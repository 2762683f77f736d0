from zensync_pipelines.catalogs.customers import SPEC  # noqa: F401 - the shipped spec, beside contacts
