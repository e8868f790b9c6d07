"""Operators see the deployment alive, from outside: /healthz for the load
balancer, each beat job's last run and each worker's heartbeat in the
database, the Prometheus endpoint."""

import pytest
import requests

from .harness import TIMINGS, wait_for

pytestmark = pytest.mark.system


def test_healthz_answers_ok_with_the_database_and_the_broker_up(system):
    answer = requests.get(f"{system.base_url}/healthz", timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok"


def test_healthz_answers_503_while_the_broker_is_down(system):
    if system.redis is None:
        pytest.skip("the embedded file-system broker is a folder: it cannot go down")
    system.redis.stop()
    try:
        answer = requests.get(f"{system.base_url}/healthz", timeout=5)
    finally:
        system.redis.start()
    assert answer.status_code == 503
    assert answer.json()["status"] == "error"


def test_every_job_fired_by_beat_records_its_run(system):
    def started_jobs():
        return {
            name
            for name, outcome in system.db.rows(
                "SELECT name, last_outcome FROM enersolar_periodicjob "
                "WHERE last_started_at IS NOT NULL"
            )
            if outcome == "ok"
        }

    every_job = {
        "process-delivery-queue",
        "nightly-verification",
        "check-prepaid-budgets",
        "issue-monthly-statements",
        "refresh-lead-day-counts",
    }
    wait_for(lambda: started_jobs() == every_job, timeout=40, what="every job ran, ok")


def test_the_worker_beats(system):
    def last_seen():
        return system.db.rows("SELECT MAX(last_seen_at) FROM enersolar_workerheartbeat")[0][0]

    first = wait_for(last_seen, timeout=20, what="a worker heartbeat")
    wait_for(lambda: last_seen() != first, timeout=20, what="a later heartbeat")


def test_metrics_need_the_token_and_show_the_queue_and_jobs(system):
    url = f"{system.base_url}/metrics"
    assert requests.get(url, timeout=5).status_code == 403
    token = TIMINGS["METRICS_TOKEN"]
    answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert answer.status_code == 200, answer.text
    assert 'enersolar_delivery_queue_items{state="success"}' in answer.text
    assert 'enersolar_crm_circuit_state{crm="zr7",state="closed"}' in answer.text
    assert 'enersolar_job_overdue{job="process-delivery-queue"} 0.0' in answer.text
