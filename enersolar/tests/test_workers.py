"""Each Celery worker's heartbeat (enersolar/workers.py)."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery import signals

from enersolar.models import WorkerHeartbeat
from enersolar.workers import worker_beat, workers_status

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_heartbeat_is_one_row_per_worker_process(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 30
    with time_machine.travel(NOW, tick=False) as clock:
        # Two workers started on one host share the node name.
        worker_beat(hostname="celery@web1", pid=101, started_at=NOW)
        worker_beat(hostname="celery@web1", pid=102, started_at=NOW)
        clock.shift(timedelta(seconds=30))
        worker_beat(hostname="celery@web1", pid=101, started_at=NOW)

    rows = WorkerHeartbeat.objects.order_by("pid").values_list("pid", "started_at", "last_seen_at")
    assert list(rows) == [
        (101, NOW, NOW + timedelta(seconds=30)),
        (102, NOW, NOW),
    ]


@pytest.mark.django_db
def test_a_worker_is_stale_after_three_missed_heartbeats(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 30
    WorkerHeartbeat.objects.create(
        hostname="celery@a", pid=1, last_seen_at=NOW - timedelta(seconds=90)
    )
    WorkerHeartbeat.objects.create(
        hostname="celery@b", pid=2, last_seen_at=NOW - timedelta(seconds=91)
    )
    WorkerHeartbeat.objects.create(hostname="celery@c", pid=3, last_seen_at=NOW - timedelta(days=2))

    workers = workers_status(now=NOW)

    # Gone for more than a day: no longer listed.
    assert [(w.hostname, w.stale) for w in workers] == [("celery@a", False), ("celery@b", True)]
    assert workers[1].since_heartbeat == timedelta(seconds=91)


def _wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# The heartbeat thread writes while the test thread reads: SQLite's shared
# in-memory test database locks the table across threads ("database table is
# locked", seen under load). On SQLite the system suite checks the heartbeats
# of a real worker process (tests/system/test_monitoring.py).
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_beats_from_ready_to_shutdown(settings):
    """The worker's own signals start and stop the heartbeat thread; a worker
    stopped on purpose leaves no row (a killed one leaves a stale row)."""
    settings.WORKER_HEARTBEAT_SECONDS = 0.1
    consumer = type("Consumer", (), {"hostname": "celery@test-host"})()
    mine = WorkerHeartbeat.objects.filter(hostname="celery@test-host", pid=os.getpid())

    signals.worker_ready.send(sender=consumer)
    try:
        assert _wait_for(mine.exists)
        first = mine.get().last_seen_at
        assert _wait_for(lambda: mine.get().last_seen_at > first)
    finally:
        signals.worker_shutdown.send(sender=None)

    assert not mine.exists()
