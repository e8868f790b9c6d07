"""The delivery queue's counts at a million leads a day (issue 15 point 7):
stored totals (DeliveryTotals, refreshed by the dashboard's job) plus what
was routed or delivered since, the waiting states counted live. Compared
with the live aggregate over every delivery, on the same data, after the
queue moved on through its real paths (the fake buyer answering)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead
from routing.models import Delivery, DeliveryTotals
from routing.selectors import queue_stats, queue_stats_live
from routing.services.batch import lead_deliver
from routing.services.queue import (
    TOTALS_RECOUNT_EVERY,
    lead_retry,
    queue_process,
    queue_retry_exhausted,
    queue_totals_refresh,
)

from .helpers import make_world
from .queue.support import delivery_of, run_queue

pytestmark = pytest.mark.django_db
S = Delivery.State
MARGIN = timedelta(seconds=30)  # the dashboard job's (backoffice.services.COMMIT_MARGIN)


def refresh() -> DeliveryTotals:
    """What the dashboard's job does every minute."""
    return queue_totals_refresh(counted_until=timezone.now() - MARGIN)


@pytest.fixture
def world(buyer, settings, time_machine):
    # A short ladder (a second failure exhausts) and a circuit that stays
    # closed: the states are reached in a few steps.
    settings.DELIVERY_RETRY_DELAYS = [60]
    settings.DELIVERY_RETRY_JITTER = 0
    settings.CIRCUIT_FAILURE_THRESHOLD = 1000
    time_machine.move_to(timezone.now(), tick=False)
    return make_world(buyer.url("zr7"))


def sent(world, buyer, status: int) -> Lead:
    """A new lead, routed and sent once; the buyer answers `status`."""
    buyer.answer(status)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    return lead


def assert_same_as_live() -> dict:
    shown, live = queue_stats(), queue_stats_live()
    assert shown == live
    return shown.counts


def test_before_the_first_refresh_everything_is_counted_live(world, buyer):
    sent(world, buyer, 201)
    sent(world, buyer, 503)
    assert not DeliveryTotals.objects.exists()

    counts = assert_same_as_live()

    assert (counts["total"], counts[S.SUCCESS], counts[S.PENDING]) == (2, 1, 1)


def test_stored_totals_plus_the_changes_since_are_the_live_numbers(
    world, buyer, time_machine, django_assert_num_queries
):
    delivered = sent(world, buyer, 201)
    refused = sent(world, buyer, 400)  # a final answer: failed
    exhausted = sent(world, buyer, 503)
    time_machine.shift(timedelta(seconds=61))
    run_queue()  # fails again: the ladder of one step is used up
    assert delivery_of(exhausted).state == S.EXHAUSTED
    queued = sent(world, buyer, 503)  # waits for its retry
    totals = refresh()
    assert DeliveryTotals.objects.get() == totals
    # The lead routed just now is within the margin: counted live, not stored.
    assert (totals.routed, totals.delivered) == (3, 1)
    with django_assert_num_queries(1):
        queue_stats()
    assert assert_same_as_live() == {
        S.PENDING: 1,
        S.PROCESSING: 0,
        S.SUCCESS: 1,
        S.FAILED: 1,
        S.EXHAUSTED: 1,
        "total": 4,
    }
    time_machine.shift(timedelta(seconds=61))

    # After the refresh: the queued lead is delivered at its retry...
    buyer.answer(201)
    assert run_queue().dispatched == 1
    assert delivery_of(queued).state == S.SUCCESS
    assert assert_same_as_live()[S.SUCCESS] == 2
    # ...new leads are routed: one delivered, one refused, one waiting...
    sent(world, buyer, 201)
    sent(world, buyer, 400)
    waiting = sent(world, buyer, 503)
    assert assert_same_as_live() == {
        S.PENDING: 1,
        S.PROCESSING: 0,
        S.SUCCESS: 3,
        S.FAILED: 2,
        S.EXHAUSTED: 1,
        "total": 7,
    }
    # ...a queue run claims the waiting one (its worker not done yet)...
    time_machine.shift(timedelta(seconds=61))
    queue_process(dispatch=lambda ids, claim: True)
    assert delivery_of(waiting).state == S.PROCESSING
    assert assert_same_as_live()[S.PROCESSING] == 1
    # ...staff retry the exhausted items and "Relancer" the refused lead.
    assert queue_retry_exhausted() == 1
    assert lead_retry(lead=Lead.objects.get(pk=refused.pk))
    assert assert_same_as_live() == {
        S.PENDING: 2,
        S.PROCESSING: 1,
        S.SUCCESS: 3,
        S.FAILED: 1,
        S.EXHAUSTED: 0,
        "total": 7,
    }
    # The delivered lead of before the refresh stays counted once.
    assert delivery_of(delivered).state == S.SUCCESS

    # The next refreshes add the minute since theirs (no recount within the
    # hour): the same totals as a count over the whole table.
    time_machine.shift(timedelta(minutes=1))
    added = refresh()
    assert added.recounted_until == totals.counted_until
    assert (added.routed, added.delivered) == (7, 3)
    assert assert_same_as_live()["total"] == 7
    time_machine.shift(timedelta(minutes=1))
    sent(world, buyer, 201)
    time_machine.shift(timedelta(minutes=1))
    added = refresh()
    assert (added.routed, added.delivered) == (8, 4)
    assert assert_same_as_live()[S.SUCCESS] == 4


def test_an_expired_delivery_counts_as_failed_at_once(world, buyer, time_machine):
    queued = sent(world, buyer, 503)
    refresh()
    time_machine.shift(timedelta(hours=72, minutes=1))  # past LEAD_FRESHNESS_HOURS

    assert run_queue().expired == 1

    assert delivery_of(queued).state == S.FAILED
    assert assert_same_as_live()[S.FAILED] == 1


def test_a_deleted_delivery_leaves_the_counts_at_the_hourly_recount(world, buyer, time_machine):
    """The one change the stored totals cannot follow (leads are deleted
    only when a legacy import is undone): the recount sets it right."""
    gone = sent(world, buyer, 201)
    sent(world, buyer, 201)
    time_machine.shift(timedelta(minutes=1))
    first = refresh()

    Lead.objects.filter(pk=gone.pk).delete()

    assert queue_stats().counts["total"] == 2
    assert queue_stats_live().counts["total"] == 1
    time_machine.shift(TOTALS_RECOUNT_EVERY - timedelta(minutes=1))
    refresh()
    assert queue_stats().counts["total"] == 2  # added to, not recounted yet
    time_machine.shift(timedelta(minutes=1))
    recounted = refresh()
    assert recounted.recounted_until == first.counted_until + TOTALS_RECOUNT_EVERY
    assert_same_as_live()


def test_a_refresh_with_an_earlier_cut_off_changes_nothing(world, buyer):
    sent(world, buyer, 201)
    later = queue_totals_refresh(counted_until=timezone.now() + timedelta(minutes=1))

    earlier = queue_totals_refresh(counted_until=timezone.now())

    assert (earlier.counted_until, earlier.routed) == (later.counted_until, 1)
