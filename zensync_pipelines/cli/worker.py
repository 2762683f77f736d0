"""`zensync worker`: a Celery worker that executes the steps of zensync's runs (ZENSYNC_EXECUTOR=celery).

It is dagster-celery's worker with zensync's settings (dagster_defs/executors.py: late acknowledgement, prefetch
1) and the code location imported before the first step, so a broken location fails here at start, and each
prefork child inherits the import instead of paying seconds for it on its first step. Its step task keeps each
pool process's Dagster instance between steps (dagster_defs/celery_task.py).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket

import click

from .preflight import SettingsError

LOCATION = "zensync_pipelines.definitions"


def celery_app():  # noqa: ANN201 - a celery.Celery
    """The app a worker serves: the executor's broker, backend and settings, and dagster-celery's step task."""
    from dagster_celery.config import DEFAULT_CONFIG, dict_wrapper

    from dagster_celery.make_app import make_app

    from ..dagster_defs.celery_task import create_step_task
    from ..dagster_defs.executors import celery_settings, celery_urls

    urls = celery_urls()
    app = make_app({"broker": urls["broker"], "backend": urls["backend"], "include": [],
                    "config_source": dict_wrapper(dict(DEFAULT_CONFIG, **celery_settings()))})
    create_step_task(app)  # dagster-celery's step task, keeping the process's Dagster instance between steps
    return app


@click.command()
@click.option("--queue", "queues", multiple=True,
              help="Queue to take steps from (repeatable); a step's tag dagster-celery/queue names its queue.  "
                   "[default: ZENSYNC_CELERY_QUEUE, else dagster]")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Steps run at once, each in its own process.  [default: the machine's cores]")
@click.option("--name", default=None, help="Celery node name.  [default: zensync-<pid>@<host>]")
@click.option("--module", "-m", "module", default=LOCATION, show_default=True,
              help="The code location's module, imported before the first step.")
@click.option("--loglevel", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def worker(queues: tuple[str, ...], concurrency: int | None, name: str | None, module: str, loglevel: str) -> None:
    """Execute the steps of runs that use the Celery executor (ZENSYNC_EXECUTOR=celery), from
    ZENSYNC_CELERY_BROKER_URL. Stop it with SIGTERM: the steps it runs finish first. Killed outright, the steps it
    held go back to the broker and another worker runs them again, idempotently."""
    # Imported here: executors.py loads Dagster, which every other command's start must not pay for.
    from ..dagster_defs.executors import ExecutorSettingError, celery_queue

    try:
        app = celery_app()
    except ExecutorSettingError as error:
        raise SettingsError(str(error)) from None
    except ImportError:
        raise SettingsError("zensync worker needs the celery extra: pip install 'zensync_pipelines[celery]'") \
            from None
    importlib.import_module(module)
    # Dagster's PostgreSQL storage, which each pool process would otherwise import on its first step (~1 s of CPU
    # each, py-spy): imported once here, before the pool forks. Connections are opened only in the pool processes.
    with contextlib.suppress(ImportError):
        importlib.import_module("dagster_postgres")
    logging.getLogger("stripe").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    # Mingle and gossip exchange state between workers at start and all along; steps need neither (the Dagster
    # instance is the record), and mingle alone costs a second of every start.
    app.worker_main(["worker", f"--loglevel={loglevel.upper()}", "--queues", ",".join(queues or (celery_queue(),)),
                     f"--concurrency={concurrency or os.cpu_count() or 1}", "--without-mingle", "--without-gossip",
                     f"--hostname={name or f'zensync-{os.getpid()}@{socket.gethostname()}'}"])
