"""Celery workers and the database connection (enersolar/celery.py)."""

import time

import pytest
from celery.signals import task_postrun, task_prerun
from django.db import connection, transaction

from enersolar import celery_app


def _task_boundary(signal, task):
    signal.send(sender=task, task_id="t-1", task=task, args=(), kwargs={})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_connection_between_tasks_until_conn_max_age():
    """(On SQLite the test database lives in memory and is never closed.)"""
    task = celery_app.tasks["routing.tasks.process_queue"]
    connection.ensure_connection()
    opened = connection.connection
    connection.close_at = time.monotonic() + 60

    _task_boundary(task_postrun, task)
    _task_boundary(task_prerun, task)
    assert connection.connection is opened  # no new connection per task

    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _task_boundary(task_postrun, task)
    assert connection.connection is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_eager_task_leaves_the_caller_s_connection_alone():
    task = celery_app.tasks["routing.tasks.process_queue"]
    connection.ensure_connection()
    opened = connection.connection
    task.push_request(is_eager=True)
    try:
        with transaction.atomic():
            connection.close_at = time.monotonic() - 1
            _task_boundary(task_prerun, task)
            _task_boundary(task_postrun, task)
            assert connection.connection is opened
            assert connection.in_atomic_block
    finally:
        task.pop_request()
