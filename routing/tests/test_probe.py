"""A buyer that comes back gets its leads within a cool-down or two, whatever
their place on the retry ladder: the queue run probes a failing CRM that has
nothing due, the probe uses up no retry, and a success after failures brings
the waiting leads forward (routing/services/queue.py, circuit.py)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from leads.models import Lead
from routing.models import CRMHealth, Delivery
from routing.services.batch import lead_deliver
from routing.services.queue import queue_process

from .helpers import deliver_now, make_world

pytestmark = pytest.mark.django_db

START = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
COOLDOWN = 60


@pytest.fixture
def frozen(settings):
    settings.CIRCUIT_COOLDOWN_SECONDS = COOLDOWN
    settings.DELIVERY_RETRY_JITTER = 0
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


def run_queue():
    return queue_process(dispatch=deliver_now)


def delivery(lead) -> Delivery:
    return Delivery.objects.get(pk=lead.pk)


def test_one_failure_then_the_buyer_is_back_the_lead_leaves_after_the_cooldown(
    buyer, world, frozen
):
    """Two failures (below the circuit's threshold): without a probe the lead
    would wait for its 5-minute step."""
    buyer.answer(500)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    frozen.shift(timedelta(seconds=60))
    assert run_queue().dispatched == 1  # the first step of the ladder, failed again
    assert delivery(lead).attempts == 2
    assert delivery(lead).next_attempt_at == timezone.now() + timedelta(seconds=300)
    buyer.answer(201)

    frozen.shift(timedelta(seconds=COOLDOWN - 1))
    assert run_queue().probed == 0  # tried less than a cool-down ago
    frozen.shift(timedelta(seconds=1))
    run = run_queue()

    assert (run.dispatched, run.probed) == (0, 1)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1}
    assert CRMHealth.objects.get(crm=world.crm).consecutive_failures == 0


def test_a_failed_probe_keeps_the_lead_s_place_and_count_on_the_ladder(buyer, world, frozen):
    buyer.answer(500)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    frozen.shift(timedelta(seconds=60))
    run_queue()
    step = delivery(lead).next_attempt_at  # the 5-minute step

    frozen.shift(timedelta(seconds=COOLDOWN))
    assert run_queue().probed == 1
    assert len(buyer.requests) == 3
    assert (delivery(lead).attempts, delivery(lead).next_attempt_at) == (2, step)
    assert delivery(lead).state == Delivery.State.PENDING
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUEUED
    # The third failure opened the circuit: from now on its probe, once per cool-down.
    assert CRMHealth.objects.get(crm=world.crm).state == CRMHealth.State.OPEN


def test_an_open_circuit_with_nothing_due_is_probed_after_the_cooldown(buyer, world, frozen):
    """Every lead waits for a far step: the open circuit's probe takes the
    earliest one; its success closes the circuit and sends the rest."""
    buyer.answer(500)
    leads = [world.lead() for _ in range(3)]
    for lead in leads:
        lead_deliver(lead_id=lead.pk)
    assert CRMHealth.objects.get(crm=world.crm).state == CRMHealth.State.OPEN
    Delivery.objects.update(next_attempt_at=START + timedelta(hours=2))
    buyer.answer(201)

    frozen.shift(timedelta(seconds=COOLDOWN))
    run = run_queue()

    assert (run.dispatched, run.probed) == (0, 1)
    assert CRMHealth.objects.get(crm=world.crm).state == CRMHealth.State.CLOSED
    # The probe's success made the backlog due; the next run sends it.
    run_queue()
    assert set(Lead.objects.values_list("status", flat=True)) == {Lead.Status.SUCCESS}
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1 for lead in leads}


def test_a_success_after_failures_brings_waiting_leads_forward_to_the_cooldown(
    buyer, world, frozen
):
    """Another lead is taken while one waits for its 5-minute step: the buyer
    is back, the waiting one goes within a cool-down (not at once: a lead the
    buyer refuses alone is not sent again after every success)."""
    buyer.answer(500)
    waiting = world.lead()
    lead_deliver(lead_id=waiting.pk)
    frozen.shift(timedelta(seconds=60))
    run_queue()
    assert delivery(waiting).next_attempt_at == timezone.now() + timedelta(seconds=300)

    buyer.answer(201)
    frozen.shift(timedelta(seconds=10))
    new = world.lead()
    assert lead_deliver(lead_id=new.pk) == "success"

    assert delivery(waiting).next_attempt_at == timezone.now() + timedelta(seconds=COOLDOWN)
    frozen.shift(timedelta(seconds=COOLDOWN))
    run_queue()
    waiting.refresh_from_db()
    assert waiting.status == Lead.Status.SUCCESS


def test_a_healthy_crm_is_never_probed(buyer, world, frozen):
    later = world.lead()
    lead_deliver(lead_id=later.pk)  # delivered: the circuit never failed
    frozen.shift(timedelta(hours=1))
    assert run_queue().probed == 0
