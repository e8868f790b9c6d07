"""/healthz for load balancers and /api/readiness for staff (enersolar/health.py)."""

import socket
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from enersolar import health
from enersolar.models import PeriodicJob, WorkerHeartbeat
from enersolar.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def unused_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Not a speed test (that is measured with curl, README "Monitoring"): a broker
# check without its timeout would hang for good; this only tells the two apart.
HANG = 5.0


def get_healthz(**headers):
    started = time.monotonic()
    response = Client().get("/healthz", **headers)
    return response, time.monotonic() - started


def test_healthz_answers_ok_without_credentials(django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # SELECT 1
        response, _ = get_healthz()

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_healthz_answers_a_load_balancer_asking_by_ip_in_plain_http(settings):
    """Host validation and the HTTPS redirect would answer 400 and 301."""
    settings.SECURE_SSL_REDIRECT = True

    response, _ = get_healthz(HTTP_HOST="10.0.3.7:8000")

    assert response.status_code == 200
    assert Client().get("/admin/", HTTP_HOST="10.0.3.7:8000").status_code == 400


def test_healthz_is_503_quickly_when_redis_is_down(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{unused_port()}/0"

    response, elapsed = get_healthz()

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "broker": "error"}
    assert elapsed < HANG  # bounded by HEALTHZ_TIMEOUT_SECONDS, not a client's patience


def test_healthz_does_not_wait_for_a_hung_broker(settings):
    """A port that accepts connections and never answers, as a stuck Redis."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"

        response, elapsed = get_healthz()

    assert response.status_code == 503
    assert elapsed < HANG  # bounded by HEALTHZ_TIMEOUT_SECONDS, not a client's patience


@pytest.mark.skipif(
    not django_settings.CELERY_BROKER_URL.startswith("redis"), reason="the broker is not Redis"
)
def test_healthz_pings_the_redis_broker():
    assert health.broker_check() == "ok"


def test_the_embedded_broker_is_its_folder(settings, tmp_path):
    folder = tmp_path / "broker"
    folder.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
    }
    assert health.broker_check() == "ok"

    folder.rmdir()
    response, _ = get_healthz()
    assert response.status_code == 503
    assert response.json()["broker"] == "error"


def test_healthz_is_503_when_the_database_is_down(monkeypatch):
    class DeadConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DeadConnection())

    response, _ = get_healthz()

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "broker": "ok"}


def test_healthz_tells_no_secret(settings):
    settings.CELERY_BROKER_URL = f"redis://:hunter2@127.0.0.1:{unused_port()}/0"

    response, _ = get_healthz()

    assert b"hunter2" not in response.content and b"127.0.0.1" not in response.content


# --- Readiness (staff) ------------------------------------------------------------


@pytest.fixture
def all_fresh():
    now = timezone.now()
    PeriodicJob.objects.update(
        last_started_at=now, last_finished_at=now, last_outcome="ok", last_success_at=now
    )
    WorkerHeartbeat.objects.create(hostname="celery@w1", pid=7, last_seen_at=now)


def staff_client(**user) -> Client:
    client = Client()
    client.force_login(UserFactory(**user))
    return client


def test_readiness_is_for_staff_with_the_view_permission():
    assert Client().get("/api/readiness").status_code == 401
    assert staff_client(username="nobody").get("/api/readiness").status_code == 403
    viewer = staff_client(username="viewer", role="Viewer")
    assert viewer.get("/api/readiness").status_code in (200, 503)


def test_readiness_lists_jobs_lags_and_workers(all_fresh):
    response = staff_client(username="boss", is_superuser=True).get("/api/readiness")

    assert response.status_code == 200
    body = response.json()
    assert body["ready"] is True
    assert (body["database"], body["broker"]) == ("ok", "ok")
    queue = next(job for job in body["jobs"] if job["name"] == "process-delivery-queue")
    assert queue["period_seconds"] == 30
    assert queue["lag_seconds"] == 0 and queue["overdue"] is False
    assert queue["seconds_since_success"] < 5
    assert [(w["hostname"], w["pid"], w["stale"]) for w in body["workers"]] == [
        ("celery@w1", 7, False)
    ]


def test_not_ready_when_a_job_is_overdue_or_no_worker_lives(all_fresh):
    client = staff_client(username="boss", is_superuser=True)
    PeriodicJob.objects.filter(name="process-delivery-queue").update(
        last_started_at=timezone.now() - timedelta(minutes=5)
    )

    body = client.get("/api/readiness").json()
    assert body["ready"] is False
    queue = next(job for job in body["jobs"] if job["name"] == "process-delivery-queue")
    assert queue["overdue"] is True and 265 < queue["lag_seconds"] < 275

    PeriodicJob.objects.update(last_started_at=timezone.now())
    assert client.get("/api/readiness").status_code == 200
    WorkerHeartbeat.objects.update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert client.get("/api/readiness").status_code == 503
