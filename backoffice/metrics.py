"""`/metrics` for Prometheus: read from the database at each scrape by a
custom collector (so any web process answers for the whole system, and no
multi-process registry is needed), in six queries whatever the data.

Refused (404) unless METRICS_TOKEN or METRICS_ALLOWED_IPS is set; when set,
the caller must send `Authorization: Bearer <METRICS_TOKEN>` and come from an
allowed address (each configured condition must hold), or gets 403.
Answered by enersolar.health.ProbeMiddleware (settings.PROBE_VIEWS).
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from enersolar.http import client_ip
from enersolar.jobs import jobs_status
from enersolar.workers import workers_status
from routing.models import CRMHealth, DeliveryAttempt
from routing.selectors import queue_stats

from .selectors import crm_circuits

# Deliveries per CRM and outcome are counted over this sliding window.
ATTEMPTS_WINDOW = timedelta(hours=1)


class EnerSolarCollector:
    def __init__(self, now: datetime):
        self.now = now

    def collect(self):
        yield from self._queue()
        yield from self._crms()
        yield from self._jobs()
        yield from self._workers()

    def _queue(self):
        stats = queue_stats()
        depth = GaugeMetricFamily(
            "enersolar_delivery_queue_items", "Deliveries per queue state.", labels=["state"]
        )
        for state, n in stats.counts.items():
            if state != "total":
                depth.add_metric([state], n)
        yield depth
        oldest = stats.oldest_pending_routed_at
        yield GaugeMetricFamily(
            "enersolar_delivery_oldest_pending_seconds",
            "Age of the delivery waiting longest (0 when none waits).",
            value=(self.now - oldest).total_seconds() if oldest else 0,
        )

    def _crms(self):
        crms = crm_circuits()
        circuit = GaugeMetricFamily(
            "enersolar_crm_circuit_state",
            "Circuit breaker of each active CRM: 1 for its current state.",
            labels=["crm", "state"],
        )
        failures = GaugeMetricFamily(
            "enersolar_crm_consecutive_failures",
            "Failed deliveries in a row, per active CRM.",
            labels=["crm"],
        )
        for crm in crms:
            health = getattr(crm, "health", None)
            current = health.state if health else CRMHealth.State.CLOSED
            for state in CRMHealth.State.values:
                circuit.add_metric([crm.slug, state], int(state == current))
            failures.add_metric([crm.slug], health.consecutive_failures if health else 0)
        yield circuit
        yield failures

        rows = (
            DeliveryAttempt.objects.filter(attempted_at__gte=self.now - ATTEMPTS_WINDOW)
            .values_list("crm__slug", "outcome")
            .annotate(n=Count("pk"))
            .order_by()
        )
        counts = {(slug, outcome): n for slug, outcome, n in rows}
        # Every active CRM × outcome, zeros included: a series that vanishes
        # at zero cannot be alerted on.
        keys = {(crm.slug, o) for crm in crms for o in DeliveryAttempt.Outcome.values}
        attempts = GaugeMetricFamily(
            "enersolar_delivery_attempts_last_hour",
            "Delivery attempts of the last hour, per CRM and outcome.",
            labels=["crm", "outcome"],
        )
        for slug, outcome in sorted(keys | counts.keys()):
            attempts.add_metric([slug, outcome], counts.get((slug, outcome), 0))
        yield attempts

    def _jobs(self):
        labels = ["job"]
        since_success = GaugeMetricFamily(
            "enersolar_job_seconds_since_success",
            "Seconds since the job last ended well (absent until it has).",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "enersolar_job_lag_seconds", "How late the job is on its next due time.", labels=labels
        )
        overdue = GaugeMetricFamily(
            "enersolar_job_overdue",
            "1 when the job has not started for twice its period.",
            labels=labels,
        )
        last_ok = GaugeMetricFamily(
            "enersolar_job_last_run_ok",
            "1 when the job's last run ended well, 0 on an error (absent before its first end).",
            labels=labels,
        )
        for job in jobs_status(now=self.now):
            if job.since_success is not None:
                since_success.add_metric([job.name], job.since_success.total_seconds())
            lag.add_metric([job.name], job.lag.total_seconds())
            overdue.add_metric([job.name], int(job.overdue))
            if job.last_outcome:
                last_ok.add_metric([job.name], int(job.last_outcome == "ok"))
        yield from (since_success, lag, overdue, last_ok)

    def _workers(self):
        workers = workers_status(now=self.now)
        heartbeat = GaugeMetricFamily(
            "enersolar_worker_seconds_since_heartbeat",
            "Seconds since each Celery worker's last heartbeat (seen in the last day).",
            labels=["worker"],
        )
        for worker in workers:
            heartbeat.add_metric(
                [f"{worker.hostname}:{worker.pid}"], worker.since_heartbeat.total_seconds()
            )
        yield heartbeat
        yield GaugeMetricFamily(
            "enersolar_workers_alive",
            "Celery workers whose heartbeat is not stale.",
            value=sum(not worker.stale for worker in workers),
        )


@lru_cache(maxsize=1)
def _allowed_networks(addresses: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)


def metrics_refusal(request) -> int | None:
    """The status refusing this caller, or None when it may read the metrics."""
    token = settings.METRICS_TOKEN
    allowed = tuple(settings.METRICS_ALLOWED_IPS)
    if not token and not allowed:
        return 404  # not configured: as if there were no such page
    if token:
        scheme, _, sent = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            return 403
    if allowed:
        try:
            address = ipaddress.ip_address(client_ip(request) or "")
        except ValueError:
            return 403
        if not any(address in network for network in _allowed_networks(allowed)):
            return 403
    return None


def metrics(request) -> HttpResponse:
    refusal = metrics_refusal(request)
    if refusal:
        return HttpResponse(status=refusal)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EnerSolarCollector(timezone.now()))
    return HttpResponse(
        generate_latest(registry),
        content_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )
