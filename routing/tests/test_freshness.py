"""Freshness (issue 15 §6): a lead not delivered within LEAD_FRESHNESS_HOURS
is `expired` and never sent afterwards, whatever path would have sent it
(an order appearing, the retry ladder, "Relancer"). Against the real fake
buyer, with time travel instead of waiting three days."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from enersolar.tests.factories import UserFactory, product
from leads.admin import failure_reasons
from leads.models import Lead
from leads.services import leads_status_set
from routing.models import Delivery, Order, VerificationReport
from routing.services.batch import lead_deliver
from routing.services.queue import lead_retry
from routing.services.verification import verification_run

from .factories import DeliveryFactory
from .helpers import make_world
from .queue.support import delivery_of, run_queue

pytestmark = pytest.mark.django_db

LIMIT = timedelta(hours=72)  # the default of LEAD_FRESHNESS_HOURS


@pytest.fixture
def world(buyer):
    """A buyer that takes only ordered leads and has no order yet."""
    world = make_world(buyer.url("zr7"), order=False)
    world.crm.only_ordered_leads = True
    world.crm.save()
    return world


def held_lead(world):
    lead = world.lead()
    assert lead_deliver(lead_id=lead.pk) == "not_routed"
    lead.refresh_from_db()
    assert lead.status == Lead.Status.PENDING_NO_ORDER
    return lead


def order_added_in_the_admin(client, world, capture):
    """What staff do when a buyer orders: the admin's add page (which
    releases the held leads of the product and starts a queue run)."""
    client.force_login(UserFactory(role="Admin"))
    data = {
        "crm": world.crm.pk,
        "name": "New order",
        "product_type": product("PV").pk,
        "unit_price": "22.00",
        "priority": 0,
        "is_active": "on",
        "api_key": "new-order-key-1234",
    }
    with capture(execute=True):
        response = client.post(reverse("admin:routing_order_add"), data, follow=True)
    assert response.status_code == 200
    assert Order.objects.filter(name="New order").exists()
    return response


# --- Held for want of an order ------------------------------------------------------------------


def test_a_held_lead_older_than_the_limit_is_never_delivered_when_an_order_appears(
    client, buyer, world, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(timezone.now(), tick=False)
    lead = held_lead(world)

    time_machine.shift(LIMIT + timedelta(minutes=1))
    order_added_in_the_admin(client, world, django_capture_on_commit_callbacks)
    for _ in range(3):
        run_queue()

    lead.refresh_from_db()
    assert lead.status == Lead.Status.EXPIRED
    assert "EXPIRED" in lead.reasons
    assert not Delivery.objects.filter(pk=lead.pk).exists()
    assert buyer.requests == []


def test_a_held_lead_within_the_limit_is_delivered_when_an_order_appears(
    client, buyer, world, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(timezone.now(), tick=False)
    lead = held_lead(world)

    time_machine.shift(LIMIT - timedelta(minutes=1))
    order_added_in_the_admin(client, world, django_capture_on_commit_callbacks)

    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert len(buyer.count_by_idempotency_key(answered=201)) == 1


def test_an_old_lead_set_back_to_pending_is_expired_by_the_routing_decision(
    buyer, world, time_machine
):
    # Whatever put it back to `pending` (a hand edit, an import), routing
    # checks its age before it chooses a buyer.
    time_machine.move_to(timezone.now(), tick=False)
    lead = held_lead(world)
    world.crm.only_ordered_leads = False
    world.crm.save()
    time_machine.shift(LIMIT + timedelta(minutes=1))
    leads_status_set([lead.pk], Lead.Status.PENDING)

    assert lead_deliver(lead_id=lead.pk) == "not_routed"

    lead.refresh_from_db()
    assert lead.status == Lead.Status.EXPIRED
    assert lead.reasons.count("EXPIRED") == 1
    assert buyer.requests == []


def test_the_queue_run_sweeps_old_held_leads(buyer, world, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    old = held_lead(world)
    time_machine.shift(timedelta(hours=2))
    fresh = held_lead(world)
    time_machine.shift(LIMIT - timedelta(hours=1))

    assert run_queue().expired == 1

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == Lead.Status.EXPIRED
    assert old.reasons == ["NO_ELIGIBLE_ORDER:zr7", "EXPIRED"]  # why it waited, then why it ended
    assert fresh.status == Lead.Status.PENDING_NO_ORDER
    assert run_queue().expired == 0


# --- Queued for a retry -------------------------------------------------------------------------


@pytest.fixture
def ordered_world(buyer):
    return make_world(buyer.url("zr7"))


def queued_lead(world, buyer):
    buyer.answer(503)
    lead = world.lead()
    assert lead_deliver(lead_id=lead.pk) == "transient"
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUEUED
    buyer.answer(201)
    return lead


def test_a_queued_lead_past_the_limit_is_not_retried(buyer, ordered_world, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    lead = queued_lead(ordered_world, buyer)

    time_machine.shift(LIMIT + timedelta(minutes=1))
    run = run_queue()

    assert (run.expired, run.dispatched) == (1, 0)
    lead.refresh_from_db()
    delivery = delivery_of(lead)
    assert lead.status == Lead.Status.EXPIRED
    assert (delivery.state, delivery.last_error) == (Delivery.State.FAILED, "EXPIRED")
    assert len(buyer.requests) == 1  # the first attempt only
    time_machine.shift(timedelta(hours=6))
    run_queue()
    assert len(buyer.requests) == 1


def test_a_queued_lead_within_the_limit_is_retried(buyer, ordered_world, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    lead = queued_lead(ordered_world, buyer)

    time_machine.shift(LIMIT - timedelta(minutes=1))
    run = run_queue()

    assert (run.expired, run.dispatched) == (0, 1)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert len(buyer.requests) == 2


def test_a_batch_does_not_post_a_lead_that_got_too_old_in_the_queue(
    buyer, ordered_world, time_machine
):
    # The sweep has not run yet (beat stopped): the send itself checks.
    time_machine.move_to(timezone.now(), tick=False)
    lead = queued_lead(ordered_world, buyer)
    time_machine.shift(LIMIT + timedelta(minutes=1))

    assert lead_deliver(lead_id=lead.pk) == "expired"

    lead.refresh_from_db()
    delivery = delivery_of(lead)
    assert lead.status == Lead.Status.EXPIRED
    assert lead.reasons == ["EXPIRED"]
    assert (delivery.state, delivery.attempts, delivery.claimed_at) == (
        Delivery.State.FAILED,
        1,  # no attempt used up, none recorded
        None,
    )
    assert delivery.attempt_log.count() == 1
    assert len(buyer.requests) == 1


# --- Relancer -----------------------------------------------------------------------------------


def test_relancer_refuses_a_lead_past_the_limit(client, buyer, ordered_world):
    # A final failure staff could send again the day it came; three days on,
    # it is worth nothing to the buyer.
    lead = ordered_world.lead(
        status=Lead.Status.FAILED, created_at=timezone.now() - LIMIT - timedelta(minutes=1)
    )
    DeliveryFactory(lead=lead, order=ordered_world.order, state=Delivery.State.FAILED, attempts=1)
    client.force_login(UserFactory(role="Editor"))

    response = client.post(f"/api/leads/{lead.pk}/retry")

    assert response.status_code == 409
    assert response.json()["success"] is False
    lead.refresh_from_db()
    assert lead.status == Lead.Status.EXPIRED
    assert lead.reasons == ["EXPIRED"]
    assert lead_retry(lead=lead) is False  # and stays refused
    assert buyer.requests == []


def test_relancer_still_sends_a_lead_within_the_limit(
    client, buyer, ordered_world, django_capture_on_commit_callbacks
):
    lead = ordered_world.lead(
        status=Lead.Status.FAILED, created_at=timezone.now() - LIMIT + timedelta(minutes=5)
    )
    DeliveryFactory(lead=lead, order=ordered_world.order, state=Delivery.State.FAILED, attempts=1)
    client.force_login(UserFactory(role="Editor"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/leads/{lead.pk}/retry")

    assert response.status_code == 200
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.SUCCESS
    assert len(buyer.count_by_idempotency_key(answered=201)) == 1


# --- Shown and counted --------------------------------------------------------------------------


def test_expired_is_shown_in_words():
    lead = Lead(status=Lead.Status.EXPIRED, reasons=["EXPIRED"])

    with translation.override("fr"):
        assert lead.get_status_display() == "expiré (non livré à temps)"
        assert "Non livré dans les 72 h suivant son arrivée" in str(failure_reasons(lead))


def test_the_nightly_report_counts_leads_that_expired_in_its_window(
    buyer, world, time_machine, admin_inbox
):
    time_machine.move_to(timezone.now(), tick=False)
    lead = held_lead(world)  # never swept: beat was down
    time_machine.shift(timedelta(hours=2))
    still_fresh = held_lead(world)
    time_machine.shift(LIMIT - timedelta(minutes=1))  # 74 h old and 72 h less a minute

    report = VerificationReport.objects.get(pk=verification_run().pk)

    lead.refresh_from_db()
    still_fresh.refresh_from_db()
    assert lead.status == Lead.Status.EXPIRED
    assert still_fresh.status == Lead.Status.PENDING_NO_ORDER
    assert report.expired == 1
    (mail,) = admin_inbox
    assert "Expirés (non livrés à temps): 1" in mail.body
