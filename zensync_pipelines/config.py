"""Environment variable names (a public interface: scripts and docs rely on them) and their defaults."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL = "ZENSYNC_DATABASE_URL"
DATA_DIR = "ZENSYNC_DATA_DIR"
STRIPE_API_KEY = "STRIPE_API_KEY"
STRIPE_API_BASE = "STRIPE_API_BASE"
STRIPE_DEFAULT_BASE = "https://api.stripe.com"


def data_dir() -> Path:
    """Where embedded defaults live (the SQLite catalog, sandbox state): ./.zensync unless configured."""
    return Path(os.environ.get(DATA_DIR) or Path.cwd() / ".zensync").resolve()


def default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'catalog.db'}"


def database_url() -> str:
    return os.environ.get(DATABASE_URL) or default_database_url()

# Salesforce: which of these are set decides the authentication flow (see docs/salesforce.md).
SALESFORCE_LOGIN_URL = "SALESFORCE_LOGIN_URL"
SALESFORCE_CLIENT_ID = "SALESFORCE_CLIENT_ID"
SALESFORCE_CLIENT_SECRET = "SALESFORCE_CLIENT_SECRET"
SALESFORCE_USERNAME = "SALESFORCE_USERNAME"
SALESFORCE_PASSWORD = "SALESFORCE_PASSWORD"
SALESFORCE_SECURITY_TOKEN = "SALESFORCE_SECURITY_TOKEN"
SALESFORCE_REFRESH_TOKEN = "SALESFORCE_REFRESH_TOKEN"
SALESFORCE_CA_BUNDLE = "SALESFORCE_CA_BUNDLE"
SALESFORCE_INSTANCE_URL = "SALESFORCE_INSTANCE_URL"
SALESFORCE_SESSION_ID = "SALESFORCE_SESSION_ID"
SALESFORCE_API_VERSION = "SALESFORCE_API_VERSION"
SALESFORCE_DEFAULT_LOGIN_URL = "https://login.salesforce.com"
SALESFORCE_DEFAULT_API_VERSION = "59.0"
# Salesforce outbound messages (the receiver's /webhooks/salesforce): the org they must come from, an optional
# secret path token and an optional allow-list of source networks (see systems/salesforce/outbound_auth.py).
SALESFORCE_ORGANIZATION_ID = "SALESFORCE_ORGANIZATION_ID"
SALESFORCE_OUTBOUND_TOKEN = "SALESFORCE_OUTBOUND_TOKEN"
SALESFORCE_OUTBOUND_NETWORKS = "SALESFORCE_OUTBOUND_NETWORKS"

# Where a run's steps execute (dagster_defs/executors.py): in the run's own process, or on Celery workers.
EXECUTOR = "ZENSYNC_EXECUTOR"
CELERY_BROKER_URL = "ZENSYNC_CELERY_BROKER_URL"
CELERY_BACKEND_URL = "ZENSYNC_CELERY_BACKEND_URL"
CELERY_QUEUE = "ZENSYNC_CELERY_QUEUE"
# How long a failed or canceled fan-out run's step values stay for a re-execution (dagster_defs/step_values.py).
STEP_VALUES_KEEP_DAYS = "ZENSYNC_STEP_VALUES_KEEP_DAYS"
# The copy lock's kind (store/copy_lock.py): PostgreSQL advisory locks, or lease rows (behind PgBouncer).
COPY_LOCK = "ZENSYNC_COPY_LOCK"
