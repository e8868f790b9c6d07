"""The periodic jobs as operators see them: what each did last, when it is due
next, and whether it is overdue.

Beat marks every task it sends (the `celery_beat_task` header); around each
such run of a task of the schedule, the worker writes that job's row
(PeriodicJob): one upsert when it starts, one UPDATE when it ends (Celery's
task_prerun and task_postrun, whose `state` and `retval` carry the outcome;
connected in EnersolarConfig.ready()). Only beat's runs count: a queue run
started by another task or by staff says nothing about beat, and beat not
running is the failure these rows are here to show.

A job is overdue when it has not started for twice its period (for a crontab,
the time between two consecutive due times), counted from its last start or,
if it never ran, from when it became known (its row, made at `migrate`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import states
from celery.schedules import crontab, maybe_schedule
from celery.schedules import schedule as interval
from django.db import DatabaseError
from django.utils import timezone

from .celery import app as celery_app
from .models import PeriodicJob

logger = logging.getLogger(__name__)

BEAT_HEADER = "celery_beat_task"  # what celery.beat.Scheduler.apply_async sets
OVERDUE_PERIODS = 2
ERROR_MAX_LENGTH = 200


# --- Recording (Celery signal receivers) ---------------------------------------


def _beat_jobs_of(task) -> list[str]:
    """The schedule's jobs that run `task`, when beat sent this run; else none."""
    if task is None or not (task.request.headers or {}).get(BEAT_HEADER):
        return []
    schedule = celery_app.conf.beat_schedule or {}
    return [name for name, entry in schedule.items() if entry.get("task") == task.name]


def job_started(sender=None, task=None, **kwargs) -> None:
    """task_prerun: the job's row, created on its first run (one upsert)."""
    names = _beat_jobs_of(task)
    if not names:
        return
    now = timezone.now()
    try:
        PeriodicJob.objects.bulk_create(
            [PeriodicJob(name=name, task=task.name, last_started_at=now) for name in names],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["task", "last_started_at"],
        )
    except DatabaseError:  # monitoring never stops the job itself
        logger.warning("job=%s start not recorded", ",".join(names), exc_info=True)


def job_finished(sender=None, task=None, state=None, retval=None, **kwargs) -> None:
    """task_postrun: end, outcome and, when it went well, the last success."""
    names = _beat_jobs_of(task)
    if not names:
        return
    now = timezone.now()
    if state == states.SUCCESS:
        fields = {"last_outcome": PeriodicJob.Outcome.OK, "last_error": "", "last_success_at": now}
    else:
        fields = {"last_outcome": PeriodicJob.Outcome.ERROR, "last_error": _error_text(retval)}
        logger.warning("job=%s outcome=error error=%s", ",".join(names), fields["last_error"])
    try:
        PeriodicJob.objects.filter(name__in=names).update(last_finished_at=now, **fields)
    except DatabaseError:
        logger.warning("job=%s end not recorded", ",".join(names), exc_info=True)


def _error_text(error) -> str:
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}"
    else:
        text = str(error or "error")
    return text[:ERROR_MAX_LENGTH]


def jobs_sync(apps=None, using: str = "default") -> None:
    """A row for every job of the schedule (after `migrate`), so that a job
    that never runs turns overdue too."""
    try:
        model = apps.get_model("enersolar", "PeriodicJob") if apps else PeriodicJob
    except LookupError:  # migrated back to before the model
        return
    schedule = celery_app.conf.beat_schedule or {}
    model.objects.using(using).bulk_create(
        [model(name=name, task=entry["task"]) for name, entry in schedule.items()],
        ignore_conflicts=True,
    )


# --- Reading ----------------------------------------------------------------------


def due_after(timing, moment: datetime) -> datetime:
    """The first time `timing` (a Celery schedule) is due after `moment`."""
    if isinstance(timing, crontab):
        start, delta, _now = timing.remaining_delta(moment)
        return start + delta
    if isinstance(timing, interval):
        return moment + timing.run_every
    # Another kind of schedule (solar…): what it estimates from now on.
    return timezone.now() + timing.remaining_estimate(moment)


@dataclass(frozen=True)
class JobStatus:
    name: str
    task: str
    period: timedelta
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: str  # PeriodicJob.Outcome, "" before the first end
    last_error: str
    last_success_at: datetime | None
    next_due_at: datetime | None
    overdue: bool
    now: datetime

    @property
    def running(self) -> bool:
        started, finished = self.last_started_at, self.last_finished_at
        return started is not None and (finished is None or finished < started)

    @property
    def lag(self) -> timedelta:
        """How late the job is on its next due time (zero when on time)."""
        if self.next_due_at is None or self.next_due_at >= self.now:
            return timedelta(0)
        return self.now - self.next_due_at

    @property
    def since_success(self) -> timedelta | None:
        return self.now - self.last_success_at if self.last_success_at else None

    @property
    def duration(self) -> timedelta | None:
        if self.running or self.last_started_at is None or self.last_finished_at is None:
            return None
        return self.last_finished_at - self.last_started_at


def job_period(timing, around: datetime) -> timedelta:
    """An interval's length; for a crontab, the time between the two due
    times that follow `around`."""
    first = due_after(timing, around)
    return due_after(timing, first) - first


def jobs_status(*, now: datetime) -> list[JobStatus]:
    """Every job of the schedule Celery runs, in its order, in one query."""
    schedule = celery_app.conf.beat_schedule or {}
    rows = {job.name: job for job in PeriodicJob.objects.filter(name__in=list(schedule))}
    result = []
    for name, entry in schedule.items():
        timing = maybe_schedule(entry["schedule"], app=celery_app)
        job = rows.get(name) or PeriodicJob(name=name, task=entry["task"], created_at=None)
        # Counted from the last start or, for a job that never ran, from its row.
        reference = job.last_started_at or job.created_at
        next_due = due_after(timing, reference or now)
        period = job_period(timing, reference or now)
        result.append(
            JobStatus(
                name=name,
                task=entry["task"],
                period=period,
                last_started_at=job.last_started_at,
                last_finished_at=job.last_finished_at,
                last_outcome=job.last_outcome,
                last_error=job.last_error,
                last_success_at=job.last_success_at,
                next_due_at=next_due if reference else None,
                overdue=reference is not None and now - reference > OVERDUE_PERIODS * period,
                now=now,
            )
        )
    return result
