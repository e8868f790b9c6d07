"""Probes: `/healthz` for load balancers, `/api/readiness` for staff.

/healthz answers whether this web process can reach the database and the
broker (that check bounded by HEALTHZ_TIMEOUT_SECONDS, whatever state the
broker is in), with no authentication and nothing secret in its answer. It and /metrics are
answered by ProbeMiddleware, first of all middleware: before host
validation (a load balancer asks by IP address), the HTTPS redirect (it asks
in plain HTTP behind the TLS proxy), sessions and the locale.

/api/readiness adds what a person needs to trust the system: each periodic
job's lag and each worker's last heartbeat; 503 when any is not right.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema
from kombu import Connection
from redis.backoff import NoBackoff
from redis.retry import Retry
from rest_framework.response import Response
from rest_framework.views import APIView

from .jobs import jobs_status
from .permissions import has_perm
from .workers import workers_status

logger = logging.getLogger(__name__)

OK, ERROR = "ok", "error"


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure is "unreachable"
        logger.warning("healthz database=error", exc_info=True)
        return ERROR
    return OK


@lru_cache(maxsize=4)
def _redis_client(url: str, timeout: float) -> redis.Redis:
    """One client (and connection pool) per process: a probe reuses its connection."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def broker_check() -> str:
    """The Celery broker: Redis answers PING; the embedded file-system broker
    is its folders, which must exist and be writable; any other transport
    must accept a connection."""
    url = settings.CELERY_BROKER_URL
    timeout = settings.HEALTHZ_TIMEOUT_SECONDS
    try:
        if url.startswith("filesystem://"):
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            folders = {options.get("data_folder_in"), options.get("data_folder_out")} - {None}
            reachable = bool(folders) and all(
                os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK) for folder in folders
            )
        elif url.startswith(("redis://", "rediss://", "unix://")):
            reachable = bool(_redis_client(url, timeout).ping())
        else:
            with Connection(url, connect_timeout=timeout) as broker:
                broker.ensure_connection(max_retries=0, timeout=timeout)
            reachable = True
    except Exception:  # noqa: BLE001 - any failure is "unreachable"
        logger.warning("healthz broker=error", exc_info=True)
        return ERROR
    return OK if reachable else ERROR


def healthz(request) -> JsonResponse:
    """200 {"status": "ok", "database": "ok", "broker": "ok"}, or 503 with the
    failing part as "error"."""
    checks = {"database": database_check(), "broker": broker_check()}
    healthy = all(value == OK for value in checks.values())
    return JsonResponse(
        {"status": OK if healthy else ERROR, **checks},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )


class ProbeMiddleware:
    """Answers the probe paths (settings.PROBE_VIEWS: path -> view) ahead of
    the rest of the stack; every other request goes on unchanged."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.views = {path: import_string(view) for path, view in settings.PROBE_VIEWS.items()}

    def __call__(self, request):
        view = self.views.get(request.path_info)
        return view(request) if view else self.get_response(request)


# --- Readiness (staff) ------------------------------------------------------------


def readiness(*, now) -> dict:
    jobs = jobs_status(now=now)
    workers = workers_status(now=now)
    checks = {"database": database_check(), "broker": broker_check()}
    ready = (
        all(value == OK for value in checks.values())
        and not any(job.overdue for job in jobs)
        and any(not worker.stale for worker in workers)
    )
    return {
        "ready": ready,
        **checks,
        "jobs": [
            {
                "name": job.name,
                "task": job.task,
                "last_started_at": job.last_started_at,
                "last_finished_at": job.last_finished_at,
                "last_outcome": job.last_outcome,
                "last_error": job.last_error,
                "last_success_at": job.last_success_at,
                "next_due_at": job.next_due_at,
                "period_seconds": job.period.total_seconds(),
                "lag_seconds": job.lag.total_seconds(),
                "seconds_since_success": (
                    None if job.since_success is None else job.since_success.total_seconds()
                ),
                "running": job.running,
                "overdue": job.overdue,
            }
            for job in jobs
        ],
        "workers": [
            {
                "hostname": worker.hostname,
                "pid": worker.pid,
                "started_at": worker.started_at,
                "last_seen_at": worker.last_seen_at,
                "seconds_since_heartbeat": worker.since_heartbeat.total_seconds(),
                "stale": worker.stale,
            }
            for worker in workers
        ],
    }


class ReadinessApi(APIView):
    """Ready: database and broker reachable, no overdue job, a live worker."""

    permission_classes = [has_perm("enersolar.view_periodicjob")]

    @extend_schema(tags=["monitoring"], responses={200: dict, 503: dict})
    def get(self, request):
        body = readiness(now=timezone.now())
        return Response(body, status=200 if body["ready"] else 503)
