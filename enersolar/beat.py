"""The whole Celery beat schedule, in one place.

Each entry says why it runs when it does. Times are UTC (CELERY_TIMEZONE).
Later features add their periodic jobs here, not elsewhere.
"""

BEAT_SCHEDULE: dict[str, dict] = {}
