"""Each Celery worker's heartbeat: a thread of the worker's main process
writes its row (host name + pid) every WORKER_HEARTBEAT_SECONDS.

A thread of its own rather than Celery's `heartbeat_sent` signal: that one
fires only while the worker sends events (not with --without-heartbeat), from
the consumer's timer, where a slow database would hold up the worker. Started
on `worker_ready`, stopped on `worker_shutdown` (which deletes the row: a
worker stopped on purpose is not a dead one); a killed worker leaves its row,
which turns stale after WORKER_STALE_BEATS missed beats. Receivers are
connected in EnersolarConfig.ready().
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from .models import WorkerHeartbeat

logger = logging.getLogger(__name__)

WORKER_STALE_BEATS = 3
# Rows of workers gone for longer are dropped when a worker starts.
WORKER_FORGET_AFTER = timedelta(days=1)

_heart: _Heart | None = None


def heartbeat_interval() -> float:
    return float(settings.WORKER_HEARTBEAT_SECONDS)


def worker_beat(*, hostname: str, pid: int, started_at: datetime) -> None:
    """One heartbeat: the worker's row, created by its first (one upsert)."""
    WorkerHeartbeat.objects.bulk_create(
        [
            WorkerHeartbeat(
                hostname=hostname, pid=pid, started_at=started_at, last_seen_at=timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["hostname", "pid"],
        update_fields=["started_at", "last_seen_at"],
    )


class _Heart(threading.Thread):
    def __init__(self, hostname: str, pid: int):
        super().__init__(name="enersolar-heartbeat", daemon=True)
        self.hostname, self.pid = hostname, pid
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            WorkerHeartbeat.objects.filter(
                last_seen_at__lt=timezone.now() - WORKER_FORGET_AFTER
            ).delete()
        except DatabaseError:
            logger.warning("old worker heartbeats not pruned", exc_info=True)
        while not self.stopping.is_set():
            try:
                worker_beat(hostname=self.hostname, pid=self.pid, started_at=self.started_at)
            except DatabaseError:
                logger.warning("worker=%s heartbeat not recorded", self.hostname, exc_info=True)
            finally:
                connections.close_all()  # this thread's own connections only
            self.stopping.wait(heartbeat_interval())

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)
        try:
            WorkerHeartbeat.objects.filter(hostname=self.hostname, pid=self.pid).delete()
        except DatabaseError:
            logger.warning("worker=%s heartbeat row left", self.hostname, exc_info=True)


def heartbeat_start(sender=None, **kwargs) -> None:
    """worker_ready: `sender` is the worker's consumer."""
    global _heart
    if _heart is not None:
        return
    _heart = _Heart(getattr(sender, "hostname", None) or "celery", os.getpid())
    _heart.start()


def heartbeat_stop(sender=None, **kwargs) -> None:
    """worker_shutdown."""
    global _heart
    if _heart is not None:
        heart, _heart = _heart, None
        heart.stop()


# --- Reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerStatus:
    hostname: str
    pid: int
    started_at: datetime
    last_seen_at: datetime
    stale: bool
    now: datetime

    @property
    def since_heartbeat(self) -> timedelta:
        return self.now - self.last_seen_at


def workers_status(*, now: datetime) -> list[WorkerStatus]:
    """Workers seen in the last day, in one query; stale after a few missed beats."""
    stale_after = timedelta(seconds=WORKER_STALE_BEATS * heartbeat_interval())
    rows = WorkerHeartbeat.objects.filter(last_seen_at__gte=now - WORKER_FORGET_AFTER).order_by(
        "hostname", "pid"
    )
    return [
        WorkerStatus(
            hostname=row.hostname,
            pid=row.pid,
            started_at=row.started_at,
            last_seen_at=row.last_seen_at,
            stale=now - row.last_seen_at > stale_after,
            now=now,
        )
        for row in rows
    ]
