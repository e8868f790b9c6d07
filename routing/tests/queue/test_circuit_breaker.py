"""The per-CRM circuit breaker: opening, probes, recovery after an outage
(SPEC §5), against the real buyer, with time travel."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from leads.models import Lead
from routing.models import CRMHealth, Delivery
from routing.services.batch import lead_deliver
from routing.services.circuit import circuit_record_failure

from .support import START, delivery_of, health, open_circuit, outage, recovery, run_queue

pytestmark = pytest.mark.django_db

# --- Circuit breaker ------------------------------------------------------------------------------


def test_circuit_opens_after_consecutive_transient_failures(
    buyer, world, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    buyer.answer(500)
    threshold = django_settings.CIRCUIT_FAILURE_THRESHOLD

    for n in range(threshold):
        with django_capture_on_commit_callbacks(execute=True):
            lead_deliver(lead_id=world.lead().pk)
        state = CRMHealth.State.OPEN if n == threshold - 1 else CRMHealth.State.CLOSED
        assert health(world).state == state

    assert health(world).consecutive_failures == threshold
    assert health(world).opened_at == START
    (mail,) = admin_inbox
    assert "ZR7" in mail.subject and str(CRMHealth.State.OPEN.label) in mail.subject
    assert mail.to == ["ops@example.com"]


def test_a_success_resets_the_failure_count(buyer, world, frozen, admin_inbox):
    buyer.answer(500, times=2)
    buyer.answer(201, times=1)
    buyer.answer(500, times=2)

    for _ in range(5):
        lead_deliver(lead_id=world.lead().pk)

    assert health(world).state == CRMHealth.State.CLOSED
    assert health(world).consecutive_failures == 2
    assert admin_inbox == []


def test_the_circuit_e_mail_leaves_once_the_write_is_committed(
    world, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    """Not while the batch's transaction holds its row locks."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for _ in range(django_settings.CIRCUIT_FAILURE_THRESHOLD):
            circuit_record_failure(crm_id=world.crm.pk, now=START)
        assert health(world).state == CRMHealth.State.OPEN
        assert admin_inbox == []
    assert [m.subject.split(": ")[1] for m in admin_inbox] == [str(CRMHealth.State.OPEN.label)]


def test_while_open_new_leads_are_queued_without_an_attempt(
    buyer, world, frozen, admin_inbox, settings
):
    # A cool-down longer than the first retry step: due retries wait for it too.
    settings.CIRCUIT_COOLDOWN_SECONDS = 300
    open_circuit(world, buyer)
    sent = len(buyer.requests)

    lead = world.lead()
    assert lead_deliver(lead_id=lead.pk) == "circuit_open"

    assert len(buyer.requests) == sent  # the buyer saw nothing
    lead.refresh_from_db()
    delivery = delivery_of(lead)
    assert lead.status == Lead.Status.QUEUED
    assert delivery.state == Delivery.State.PENDING
    assert delivery.attempts == 0  # no retry used up
    cooldown = timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS)
    assert delivery.next_attempt_at == START + cooldown
    assert delivery.attempt_log.count() == 0

    frozen.shift(timedelta(minutes=1))  # due retries of the failed leads wait too
    assert run_queue().dispatched == 0
    assert len(buyer.requests) == sent


def test_after_the_cooldown_one_probe_and_a_failed_probe_reopens(
    buyer, world, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        open_circuit(world, buyer)
    queued = [world.lead() for _ in range(3)]
    for lead in queued:
        lead_deliver(lead_id=lead.pk)
    sent = len(buyer.requests)
    cooldown = timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS)

    frozen.move_to(START + cooldown)
    run = run_queue()

    assert run.dispatched == 1
    assert len(buyer.requests) == sent + 1  # exactly one probe, 6 items due
    assert health(world).state == CRMHealth.State.OPEN  # the probe failed
    assert health(world).opened_at == START + cooldown
    # Staff heard once, when the outage began; failed probes re-open quietly.
    assert [m.subject.split(": ")[1] for m in admin_inbox] == [str(CRMHealth.State.OPEN.label)]

    frozen.shift(cooldown - timedelta(seconds=1))
    assert run_queue().dispatched == 0  # a new cool-down
    assert len(buyer.requests) == sent + 1


def test_a_successful_probe_closes_the_circuit_and_the_backlog_drains(
    buyer, world, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    failed = open_circuit(world, buyer)
    queued = [world.lead() for _ in range(4)]
    for lead in queued:
        lead_deliver(lead_id=lead.pk)
    cooldown = timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS)

    buyer.answer(201)
    frozen.move_to(START + cooldown)
    # The beat task itself, eager: the probe's success triggers a queue run
    # of its own (on commit) that sends the backlog.
    from routing.tasks import process_queue

    with django_capture_on_commit_callbacks(execute=True):
        process_queue.delay()

    assert health(world).state == CRMHealth.State.CLOSED
    assert health(world).consecutive_failures == 0
    assert admin_inbox[-1].subject.endswith(str(CRMHealth.State.CLOSED.label))
    everyone = failed + queued
    for lead in everyone:
        lead.refresh_from_db()
        assert lead.status == Lead.Status.SUCCESS, lead.status
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1 for lead in everyone}


def test_hours_of_outage_then_recovery_deliver_every_lead_exactly_once(
    buyer, world, frozen, admin_inbox
):
    """Three hours: shorter than the retry ladder (1+5+15+60+120 min ± 10 %),
    so no lead may run out of retries."""
    buyer.answer(503)
    leads = outage(world, frozen, hours=3)
    outage_requests = len(buyer.requests)
    assert not Lead.objects.filter(status=Lead.Status.SUCCESS).exists()
    assert not Delivery.objects.filter(state=Delivery.State.EXHAUSTED).exists()

    buyer.answer(201)
    recovery(frozen)

    statuses = dict(Lead.objects.values_list("pk", "status"))
    assert set(statuses.values()) == {Lead.Status.SUCCESS}, statuses
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1 for lead in leads}
    # The circuit kept the outage to about one probe per cool-down.
    cooldown = django_settings.CIRCUIT_COOLDOWN_SECONDS
    assert outage_requests <= django_settings.CIRCUIT_FAILURE_THRESHOLD + 3 * 3600 // cooldown + 1


def test_an_outage_longer_than_the_ladder_exhausts_leads_that_recovery_brings_back(
    buyer, world, frozen, admin_inbox, settings
):
    """Past the ladder, the leads used as probes all along are exhausted (SPEC:
    the 5th retry failed); the others wait behind the circuit without using
    up retries. When the circuit closes, what the outage exhausted gets a
    fresh ladder: every lead is delivered once, with no staff action."""
    # No jitter: whether a lead runs its whole ladder inside the outage must
    # not depend on chance.
    settings.DELIVERY_RETRY_JITTER = 0
    buyer.answer(503)
    leads = outage(world, frozen, hours=5)
    exhausted = Delivery.objects.filter(state=Delivery.State.EXHAUSTED)
    assert exhausted.exists()
    for delivery in exhausted:
        times = [a.attempted_at for a in delivery.attempt_log.all()]
        assert delivery.attempts == 6  # probes sent before their turn are not counted
        assert times[-1] - times[0] >= timedelta(hours=3)  # the whole ladder, jitter included

    buyer.answer(201)
    recovery(frozen)

    assert set(Lead.objects.values_list("status", flat=True)) == {Lead.Status.SUCCESS}
    assert buyer.count_by_idempotency_key(answered=201) == {str(lead.pk): 1 for lead in leads}
