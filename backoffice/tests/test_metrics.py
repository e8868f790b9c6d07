"""/metrics for Prometheus (backoffice/metrics.py): what it counts, and who may read it."""

from datetime import timedelta

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from backoffice.services import lead_day_counts_refresh
from enersolar.models import PeriodicJob, WorkerHeartbeat
from leads.models import Lead
from routing.models import CRMHealth, DeliveryAttempt
from routing.tests.factories import DeliveryAttemptFactory

from .conftest import NOW

pytestmark = pytest.mark.django_db
S = Lead.Status
TOKEN = "scrape-token-0123456789"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


def scrape(**headers):
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {TOKEN}")
    return Client().get("/metrics", **headers)


def samples(response) -> dict:
    """{(metric name, sorted labels): value}."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


# --- Who may read them -------------------------------------------------------------


def test_metrics_are_not_served_unless_configured(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []

    assert scrape().status_code == 404


def test_the_token_is_required_when_set(token):
    assert Client().get("/metrics").status_code == 403
    assert scrape(HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert scrape(HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
    assert scrape(HTTP_AUTHORIZATION="Bearer été").status_code == 403
    assert scrape().status_code == 200


def test_the_allow_list_alone(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16", "192.0.2.7"]

    def from_ip(ip):
        return Client(REMOTE_ADDR=ip).get("/metrics").status_code

    assert from_ip("10.20.3.4") == 200
    assert from_ip("192.0.2.7") == 200
    assert from_ip("10.21.0.1") == 403


def test_with_both_the_token_and_the_address_must_match(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]

    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="10.0.0.9").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


# --- What they say -----------------------------------------------------------------


@pytest.fixture
def system(shop, frozen, token):
    """ZR7: 2 delivered, 1 waiting (open circuit); MDL: 1 exhausted. Attempts
    in the last hour: 2 ZR7 successes, 3 ZR7 transient, 1 MDL failure; one
    older ZR7 success (outside the window)."""
    delivered = [shop.lead(at=NOW - timedelta(minutes=m), crm=shop.zr7) for m in (10, 20)]
    waiting = shop.lead(at=NOW - timedelta(minutes=30), status=S.QUEUED, crm=shop.zr7)
    exhausted = shop.lead(at=NOW - timedelta(minutes=40), status=S.FAILED, crm=shop.mdl)
    exhausted.delivery.state = "exhausted"
    exhausted.delivery.save()
    attempts = [
        (delivered[0], "success", 5),
        (delivered[1], "success", 15),
        (delivered[1], "success", 90),
        (waiting, "transient", 1),
        (waiting, "transient", 2),
        (waiting, "transient", 3),
        (exhausted, "failed", 50),
    ]
    for lead, outcome, minutes_ago in attempts:
        DeliveryAttemptFactory(
            delivery=lead.delivery,
            outcome=outcome,
            attempted_at=NOW - timedelta(minutes=minutes_ago),
        )
    CRMHealth.objects.create(crm=shop.zr7, state="open", consecutive_failures=3)
    PeriodicJob.objects.filter(name="process-delivery-queue").update(
        last_started_at=NOW - timedelta(seconds=30),
        last_finished_at=NOW - timedelta(seconds=29),
        last_outcome="ok",
        last_success_at=NOW - timedelta(seconds=29),
    )
    PeriodicJob.objects.filter(name="check-prepaid-budgets").update(
        last_started_at=NOW - timedelta(hours=3),
        last_finished_at=NOW - timedelta(hours=3),
        last_outcome="error",
        last_error="boom",
    )
    WorkerHeartbeat.objects.create(hostname="celery@w1", pid=11, last_seen_at=NOW)
    WorkerHeartbeat.objects.create(
        hostname="celery@w1", pid=12, last_seen_at=NOW - timedelta(minutes=10)
    )
    return shop


def test_queue_depth_per_state(system):
    values = samples(scrape())

    depth = {
        labels[0][1]: v for (name, labels), v in values.items() if name.endswith("queue_items")
    }
    assert depth == {"pending": 1, "processing": 0, "success": 2, "failed": 0, "exhausted": 1}
    assert values[("enersolar_delivery_oldest_pending_seconds", ())] == 30 * 60


def test_attempts_of_the_last_hour_per_crm_and_outcome(system):
    values = samples(scrape())

    def attempts(crm, outcome):
        return values[
            ("enersolar_delivery_attempts_last_hour", (("crm", crm), ("outcome", outcome)))
        ]

    assert attempts("zr7", "success") == 2  # the one 90 minutes ago is out
    assert attempts("zr7", "transient") == 3
    assert attempts("mdl", "failed") == 1
    # Every active CRM × outcome is there, at zero when nothing happened.
    assert attempts("mdl", "success") == 0
    assert len([k for k in values if k[0] == "enersolar_delivery_attempts_last_hour"]) == 2 * len(
        DeliveryAttempt.Outcome.values
    )


def test_circuit_state_per_crm(system):
    values = samples(scrape())

    def circuit(crm, state):
        return values[("enersolar_crm_circuit_state", (("crm", crm), ("state", state)))]

    assert (circuit("zr7", "open"), circuit("zr7", "closed")) == (1, 0)
    assert (circuit("mdl", "open"), circuit("mdl", "closed")) == (0, 1)  # never failed
    assert values[("enersolar_crm_consecutive_failures", (("crm", "zr7"),))] == 3


def test_jobs_seconds_since_success_and_overdue(system):
    values = samples(scrape())

    def job(name, metric):
        return values.get((f"enersolar_job_{metric}", (("job", name),)))

    assert job("process-delivery-queue", "seconds_since_success") == 29
    assert job("process-delivery-queue", "overdue") == 0
    assert job("process-delivery-queue", "last_run_ok") == 1
    # Never succeeded: no sample rather than a made-up age.
    assert job("check-prepaid-budgets", "seconds_since_success") is None
    assert job("check-prepaid-budgets", "last_run_ok") == 0
    assert job("check-prepaid-budgets", "overdue") == 1  # 3 h, twice its hour
    assert job("check-prepaid-budgets", "lag_seconds") > 0


def test_workers_heartbeats(system):
    values = samples(scrape())

    heartbeat = "enersolar_worker_seconds_since_heartbeat"
    assert values[(heartbeat, (("worker", "celery@w1:11"),))] == 0
    assert values[(heartbeat, (("worker", "celery@w1:12"),))] == 600
    assert values[("enersolar_workers_alive", ())] == 1


def test_a_scrape_costs_the_same_queries_whatever_the_data(system, django_assert_max_num_queries):
    lead_day_counts_refresh()  # the queue's stored totals, as beat does every minute
    # Queue, CRMs with circuits, attempts of the hour, jobs, workers.
    with django_assert_max_num_queries(5):
        samples(scrape())
