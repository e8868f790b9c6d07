"""The dashboard's periodic jobs (last run, next due, outcome; red when
overdue) and workers' heartbeats."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from enersolar.models import PeriodicJob, WorkerHeartbeat
from enersolar.tests.factories import UserFactory

from .conftest import NOW, paris
from .test_dashboard import as_superuser, page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(frozen):
    """10:00 Paris. The queue ran 30 s ago; the budgets last ran at 07:05 Paris
    (hourly at :05 UTC, so overdue) and failed; the verification never ran
    (known since yesterday, so not yet overdue, due since 04:00 Paris); the
    statements are running; the lead day counts ran 40 s ago."""
    PeriodicJob.objects.update(created_at=NOW - timedelta(days=1))
    PeriodicJob.objects.filter(name="process-delivery-queue").update(
        last_started_at=NOW - timedelta(seconds=30),
        last_finished_at=NOW - timedelta(seconds=28),
        last_outcome="ok",
        last_success_at=NOW - timedelta(seconds=28),
    )
    PeriodicJob.objects.filter(name="check-prepaid-budgets").update(
        last_started_at=paris(2026, 3, 10, 7, 5),
        last_finished_at=paris(2026, 3, 10, 7, 5, 1),
        last_outcome="error",
        last_error="OperationalError: database is locked",
        last_success_at=paris(2026, 3, 10, 6, 5, 1),
    )
    PeriodicJob.objects.filter(name="issue-monthly-statements").update(
        last_started_at=NOW - timedelta(minutes=2)
    )
    PeriodicJob.objects.filter(name="refresh-lead-day-counts").update(
        last_started_at=NOW - timedelta(seconds=40),
        last_finished_at=NOW - timedelta(seconds=39),
        last_outcome="ok",
        last_success_at=NOW - timedelta(seconds=39),
    )
    WorkerHeartbeat.objects.create(
        hostname="celery@w1", pid=11, started_at=NOW - timedelta(hours=1), last_seen_at=NOW
    )
    WorkerHeartbeat.objects.create(
        hostname="celery@w2", pid=12, last_seen_at=NOW - timedelta(minutes=10)
    )


def row_of(html: str, job: str) -> str:
    match = re.search(rf'<tr class="([^"]*)" id="job-{job}">(.*?)</tr>', html, re.S)
    assert match, job
    return match.group(1) + " | " + " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def test_every_job_with_last_run_next_due_and_outcome(client, jobs):
    response = as_superuser(client).get(reverse("admin:index"))

    html = response.content.decode()
    assert [job.name for job in response.context["dashboard"]["jobs"]] == [
        "process-delivery-queue",
        "nightly-verification",
        "check-prepaid-budgets",
        "issue-monthly-statements",
        "refresh-lead-day-counts",
    ]
    assert "Tâches périodiques" in page_text(response)
    # Paris time: the queue ran at 09:59:30 and is due 30 s later.
    assert row_of(html, "process-delivery-queue") == (
        "job | process-delivery-queue 10/03 09:59:30 (2,0 s) ok 10/03 10:00:00"
    )
    assert row_of(html, "nightly-verification").startswith(
        "job | nightly-verification jamais exécutée — 10/03 04:00:00"
    )
    assert row_of(html, "issue-monthly-statements").startswith(
        "job | issue-monthly-statements 10/03 09:58:00 (en cours)"
    )


def test_an_overdue_job_is_red_with_its_error_and_last_success(client, jobs):
    html = as_superuser(client).get(reverse("admin:index")).content.decode()

    assert row_of(html, "check-prepaid-budgets") == (
        "job job-overdue | check-prepaid-budgets en retard 10/03 07:05:00 (1,0 s) "
        "erreur : OperationalError: database is locked (dernier succès 10/03 06:05) "
        "10/03 08:05:00 (en retard de 1 heure, 55 minutes)"
    )
    assert html.count("job-overdue") == 1


def test_workers_with_their_last_heartbeat_stale_ones_flagged(client, jobs):
    response = as_superuser(client).get(reverse("admin:index"))

    text = page_text(response)
    assert "celery@w1 (pid 11) : dernier signe de vie 10/03 10:00:00 (il y a 0 s)" in text
    assert "celery@w2 (pid 12) : dernier signe de vie 10/03 09:50:00 (il y a 600 s)" in text
    assert "sans nouvelles : arrêté ou bloqué" in text
    assert text.count("sans nouvelles") == 1
    assert response.content.decode().count('class="worker worker-stale"') == 1


def test_no_worker_at_all_is_said(client, frozen):
    text = page_text(as_superuser(client).get(reverse("admin:index")))

    assert "Aucun worker ne s’est manifesté depuis un jour" in text


def test_the_widgets_need_the_jobs_view_permission(client, jobs):
    client.force_login(UserFactory(username="nobody"))
    assert "jobs" not in client.get(reverse("admin:index")).context["dashboard"]

    client.force_login(UserFactory(username="viewer", role="Viewer"))
    dashboard = client.get(reverse("admin:index")).context["dashboard"]
    assert len(dashboard["jobs"]) == 5 and len(dashboard["workers"]) == 2


def test_the_jobs_widget_costs_two_queries_whatever_the_workers(
    client, jobs, django_assert_num_queries
):
    for pid in range(100, 130):
        WorkerHeartbeat.objects.create(hostname="celery@many", pid=pid, last_seen_at=NOW)
    ops = UserFactory(username="ops")
    ops.user_permissions.add(Permission.objects.get(codename="view_periodicjob"))
    client.force_login(ops)

    # Session, user, the user's permissions (its own, its groups'), jobs, workers.
    with django_assert_num_queries(6):
        response = client.get(reverse("admin:dashboard_widgets"))
    assert len(response.context["dashboard"]["workers"]) == 32
