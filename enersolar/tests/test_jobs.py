"""What each periodic job did last (enersolar/jobs.py): written around the
runs beat sends, through Celery's real task signals; next due and overdue
computed from the schedule Celery runs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.beat import ScheduleEntry, Scheduler

from billing import tasks as billing_tasks
from enersolar import celery_app
from enersolar.beat import beat_schedule
from enersolar.jobs import BEAT_HEADER, job_period, jobs_status, jobs_sync
from enersolar.models import PeriodicJob
from routing import tasks as routing_tasks

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
FROM_BEAT = {BEAT_HEADER: True}  # what beat puts on each task it sends


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def schedule_swapped():
    kept = celery_app.conf.beat_schedule

    def swap(timings: dict[str, str]):
        celery_app.conf.beat_schedule = beat_schedule(timings)

    yield swap
    celery_app.conf.beat_schedule = kept


def run(task, *, headers=FROM_BEAT, args=()):
    """The task as a worker runs it: its signals fire around the body."""
    return task.apply(args=args, headers=headers)


def by_name(now) -> dict:
    return {job.name: job for job in jobs_status(now=now)}


def test_beat_marks_the_tasks_it_sends(monkeypatch):
    """What tells a job's run from any other run of its task (Celery ≥ 5.7)."""
    sent = {}
    task = billing_tasks.check_budgets
    monkeypatch.setattr(task, "apply_async", lambda *args, **options: sent.update(options))
    entry = ScheduleEntry(name="check-prepaid-budgets", task=task.name, schedule=60, app=celery_app)

    Scheduler(celery_app, lazy=True).apply_async(entry, advance=False)

    assert sent["headers"] == FROM_BEAT


def test_every_job_of_the_schedule_has_a_row_after_migrate():
    PeriodicJob.objects.all().delete()

    jobs_sync()

    rows = dict(PeriodicJob.objects.values_list("name", "task"))
    assert rows == {name: e["task"] for name, e in celery_app.conf.beat_schedule.items()}
    assert not PeriodicJob.objects.filter(last_started_at__isnull=False).exists()


def test_a_run_from_beat_records_start_end_and_success(frozen):
    result = run(billing_tasks.check_budgets)

    assert result.successful()
    job = PeriodicJob.objects.get(name="check-prepaid-budgets")
    assert job.task == "billing.tasks.check_budgets"
    assert job.last_started_at == job.last_finished_at == job.last_success_at == NOW
    assert (job.last_outcome, job.last_error) == ("ok", "")
    # The other jobs did not run.
    assert not PeriodicJob.objects.exclude(pk=job.pk).filter(last_started_at__isnull=False)


def test_a_failed_run_records_the_error_and_keeps_the_last_success(frozen, monkeypatch):
    run(billing_tasks.check_budgets)
    frozen.shift(timedelta(hours=1))

    def broken():
        raise RuntimeError("SMTP refused the alert")

    monkeypatch.setattr(billing_tasks, "budget_alerts_check", broken)
    result = run(billing_tasks.check_budgets)

    assert result.failed()
    job = PeriodicJob.objects.get(name="check-prepaid-budgets")
    assert job.last_outcome == "error"
    assert job.last_error == "RuntimeError: SMTP refused the alert"
    assert job.last_started_at == job.last_finished_at == NOW + timedelta(hours=1)
    assert job.last_success_at == NOW


def test_a_job_row_is_created_by_its_first_run_if_missing():
    PeriodicJob.objects.all().delete()

    run(routing_tasks.process_queue)

    assert list(PeriodicJob.objects.values_list("name", "last_outcome")) == [
        ("process-delivery-queue", "ok")
    ]


def test_a_run_beat_did_not_send_is_not_a_job_run():
    """A queue run kicked by another task or by staff proves nothing about beat."""
    run(routing_tasks.process_queue, headers=None)
    run(routing_tasks.deliver_leads, args=[[]])  # not a job of the schedule

    assert not PeriodicJob.objects.filter(last_started_at__isnull=False).exists()


def test_next_due_and_overdue_of_an_interval_job(frozen):
    PeriodicJob.objects.filter(name="process-delivery-queue").update(
        last_started_at=NOW - timedelta(seconds=59)
    )
    job = by_name(NOW)["process-delivery-queue"]
    assert job.period == timedelta(seconds=30)
    assert job.next_due_at == NOW - timedelta(seconds=29)
    assert job.lag == timedelta(seconds=29)
    assert not job.overdue

    # Not run for more than twice its period: red.
    job = by_name(NOW + timedelta(seconds=2))["process-delivery-queue"]
    assert job.overdue


def test_a_crontab_job_s_period_is_the_time_between_two_due_times():
    hourly = celery_app.conf.beat_schedule["check-prepaid-budgets"]["schedule"]  # "5 * * * *"
    monthly = celery_app.conf.beat_schedule["issue-monthly-statements"]["schedule"]

    assert job_period(hourly, NOW) == timedelta(hours=1)
    assert job_period(monthly, datetime(2026, 1, 1, 4, 0, 1, tzinfo=UTC)) == timedelta(days=28)
    assert job_period(monthly, datetime(2026, 3, 1, 4, 0, 1, tzinfo=UTC)) == timedelta(days=30)


def test_next_due_and_overdue_of_a_crontab_job(frozen):
    PeriodicJob.objects.filter(name="check-prepaid-budgets").update(
        last_started_at=datetime(2026, 3, 10, 7, 5, tzinfo=UTC),
        last_finished_at=datetime(2026, 3, 10, 7, 5, 2, tzinfo=UTC),
        last_outcome="ok",
        last_success_at=datetime(2026, 3, 10, 7, 5, 2, tzinfo=UTC),
    )
    job = by_name(NOW)["check-prepaid-budgets"]
    assert job.next_due_at == datetime(2026, 3, 10, 8, 5, tzinfo=UTC)
    assert job.duration == timedelta(seconds=2)
    assert job.since_success == timedelta(minutes=114, seconds=58)
    assert not job.overdue  # 1 h 55 min since its start, its period is 1 h

    assert by_name(NOW + timedelta(minutes=6))["check-prepaid-budgets"].overdue


def test_a_job_that_never_ran_turns_overdue_from_when_it_became_known(frozen):
    PeriodicJob.objects.filter(name="process-delivery-queue").update(
        created_at=NOW - timedelta(minutes=1)
    )
    job = by_name(NOW)["process-delivery-queue"]
    assert job.last_started_at is None and not job.overdue and not job.running

    assert by_name(NOW + timedelta(minutes=2))["process-delivery-queue"].overdue


def test_a_started_run_without_end_is_running(frozen):
    PeriodicJob.objects.filter(name="nightly-verification").update(
        last_started_at=NOW, last_finished_at=NOW - timedelta(days=1), last_outcome="ok"
    )
    job = by_name(NOW)["nightly-verification"]
    assert job.running and job.duration is None


def test_status_follows_the_schedule_celery_runs(schedule_swapped, frozen):
    """Timed through settings (BEAT_<JOB>), as the system tests time them."""
    schedule_swapped({"nightly-verification": "30"})
    PeriodicJob.objects.filter(name="nightly-verification").update(
        last_started_at=NOW - timedelta(seconds=61)
    )
    job = by_name(NOW)["nightly-verification"]
    assert job.period == timedelta(seconds=30)
    assert job.overdue
