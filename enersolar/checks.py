"""System checks of the periodic jobs: beat must have work, and work that a
worker can run. An empty schedule once shipped unnoticed (beat ran nothing,
no retry, no sweep, no nightly job), hence errors, not warnings."""

from django.core.checks import Error
from django.utils.module_loading import autodiscover_modules


def beat_schedule_check(app_configs, **kwargs) -> list[Error]:
    from enersolar.celery import app

    schedule = app.conf.beat_schedule or {}
    if not schedule:
        return [
            Error(
                "Celery beat's schedule is empty: no retry, queue sweep or nightly job would run.",
                hint="CELERY_BEAT_SCHEDULE must come from enersolar/beat.py (see settings).",
                id="enersolar.E001",
            )
        ]
    autodiscover_modules("tasks")  # what the worker imports: every app's tasks.py
    return [
        Error(
            f"Beat job {name!r} names task {entry.get('task')!r}, which no worker registers.",
            hint="Fix the task name in enersolar/beat.py or the module that defines it.",
            id="enersolar.E002",
        )
        for name, entry in schedule.items()
        if entry.get("task") not in app.tasks
    ]
