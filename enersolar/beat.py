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
}
