"""The deployment the system tests share: started once per run, stopped at
the end; each test leaves the buyer answering 201 and every process up."""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.buyer import FakeBuyer

from .harness import RedisServer, Stack, redis_available

# Recovery times measured by the scenarios, printed at the end of the run.
FIGURES: dict[str, float] = {}


def _database_url(folder: Path) -> str:
    """PostgreSQL when the test pass runs on it (a database of our own on the
    same server), else an SQLite file."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return f"sqlite:///{folder / 'system.sqlite3'}"
    name = f"{db['NAME']}_system_{os.getpid()}"
    user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port or 5432}/{name}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("system")
    database_url = _database_url(folder)
    on_postgres = database_url.startswith("postgres")
    redis = RedisServer(folder) if on_postgres and redis_available() else None
    buyer = FakeBuyer().start()
    deployment = Stack(folder, database_url=database_url, redis=redis, buyer=buyer)
    started = time.monotonic()
    try:
        if redis:
            redis.start()
        deployment.start()
        FIGURES["start-up (migrate, seed, processes), s"] = time.monotonic() - started
        yield deployment
    finally:
        deployment.stop()
        buyer.stop()
        if redis:
            redis.stop()
        deployment.db.drop()


@pytest.fixture
def system(stack, request):
    """The shared deployment, the buyer back to answering 201; on failure,
    the processes' logs go into the report."""
    stack.buyer.reset()
    yield stack
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(stack.tail())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("system tests: measured")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value:.1f}")
