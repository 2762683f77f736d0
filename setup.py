from setuptools import find_packages, setup

DAGSTER = "1.13.27"
DAGSTER_LIBS = "0.29.27"

setup(
    name="zensync_pipelines",
    version="0.1.0",
    description="Dagster-native two-way sync of business catalogs with Stripe and Salesforce",
    packages=find_packages(exclude=["zensync_pipelines_tests*", "benchmarks*"]),
    package_data={"zensync_pipelines": ["dagster_instance.yaml", "dagster_workspace.yaml", "store/migrations/*.ini",
                                        "store/migrations/*.mako", "store/migrations/versions/*.py",
                                        "sandbox/**/*.json"]},
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=[
        # The Dagster family must be pinned together: dagster-postgres 0.29.27 requires dagster 1.13.27.
        f"dagster=={DAGSTER}",
        f"dagster-webserver=={DAGSTER}",
        f"dagster-graphql=={DAGSTER}",
        f"dagster-postgres=={DAGSTER_LIBS}",
        "pandas>=2.2",
        # 2.1 maps postgresql:// to psycopg 3, which breaks Dagster's Postgres storage; stay on psycopg2.
        "sqlalchemy>=2.0,<2.1",
        "psycopg2-binary>=2.9",
        "alembic>=1.13",
        "stripe>=16,<17",
        "simple-salesforce>=1.12,<1.13",
        "requests>=2.31",
        "click>=8.1",
        "starlette>=0.40",
        # The receiver's DeadlineProtocol extends uvicorn's httptools protocol (inbound/server.py); uvloop is the
        # event loop uvicorn picks when it is installed.
        "uvicorn>=0.30,<1",
        "httptools>=0.6",
        "uvloop>=0.19; sys_platform != 'win32'",
        "cryptography>=42",
        "defusedxml>=0.7",
        # Outbound messages are parsed with lxml, safe settings and DTDs refused (systems/salesforce/outbound.py).
        "lxml>=5",
    ],
    extras_require={
        "test": [
            # Not 9 yet: pytest-xdist 3.8 groups tests (`--dist loadgroup`, README's test command) by renaming their
            # node ids, which pytest 9 no longer lets a plugin do, so every group was spread over all workers.
            "pytest>=8,<9",
            "pytest-timeout>=2.3",
            # The suite runs on three workers (README's test command): most of its time is spent waiting on daemons,
            # sandboxes and subprocesses, not on the CPU.
            "pytest-xdist>=3.5",
            "hypothesis>=6.100",
            "localstripe==1.15.10",
            # A throwaway PostgreSQL 16 for the tests when no server answers (zensync_pipelines_tests/conftest.py).
            "pgserver>=0.1.4",
            "playwright>=1.45",
            "matplotlib>=3.8",
            # The import graph's circles (zensync_pipelines_tests/test_imports.py).
            "networkx>=3.2,<4",
            # The scale-out tests run real Celery workers on RabbitMQ (zensync_pipelines_tests/scale_out).
            f"dagster-celery=={DAGSTER_LIBS}",
        ],
        "dev": ["ruff", "py-spy", "pyinstrument"],
        # ZENSYNC_EXECUTOR=celery and `zensync worker` (docs/scale-out.md): pinned with the Dagster family; redis
        # for a Redis broker or result backend (RabbitMQ needs nothing more).
        "celery": [f"dagster-celery=={DAGSTER_LIBS}", "redis>=5"],
        # The peer in benchmarks/scenarios/peer.py: an open-source reverse-ETL CLI, run as a user would.
        "bench": ["drt-core==1.2.1"],
        # Kubernetes (deploy/kubernetes, docs/deploy.md): the K8sRunLauncher and k8s_job_executor that the instance
        # names are imported by every run pod, which runs zensync's image.
        "k8s": [f"dagster-k8s=={DAGSTER_LIBS}"],
    },
    entry_points={"console_scripts": ["zensync=zensync_pipelines.cli:main"]},
)
