"""The scale-out tests' cluster: two `zensync worker` processes, each running one step at a time (cluster.py)."""

from typing import Iterator

import pytest

from zensync_pipelines_tests.scale_out.cluster import Cluster, celery_cluster

SANDBOX_RATE = 10  # requests per second per connected account, as the sandbox enforces with 429s
CLIENT_RATE = 8  # what zensync's token bucket admits per tenant, across every worker together


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory) -> Iterator[Cluster]:
    with celery_cluster(postgres_server, tmp_path_factory.mktemp("cluster"), SANDBOX_RATE, CLIENT_RATE) as world:
        world.start_worker("w1")
        world.start_worker("w2")
        yield world  # the tests wait for the workers' start only when they run a job: their setup overlaps it
