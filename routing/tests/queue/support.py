"""Helpers shared by the delivery queue tests (routing/tests/queue/)."""

import threading
from datetime import UTC, datetime, timedelta

import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from routing.models import CRMHealth, Delivery
from routing.services.batch import lead_deliver
from routing.services.queue import queue_process
from tracking.models import VisitorSession

from ..factories import DeliveryFactory
from ..helpers import deliver_now

START = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


LADDER = [60, 300, 900, 3600, 7200]


def run_queue():
    """One beat tick, its hand-offs done by a worker at once."""
    return queue_process(dispatch=deliver_now)


def delivery_of(lead) -> Delivery:
    return Delivery.objects.get(pk=lead.pk)


def health(world) -> CRMHealth:
    return CRMHealth.objects.get(crm=world.crm)


def wait_seconds(lead) -> float:
    return (delivery_of(lead).next_attempt_at - timezone.now()).total_seconds()


def exhaust(lead, frozen):
    """Deliver against a failing buyer until the retry ladder is used up."""
    lead_deliver(lead_id=lead.pk)
    for _ in range(50):
        delivery = delivery_of(lead)
        if delivery.state == Delivery.State.EXHAUSTED:
            return
        frozen.move_to(max(delivery.next_attempt_at, timezone.now()))
        run_queue()
    raise AssertionError("never exhausted")


def open_circuit(world, buyer):
    buyer.answer(500)
    failed = [world.lead() for _ in range(django_settings.CIRCUIT_FAILURE_THRESHOLD)]
    for lead in failed:
        lead_deliver(lead_id=lead.pk)
    assert health(world).state == CRMHealth.State.OPEN
    return failed


def outage(world, frozen, *, hours, every_minutes=10):
    """The buyer is down: leads keep coming, beat runs the queue each minute."""
    leads = []
    for minute in range(hours * 60):
        if minute % every_minutes == 0:
            lead = world.lead()
            leads.append(lead)
            lead_deliver(lead_id=lead.pk)  # the intake's hand-off
        run_queue()
        frozen.shift(timedelta(minutes=1))
    return leads


def recovery(frozen, minutes=30):
    for _ in range(minutes):
        run_queue()
        frozen.shift(timedelta(minutes=1))


def public_lead(client, world, phone):
    session = VisitorSession.objects.create(visitor_id="v-1", lp_code=world.form.landing_page.code)
    return client.post(
        "/api/public/leads",
        {
            "session_id": str(session.pk),
            "form_code": world.form.code,
            "phone": phone,
            "nom": "Durand",
            "departement": "75",
        },
        content_type="application/json",
        REMOTE_ADDR="10.9.8.7",
    )


def after(moment: datetime, seconds: float):
    """Frozen time, `seconds` after `moment`. (Not while talking to a broker:
    kombu bounds its connection retries with the clock.)"""
    return time_machine.travel(moment + timedelta(seconds=seconds), tick=False)


def _in_threads(count, target):
    start = threading.Barrier(count)
    errors = []

    def run(n):
        try:
            start.wait(timeout=10)
            target(n)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def claimed_batch(world, count, **delivery_fields):
    """`count` routed leads claimed by a queue run, as one task receives them."""
    leads = [world.lead() for _ in range(count)]
    for lead in leads:
        DeliveryFactory(lead=lead, order=world.order, **delivery_fields)
    claim = timezone.now()
    Delivery.objects.filter(pk__in=[lead.pk for lead in leads]).update(
        state=Delivery.State.PROCESSING, claimed_at=claim
    )
    return [lead.pk for lead in leads], claim
