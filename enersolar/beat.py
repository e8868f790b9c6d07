"""The whole Celery beat schedule, in one place.

Times are UTC (CELERY_TIMEZONE). Run exactly one beat process.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Hand due retries to the workers, release claims of dead workers and
    # re-dispatch leads whose hand-off was lost (broker down at intake).
    "process-delivery-queue": {
        "task": "routing.tasks.process_queue",
        "schedule": 60.0,
    },
    # SPEC §7: yesterday's leads checked at night, when traffic is lowest.
    "nightly-verification": {
        "task": "routing.tasks.run_verification",
        "schedule": crontab(hour=3, minute=0),
    },
    # SPEC §6: each prepaid budget's level crossing is e-mailed once.
    "check-prepaid-budgets": {
        "task": "billing.tasks.check_budgets",
        "schedule": crontab(minute=5),
    },
    # SPEC §6: last month's statements, issued (and frozen) on the 1st, after
    # the nightly verification has had its chance to deliver stragglers.
    "issue-monthly-statements": {
        "task": "billing.tasks.issue_monthly_statements",
        "schedule": crontab(day_of_month=1, hour=4, minute=0),
    },
}
