"""The whole Celery beat schedule, in one place.

Settings hand it to Celery as CELERY_BEAT_SCHEDULE (enersolar/settings.py);
the system check enersolar.E001 refuses to start with an empty schedule or a
task name no worker knows. Times are UTC (CELERY_TIMEZONE). Run exactly one
beat process.

Each entry's timing is a setting (README, "Periodic jobs"): a number is an
interval in seconds, five fields are a crontab ("minute hour day month
weekday"). Shorter timings are how the system tests watch beat fire a job.
"""

from celery.schedules import crontab, schedule

# (name, task, default timing, why)
JOBS = (
    # Hand due retries to the workers, probe failing CRMs, release claims of
    # dead workers and re-dispatch leads whose hand-off was lost (broker down
    # at intake). Every 30 s: a buyer that is back waits at most a cool-down
    # (60 s) and one period for its probe, well within two minutes.
    ("process-delivery-queue", "routing.tasks.process_queue", "30"),
    # SPEC §7: yesterday's leads checked at night, when traffic is lowest.
    ("nightly-verification", "routing.tasks.run_verification", "0 3 * * *"),
    # SPEC §6: each prepaid budget's level crossing is e-mailed once.
    ("check-prepaid-budgets", "billing.tasks.check_budgets", "5 * * * *"),
    # SPEC §6: last month's statements, issued (and frozen) on the 1st, after
    # the nightly verification has had its chance to deliver stragglers.
    ("issue-monthly-statements", "billing.tasks.issue_monthly_statements", "0 4 1 * *"),
    # The dashboard's stored lead counts of the week (issue 15): counting a
    # week live takes a second at a million leads a day. The dashboard counts
    # live the leads created since; status changes of older leads show after
    # one period, the dashboard's own refresh period (a minute).
    ("refresh-lead-day-counts", "backoffice.tasks.refresh_lead_day_counts", "60"),
)


def timing_parse(value: str) -> schedule:
    """A number ("60", "1.5") is an interval in seconds; five fields are a crontab."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(
                f"beat timing {value!r}: a number of seconds or five crontab fields"
            ) from None
        minute, hour, day_of_month, month_of_year, day_of_week = fields
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )
    if seconds <= 0:
        raise ValueError(f"beat timing {value!r}: the interval must be positive")
    return schedule(seconds)


def beat_schedule(timings: dict[str, str]) -> dict[str, dict]:
    """The schedule, each job at its timing from `timings` (by job name) or
    its default."""
    return {
        name: {"task": task, "schedule": timing_parse(timings.get(name) or default)}
        for name, task, default in JOBS
    }


def setting_name(job_name: str) -> str:
    """The environment variable that times a job: BEAT_NIGHTLY_VERIFICATION…"""
    return "BEAT_" + job_name.upper().replace("-", "_")
