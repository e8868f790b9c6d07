"""The retry ladder and "Relancer" (SPEC §5), against the real buyer, with
time travel instead of sleeping."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import Delivery
from routing.services.batch import lead_deliver
from routing.services.queue import lead_retry, queue_retry_exhausted

from .support import LADDER, delivery_of, exhaust, run_queue, wait_seconds

pytestmark = pytest.mark.django_db

# --- The retry ladder --------------------------------------------------------------------


def test_retry_ladder_then_exhausted(buyer, world, frozen, admin_inbox, settings):
    # The ladder alone: no circuit opens, no probe comes before a step.
    settings.CIRCUIT_FAILURE_THRESHOLD = 100
    settings.CIRCUIT_COOLDOWN_SECONDS = 3 * 3600
    buyer.answer(500)
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "transient"
    for attempt, delay in enumerate(LADDER, start=1):
        delivery = delivery_of(lead)
        assert delivery.attempts == attempt
        assert delivery.state == Delivery.State.PENDING
        assert delay * 0.9 <= wait_seconds(lead) <= delay * 1.1, attempt
        due = delivery.next_attempt_at

        frozen.move_to(due - timedelta(seconds=1))  # not due yet: nothing goes
        assert run_queue().dispatched == 0
        assert len(buyer.requests) == attempt

        frozen.move_to(due)
        assert run_queue().dispatched == 1
        assert len(buyer.requests) == attempt + 1

    delivery = delivery_of(lead)
    lead.refresh_from_db()
    assert delivery.state == Delivery.State.EXHAUSTED
    assert delivery.attempts == 6
    assert lead.status == Lead.Status.FAILED
    assert delivery.last_error == "HTTP 500"
    assert delivery.attempt_log.count() == 6

    frozen.shift(timedelta(hours=6))  # an exhausted item is never picked again
    run_queue()
    assert len(buyer.requests) == 6


def test_retry_exhausted_puts_items_back_and_they_deliver(buyer, world, frozen, admin_inbox):
    buyer.answer(500)
    leads = [world.lead(), world.lead()]
    for lead in leads:
        exhaust(lead, frozen)
    admin = UserFactory(role="Admin")

    buyer.answer(201)
    assert queue_retry_exhausted(user=admin) == 2

    for lead in leads:
        delivery, _ = delivery_of(lead), lead.refresh_from_db()
        assert delivery.state == Delivery.State.PENDING
        assert delivery.attempts == 0
        assert delivery.next_attempt_at == timezone.now()
        assert lead.status == Lead.Status.QUEUED
    entry = ActivityLog.objects.get(action=ActivityLog.Action.QUEUE_ACTION)
    assert entry.user == admin and entry.details == {"action": "retry_exhausted", "count": 2}

    # The CRM's circuit opened during the failures: the items wait for the
    # cool-down, then everything goes.
    for _ in range(10):
        run_queue()
        frozen.shift(timedelta(minutes=1))
    for lead in leads:
        lead.refresh_from_db()
        assert lead.status == Lead.Status.SUCCESS
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1 for lead in leads}


# --- Relancer ------------------------------------------------------------------------------


def test_relancer_a_failed_lead(buyer, world, frozen, django_capture_on_commit_callbacks):
    buyer.answer(404, times=1)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.FAILED
    editor = UserFactory(role="Editor")

    with django_capture_on_commit_callbacks(execute=True):
        assert lead_retry(lead=lead, user=editor) is True

    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert [r.answered for r in buyer.requests] == [404, 201]
    entry = ActivityLog.objects.get(action=ActivityLog.Action.LEAD_RETRY)
    assert (entry.user, entry.object_id) == (editor, str(lead.pk))
    assert entry.details["from_status"] == "failed"


def test_relancer_after_an_auth_error_uses_the_fixed_key(
    buyer, world, frozen, django_capture_on_commit_callbacks
):
    buyer.answer(403, times=1)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.AUTH_ERROR

    world.routing.api_key = "the-right-key-7777"
    world.routing.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_retry(lead=lead) is True

    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert buyer.requests[-1].headers["Authorization"] == "the-right-key-7777"
    assert delivery_of(lead).attempts == 1  # a fresh ladder


@pytest.mark.parametrize("answer", [201, 200])
def test_relancer_refuses_delivered_and_duplicate_leads(
    buyer, world, django_capture_on_commit_callbacks, answer
):
    buyer.answer(answer, {"message": "doublon"} if answer == 200 else None)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    lead.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        assert lead_retry(lead=lead) is False

    assert len(buyer.requests) == 1
    assert not ActivityLog.objects.filter(action=ActivityLog.Action.LEAD_RETRY).exists()


def test_relancer_routes_a_lead_that_never_was(buyer, world, django_capture_on_commit_callbacks):
    world.order.is_active = False
    world.order.save()
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.PENDING_NO_ORDER

    world.order.is_active = True
    world.order.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_retry(lead=lead) is True

    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert delivery_of(lead).order == world.order
