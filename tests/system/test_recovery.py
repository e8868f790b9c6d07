"""Nothing waits for a person: with the Procfile's processes running and no
one calling the queue endpoints, every lead reaches the buyer exactly once
through the buyer's errors, hangs and outages, a broker outage and a killed
worker. Timings are shortened by settings (harness.TIMINGS): the retry ladder
starts at 2 s, beat sweeps the queue every 2 s, the lease is 8 s."""

import time

import pytest

from .conftest import FIGURES
from .harness import wait_for
from .leads import (
    LandingPage,
    assert_each_taken_once,
    deliveries_in_state,
    statuses,
    wait_delivered,
)

pytestmark = pytest.mark.system


def _requests_reached(buyer, count: int, *, timeout: float = 30) -> None:
    wait_for(lambda: len(buyer.requests) >= count, timeout=timeout, what=f"{count} requests")


def test_a_buyer_answering_500_gets_every_lead_once_it_is_back(system):
    system.buyer.answer(500)
    ids = LandingPage(system).leads(5)
    # The circuit opens after 3 failures; the rest wait without an attempt.
    _requests_reached(system.buyer, 3)
    wait_for(
        lambda: set(statuses(system, ids).values()) == {"queued"},
        timeout=30,
        what="every lead queued",
    )
    time.sleep(3)  # down for a while: a few probes fail too

    system.buyer.answer(201)
    FIGURES["buyer 500 → 201: all delivered after recovery, s"] = wait_delivered(
        system, ids, timeout=60
    )
    assert_each_taken_once(system, ids)


def test_a_buyer_refusing_connections_gets_every_lead_once_it_is_back(system):
    system.buyer.go_down()
    try:
        ids = LandingPage(system).leads(5)
        wait_for(
            lambda: set(statuses(system, ids).values()) == {"queued"},
            timeout=30,
            what="every lead queued",
        )
        time.sleep(3)
    finally:
        system.buyer.come_back()
    FIGURES["connections refused → back: all delivered after recovery, s"] = wait_delivered(
        system, ids, timeout=60
    )
    assert_each_taken_once(system, ids)


def test_a_buyer_hanging_past_the_read_timeout_gets_the_lead_again(system):
    system.buyer.answer(hang=True, times=2)  # then 201
    ids = LandingPage(system).leads(2)
    FIGURES["buyer hangs twice: all delivered after the first lead, s"] = wait_delivered(
        system, ids, timeout=60
    )
    assert_each_taken_once(system, ids)
    hung = [r for r in system.buyer.requests if r.answered is None]
    assert len(hung) == 2  # both hung requests reached it, neither counted


def test_leads_taken_in_while_the_broker_is_down_are_delivered_once_it_is_back(system):
    if system.redis is None:
        pytest.skip("the embedded file-system broker is a folder: it cannot go down")
    system.redis.stop()
    try:
        # Every intake still answers 200 (asserted by LandingPage.lead).
        ids = LandingPage(system).leads(10)
        assert set(statuses(system, ids).values()) == {"pending"}
        time.sleep(2)
    finally:
        system.redis.start()
    FIGURES["broker down → back: all delivered after restart, s"] = wait_delivered(
        system, ids, timeout=90
    )
    assert_each_taken_once(system, ids)


def test_a_worker_killed_mid_batch_leaves_its_leads_to_the_next_worker(system):
    """The buyer is down, leads queue up; it comes back slow, the queue run
    hands the backlog out in batches, and the worker is killed (SIGKILL)
    while sending them. A new worker takes over after the lease; the lead
    whose request was out is answered "doublon" and counted delivered."""
    system.buyer.answer(500)
    ids = LandingPage(system).leads(30)
    wait_for(
        lambda: deliveries_in_state(system, ids, "pending") == len(ids),
        timeout=60,
        what="every lead routed and queued",
    )
    before = len(system.buyer.requests)
    system.buyer.doublon_on_repeat()
    system.buyer.answer(201, delay=0.3)
    _requests_reached(system.buyer, before + 8)
    system.process_kill("worker")
    sent_by_the_dead = sum(1 for r in system.buyer.requests[before:] if r.answered == 201)
    assert 0 < sent_by_the_dead < len(ids)  # killed in the middle

    killed_at = time.monotonic()
    system.process_start("worker")
    wait_delivered(system, ids, timeout=90)
    FIGURES["worker SIGKILL: all delivered after the kill, s"] = time.monotonic() - killed_at
    assert_each_taken_once(system, ids)


def test_two_workers_on_one_queue_never_send_a_lead_twice(system):
    system.process_start("worker2")  # the Procfile's worker, scaled out
    try:
        system.buyer.doublon_on_repeat()
        system.buyer.answer(500, times=10)  # the retry ladder and the sweep join in
        ids = LandingPage(system).leads(200)
        FIGURES["two workers, 200 leads: all delivered after the last intake, s"] = wait_delivered(
            system, ids, timeout=180
        )
    finally:
        system.process_stop("worker2")
    assert_each_taken_once(system, ids)
