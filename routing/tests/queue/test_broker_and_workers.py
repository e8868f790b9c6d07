"""Broker down, dead workers and two workers at once: no lead lost, none
sent twice (SPEC §5)."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from kombu.transport.memory import Transport as MemoryTransport

from enersolar import celery_app
from leads.models import Lead
from routing.models import Delivery
from routing.services.batch import lead_deliver
from routing.services.queue import queue_process
from routing.tasks import dispatch_leads

from ..factories import DeliveryFactory
from ..helpers import deliver_now, make_world
from .support import START, _in_threads, after, delivery_of, public_lead, run_queue

pytestmark = pytest.mark.django_db

# --- Broker down, dead workers ------------------------------------------------------------------


def test_dispatch_puts_the_leads_on_the_workers_queue_without_declaring_it(broker_in_memory):
    ids = [uuid.uuid4(), uuid.uuid4()]
    claim = START

    assert dispatch_leads(ids, claim) is True

    assert not MemoryTransport.global_state.bindings  # the workers declare it
    with celery_app.connection_for_read() as conn:
        message = conn.SimpleQueue(celery_app.conf.task_default_queue).get(timeout=1)
    args, kwargs, _ = message.decode()
    chunk = [str(i) for i in ids]
    assert message.headers["task"] == "routing.tasks.deliver_leads"
    assert (args, kwargs) == ([chunk], {"claim": claim.isoformat()})
    assert message.headers["argsrepr"] == repr([chunk])
    assert message.headers["kwargsrepr"] == repr({"claim": claim.isoformat()})
    message.ack()


def test_broker_down_at_intake_then_the_sweep_delivers(
    client, buyer, world, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = public_lead(client, world, "0612345678")

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.status == Lead.Status.PENDING
    assert not Delivery.objects.filter(pk=lead.pk).exists()
    assert buyer.requests == []

    celery_app.conf.task_always_eager = True  # the broker is back
    stuck = django_settings.DELIVERY_STUCK_SECONDS
    with after(lead.created_at, stuck - 1):
        assert run_queue().swept == 0  # not stuck yet: its own task may still come
    with after(lead.created_at, stuck + 1):
        assert run_queue().swept == 1

    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert buyer.count_by_idempotency_key() == {str(lead.pk): 1}


def test_broker_down_during_a_queue_run_gives_the_claims_back(buyer, world, broker_down):
    leads = [world.lead() for _ in range(3)]
    for lead in leads:
        DeliveryFactory(lead=lead, order=world.order)

    run = queue_process(dispatch=dispatch_leads)

    # One refused hand-off ends the run: no spinning on the same items.
    assert run.dispatched == 0
    for lead in leads:
        delivery = delivery_of(lead)
        assert delivery.state == Delivery.State.PENDING  # not stuck in processing
        assert delivery.claimed_at is None
    assert buyer.requests == []

    celery_app.conf.task_always_eager = True  # the broker is back
    assert queue_process(dispatch=dispatch_leads).dispatched == 3
    assert buyer.count_by_idempotency_key() == {str(lead.pk): 1 for lead in leads}


def test_a_vanished_worker_claim_is_released_after_the_lease(buyer, world, frozen):
    lead = world.lead()
    DeliveryFactory(lead=lead, order=world.order)
    lost = []

    assert queue_process(dispatch=lambda ids, claim: lost.append((ids, claim))).dispatched == 1
    assert delivery_of(lead).state == Delivery.State.PROCESSING

    lease = timedelta(seconds=django_settings.DELIVERY_LEASE_SECONDS)
    frozen.shift(lease - timedelta(seconds=1))
    run = run_queue()
    assert (run.released, run.dispatched) == (0, 0)
    assert buyer.requests == []

    frozen.shift(timedelta(seconds=2))
    run = run_queue()
    assert (run.released, run.dispatched) == (1, 1)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS

    # The lost task turns up after all (broker redelivery): its claim is stale.
    frozen.shift(timedelta(seconds=1))
    ids, claim = lost[0]
    assert lead_deliver(lead_id=ids[0], claim=claim) == "not_claimed"
    assert buyer.count_by_idempotency_key() == {str(lead.pk): 1}


def test_a_task_for_a_lead_already_delivered_sends_nothing(buyer, world):
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)

    assert lead_deliver(lead_id=lead.pk) == "not_claimed"  # a duplicate task
    assert len(buyer.requests) == 1


# --- Two workers (PostgreSQL row locks) ---------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_queue_workers_never_send_a_lead_twice(buyer):
    world = make_world(buyer.url())
    buyer.answer(201, delay=0.01)
    leads = [world.lead() for _ in range(40)]
    for lead in leads:
        DeliveryFactory(lead=lead, order=world.order)

    def worker(_):
        for _ in range(3):
            queue_process(dispatch=deliver_now)

    assert _in_threads(2, worker) == []

    assert buyer.count_by_idempotency_key() == {str(lead.pk): 1 for lead in leads}
    assert set(Lead.objects.values_list("status", flat=True)) == {Lead.Status.SUCCESS}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_for_one_new_lead_send_it_once(buyer):
    world = make_world(buyer.url())
    buyer.answer(201, delay=0.05)
    lead = world.lead()

    assert _in_threads(4, lambda _: lead_deliver(lead_id=lead.pk)) == []

    assert buyer.count_by_idempotency_key() == {str(lead.pk): 1}
    assert Delivery.objects.filter(pk=lead.pk).count() == 1
