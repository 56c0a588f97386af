"""One scale-out deployment shared by the tests of this folder: Redis, two daphne servers (A and B) and a
Celery worker, all on one database of their own (supportbot_scaleout) on the test session's Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.live_server import _conninfo
from tests.scaleout.cluster import (
    App,
    Daphne,
    Redis,
    Worker,
    app_environment,
    app_setup,
    database_drop,
    database_recreate,
    free_port,
)

DB_NAME = "supportbot_scaleout"
# Short enough that a task of a killed worker is delivered again within seconds (the default is over an hour).
VISIBILITY_TIMEOUT = "3"


@dataclass
class Cluster:
    app: App
    redis: Redis
    a: Daphne
    b: Daphne
    worker: Worker
    session_key: str

    def worker_restart(self) -> Worker:
        self.worker = self.app.worker().wait_ready()
        return self.worker


@pytest.fixture(scope="package")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scaleout")
    _, admin_dsn = _conninfo("postgres")
    database_recreate(admin_dsn, DB_NAME)
    url, dsn = _conninfo(DB_NAME)
    redis = Redis(port=free_port(), folder=folder / "redis").start()
    env = app_environment(
        folder=folder,
        database_url=url,
        redis_url=redis.url,
        CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
        CELERY_JOB_BUSY_RETRY_SECONDS="1",
    )
    app = App(env=env, folder=folder, dsn=dsn)
    try:
        session_key = app_setup(app)
        a, b, worker = app.daphne(free_port()), app.daphne(free_port()), app.worker()
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda ready: ready(), [a.wait_up, b.wait_up, worker.wait_ready]))
        yield Cluster(app=app, redis=redis, a=a, b=b, worker=worker, session_key=session_key)
    finally:
        app.stop_all()
        redis.stop()
        database_drop(admin_dsn, DB_NAME)
