"""The beat schedule Celery runs (enersolar/beat.py, settings) and its checks.

That beat really fires these jobs is tested from outside, with the real
processes, in tests/system/."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from enersolar import celery_app
from enersolar.beat import JOBS, beat_schedule, setting_name, timing_parse


@pytest.fixture
def schedule_swapped():
    """Swap the schedule Celery will use, and put it back."""
    kept = celery_app.conf.beat_schedule

    def swap(schedule):
        celery_app.conf.beat_schedule = schedule

    yield swap
    celery_app.conf.beat_schedule = kept


def test_celery_uses_every_job_of_the_schedule():
    schedule = celery_app.conf.beat_schedule
    assert {name: entry["task"] for name, entry in schedule.items()} == {
        name: task for name, task, _ in JOBS
    }
    assert schedule["process-delivery-queue"]["schedule"].run_every.total_seconds() == 30


def test_a_timing_is_seconds_or_a_crontab():
    assert timing_parse("2.5").run_every.total_seconds() == 2.5
    nightly = timing_parse("0 3 * * *")
    assert (nightly.minute, nightly.hour) == ({0}, {3})
    for bad in ("0", "-5", "0 3 * *", "soon"):
        with pytest.raises(ValueError):
            timing_parse(bad)


def test_a_job_is_timed_by_its_variable_or_its_default():
    schedule = beat_schedule({"nightly-verification": "5"})
    assert schedule["nightly-verification"]["schedule"].run_every.total_seconds() == 5
    assert schedule["check-prepaid-budgets"]["schedule"].minute == {5}
    assert setting_name("nightly-verification") == "BEAT_NIGHTLY_VERIFICATION"


def test_check_passes_on_the_real_schedule():
    call_command("check")


def test_check_fails_on_an_empty_schedule(schedule_swapped):
    schedule_swapped({})
    with pytest.raises(SystemCheckError, match="enersolar.E001"):
        call_command("check")


def test_check_fails_on_a_task_no_worker_registers(schedule_swapped):
    schedule = dict(celery_app.conf.beat_schedule)
    schedule["typo"] = {"task": "routing.tasks.process_queeu", "schedule": 60.0}
    schedule_swapped(schedule)
    with pytest.raises(SystemCheckError, match="enersolar.E002.*process_queeu"):
        call_command("check")
