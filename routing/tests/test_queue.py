"""The retry queue, the CRM circuit breaker and the sweep (SPEC §5), against
the real buyer, with time travel instead of sleeping."""

import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from kombu.transport.memory import Transport as MemoryTransport

from enersolar import celery_app
from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import CRMHealth, Delivery, DeliveryAttempt
from routing.services import batch
from routing.services.batch import lead_deliver, leads_deliver_claimed
from routing.services.circuit import circuit_record_failure
from routing.services.queue import lead_retry, queue_process, queue_retry_exhausted
from routing.services.send import delivery_send
from routing.signals import leads_delivered
from routing.tasks import dispatch_leads
from tracking.models import VisitorSession

from .factories import DeliveryFactory
from .helpers import deliver_now, make_world

pytestmark = pytest.mark.django_db

START = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
LADDER = [60, 300, 900, 3600, 7200]


@pytest.fixture
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


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


def open_circuit(world, buyer):
    buyer.answer(500)
    failed = [world.lead() for _ in range(django_settings.CIRCUIT_FAILURE_THRESHOLD)]
    for lead in failed:
        lead_deliver(lead_id=lead.pk)
    assert health(world).state == CRMHealth.State.OPEN
    return failed


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


# --- Broker down, dead workers ------------------------------------------------------------------


def _forget_broker_connections():
    # What Celery does after a fork: the next publish builds its connection
    # pool from the current configuration.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """The Celery broker unreachable: a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options
    conf.broker_url = f"redis://127.0.0.1:{port}/0"
    conf.broker_transport_options = {}
    conf.task_always_eager = False
    _forget_broker_connections()
    yield
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved
    _forget_broker_connections()


@pytest.fixture
def broker_in_memory():
    """A real (in-process) broker instead of eager tasks: what is published."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options
    conf.broker_url = "memory://"
    conf.broker_transport_options = {}
    conf.task_always_eager = False
    _forget_broker_connections()
    MemoryTransport.global_state.clear()
    yield
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved
    _forget_broker_connections()


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


# --- A task's batch: sent in turn, written together ------------------------------------------


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


def test_a_batch_records_every_outcome_in_a_few_statements(
    buyer, world, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(batch, "WRITE_EVERY_SECONDS", 3600)  # one write, however slow the machine
    buyer.answer(201, times=20)
    buyer.answer(200, {"message": "doublon"}, times=1)
    buyer.answer(400, times=1)
    buyer.answer(403, times=1)
    buyer.answer(404, times=2)
    ids, claim = claimed_batch(world, 25)

    # Claim, fetch, then one transaction: lock, attempts, one UPDATE per
    # distinct outcome (5) and per lead status (5), the budget check. Lead by
    # lead it was more than 100.
    with django_assert_max_num_queries(20):
        outcomes = leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert outcomes == ["success"] * 20 + [
        "duplicate",
        "validation_error",
        "auth_error",
        "failed",
        "failed",
    ]
    answered = {r.idempotency_key: r.answered for r in buyer.requests}
    assert sorted(answered) == sorted(str(pk) for pk in ids)  # each lead sent once
    expected = {201: "success", 200: "duplicate", 400: "validation_error", 403: "auth_error"}
    for lead in Lead.objects.filter(pk__in=ids):
        assert lead.status == expected.get(answered[str(lead.pk)], "failed")
        delivery = delivery_of(lead)
        assert (delivery.attempts, delivery.claimed_at) == (1, None)
        assert delivery.state == ("success" if lead.status == "success" else "failed")
        assert (delivery.delivered_at is not None) == (lead.status == "success")
        (attempt,) = delivery.attempt_log.all()
        assert attempt.http_status == answered[str(lead.pk)]
    assert delivery_of(Lead(pk=ids[-1])).last_error == "HTTP 404"


def test_the_budget_signal_is_sent_once_per_batch_with_its_successes(buyer, world):
    buyer.answer(201, times=2)
    buyer.answer(400, times=1)
    buyer.answer(201, times=1)
    ids, claim = claimed_batch(world, 4)
    sent = []

    def receiver(sender, deliveries, **kwargs):
        sent.append([(d.pk, d.state, d.delivered_at is not None) for d in deliveries])

    leads_delivered.connect(receiver)
    try:
        leads_deliver_claimed(lead_ids=ids, claim=claim)
        leads_deliver_claimed(lead_ids=ids, claim=claim)  # a redelivered copy of the task
    finally:
        leads_delivered.disconnect(receiver)

    assert len(sent) == 1
    assert sorted(sent[0]) == sorted((pk, "success", True) for pk in ids if pk != ids[2])


def test_in_a_batch_the_circuit_opens_after_the_threshold_and_holds_the_rest_back(
    buyer, world, frozen, admin_inbox
):
    buyer.answer(503)
    threshold = django_settings.CIRCUIT_FAILURE_THRESHOLD
    ids, claim = claimed_batch(world, threshold + 5)

    outcomes = leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert outcomes == ["transient"] * threshold + ["circuit_open"] * 5
    assert len(buyer.requests) == threshold  # as lead by lead: no send past the threshold
    assert health(world).state == CRMHealth.State.OPEN
    cooldown = timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS)
    for n, pk in enumerate(ids):
        delivery = Delivery.objects.get(pk=pk)
        assert delivery.state == Delivery.State.PENDING
        assert delivery.claimed_at is None
        if n < threshold:
            assert delivery.attempts == 1
            assert delivery.last_error == "HTTP 503"
        else:
            assert delivery.attempts == 0  # held back: no retry used up
            assert delivery.next_attempt_at == START + cooldown
    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"queued"}


def test_a_successful_probe_lets_the_rest_of_its_batch_go(
    buyer, world, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    failed = open_circuit(world, buyer)
    buyer.answer(201)
    frozen.move_to(START + timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS))
    ids, claim = claimed_batch(world, 4)

    with django_capture_on_commit_callbacks(execute=True):
        outcomes = leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert outcomes == ["success"] * 4  # the first one was the probe
    assert health(world).state == CRMHealth.State.CLOSED
    # The probe's success also drained the backlog: the leads that failed.
    everyone = [str(pk) for pk in ids] + [str(lead.pk) for lead in failed]
    assert buyer.count_by_idempotency_key(answered=201) == {key: 1 for key in everyone}


def test_a_batch_answered_after_its_failures_resets_the_count_other_workers_left(
    buyer, world, monkeypatch
):
    """The circuit looked healthy when the batch began; meanwhile other
    workers counted failures. The batch's answers reset the count, or those
    failures would add up with later ones to a false opening."""
    CRMHealth.objects.create(crm=world.crm)
    ids, claim = claimed_batch(world, 3)
    below_the_threshold = django_settings.CIRCUIT_FAILURE_THRESHOLD - 1

    def others_fail_meanwhile(**kwargs):
        CRMHealth.objects.filter(crm=world.crm).update(consecutive_failures=below_the_threshold)
        return delivery_send(**kwargs)

    monkeypatch.setattr(batch, "delivery_send", others_fail_meanwhile)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 3
    assert (health(world).state, health(world).consecutive_failures) == ("closed", 0)


def test_a_batch_whose_last_answer_is_a_failure_keeps_the_count(buyer, world):
    buyer.answer(201, times=1)
    buyer.answer(500, times=1)
    ids, claim = claimed_batch(world, 2)

    # Both written together, after the failure: the success came before it.
    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success", "transient"]
    assert health(world).consecutive_failures == 1


def test_a_batch_that_lost_the_probe_to_a_successful_one_sends_its_leads(
    buyer, world, frozen, admin_inbox, monkeypatch
):
    """Another worker won the probe and its success closed the circuit after
    this batch read it open: the batch reads the circuit again and sends,
    rather than holding each lead back for PROBE_WAIT."""
    open_circuit(world, buyer)
    buyer.answer(201)
    frozen.move_to(START + timedelta(seconds=django_settings.CIRCUIT_COOLDOWN_SECONDS))
    ids, claim = claimed_batch(world, 3)
    real_check = batch.circuit_check

    def other_probe_succeeds_first(**kwargs):
        CRMHealth.objects.filter(crm=world.crm).update(
            state=CRMHealth.State.CLOSED, consecutive_failures=0, opened_at=None
        )
        return real_check(**kwargs)

    monkeypatch.setattr(batch, "circuit_check", other_probe_succeeds_first)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 3
    taken = buyer.count_by_idempotency_key(answered=201)
    assert [taken[str(pk)] for pk in ids] == [1, 1, 1]


def test_an_item_whose_claim_was_lost_mid_batch_keeps_its_new_owner(buyer, world, monkeypatch):
    """Its lease ran out while the batch was being sent and another run took
    it: the attempt made is recorded, its outcome is the new owner's."""
    ids, claim = claimed_batch(world, 3)
    sent = []

    def send_then_lose_the_last_claim(**kwargs):
        sent.append(kwargs["delivery"].pk)
        if len(sent) == 2:
            Delivery.objects.filter(pk=ids[2]).update(claimed_at=claim + timedelta(hours=1))
        return delivery_send(**kwargs)

    monkeypatch.setattr(batch, "delivery_send", send_then_lose_the_last_claim)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 3

    lost = delivery_of(Lead(pk=ids[2]))
    assert (lost.state, lost.claimed_at) == (Delivery.State.PROCESSING, claim + timedelta(hours=1))
    assert lost.attempt_log.count() == 1
    assert Lead.objects.get(pk=ids[2]).status != Lead.Status.SUCCESS
    for pk in ids[:2]:
        assert delivery_of(Lead(pk=pk)).state == Delivery.State.SUCCESS


def test_a_crash_before_the_batch_is_written_leaves_its_leads_to_the_lease(
    buyer, world, frozen, monkeypatch
):
    """The buyer took the leads but the outcome never reached the database:
    nothing is lost, the lease hands the leads out again, the repeat carries
    the same Idempotency-Key and the buyer answers "doublon": delivered."""
    buyer.doublon_on_repeat()
    ids, claim = claimed_batch(world, 3)

    def crash(*args, **kwargs):
        raise ConnectionError("worker lost between the sends and the write")

    with monkeypatch.context() as patch:
        patch.setattr(DeliveryAttempt.objects, "bulk_create", crash)
        with pytest.raises(ConnectionError):
            leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert len(buyer.requests) == 3
    assert set(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        Delivery.State.PROCESSING
    }
    frozen.shift(timedelta(seconds=django_settings.DELIVERY_LEASE_SECONDS + 1))
    run = run_queue()

    assert (run.released, run.dispatched) == (3, 3)
    assert buyer.count_by_idempotency_key(answered=201) == {str(pk): 1 for pk in ids}
    assert buyer.count_by_idempotency_key(answered=200) == {str(pk): 1 for pk in ids}
    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"success"}
    for delivery in Delivery.objects.filter(pk__in=ids):
        assert (delivery.state, delivery.last_error) == (Delivery.State.SUCCESS, "")
        assert delivery.delivered_at is not None
    attempts = DeliveryAttempt.objects.filter(delivery_id__in=ids)
    assert [(a.http_status, a.outcome) for a in attempts] == [(200, "success")] * 3


def test_a_doublon_for_an_item_the_lease_never_released_stays_a_duplicate(buyer, world):
    """Without the lease's mark, a "doublon" is the buyer's: not delivered by us."""
    buyer.doublon_on_repeat()
    ids, claim = claimed_batch(world, 1)
    leads_deliver_claimed(lead_ids=ids, claim=claim)
    Delivery.objects.filter(pk=ids[0]).update(state=Delivery.State.PROCESSING, claimed_at=claim)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["duplicate"]
    assert Lead.objects.get(pk=ids[0]).status == Lead.Status.DUPLICATE


def test_a_long_batch_writes_its_answers_as_it_goes(buyer, world, monkeypatch):
    """A worker dying mid-batch loses about WRITE_EVERY_SECONDS of answers."""
    monkeypatch.setattr(batch, "WRITE_EVERY_SECONDS", 0)  # every answer is "old" at once
    ids, claim = claimed_batch(world, 3)
    states_when_sending = []

    def send_and_look(**kwargs):
        states_when_sending.append(
            sorted(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True))
        )
        return delivery_send(**kwargs)

    monkeypatch.setattr(batch, "delivery_send", send_and_look)

    leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert states_when_sending == [
        ["processing"] * 3,
        ["processing", "processing", "success"],
        ["processing", "success", "success"],
    ]


def test_a_write_the_database_refused_once_is_tried_again(buyer, world, monkeypatch):
    """A deadlock, a serialization failure or a lost connection: the batch's
    outcomes are still in memory, attempt rows included."""
    ids, claim = claimed_batch(world, 3)
    real_bulk_create = DeliveryAttempt.objects.bulk_create
    calls = []

    def deadlock_once(objs, *args, **kwargs):
        calls.append(len(objs))
        if len(calls) == 1:
            real_bulk_create(objs, *args, **kwargs)  # rolled back with the rest
            raise OperationalError("deadlock detected")
        return real_bulk_create(objs, *args, **kwargs)

    monkeypatch.setattr(DeliveryAttempt.objects, "bulk_create", deadlock_once)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 3

    assert calls == [3, 3]
    assert set(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"success"}
    assert DeliveryAttempt.objects.filter(delivery_id__in=ids).count() == 3
    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"success"}


def test_a_write_the_database_keeps_refusing_is_left_to_the_lease(
    buyer, world, monkeypatch, caplog
):
    ids, claim = claimed_batch(world, 2)

    def refuse(*args, **kwargs):
        raise OperationalError("could not serialize access")

    monkeypatch.setattr(DeliveryAttempt.objects, "bulk_create", refuse)

    with caplog.at_level("ERROR", logger="routing.services.batch"):
        assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 2

    assert set(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        Delivery.State.PROCESSING  # the lease sends them again
    }
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"delivery batch write failed {batch.WRITE_TRIES} times, left to the lease: "
        f"leads={sorted(ids)}"
    ]


def test_an_error_while_sending_one_lead_is_its_transient_outcome_and_the_batch_goes_on(
    buyer, world, monkeypatch, caplog
):
    ids, claim = claimed_batch(world, 4)
    sent = []

    def fail_on_the_third(**kwargs):
        sent.append(kwargs["delivery"].pk)
        if len(sent) == 3:
            raise RuntimeError(f"a bug while building the payload for {kwargs['api_key']}")
        return delivery_send(**kwargs)

    monkeypatch.setattr(batch, "delivery_send", fail_on_the_third)

    with caplog.at_level("ERROR", logger="routing.services.send"):
        outcomes = leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert outcomes == ["success", "success", "transient", "success"]
    states = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "state"))
    assert [states[pk] for pk in ids] == ["success", "success", "pending", "success"]
    failed = delivery_of(Lead(pk=ids[2]))
    assert (failed.attempts, failed.claimed_at) == (1, None)
    assert failed.next_attempt_at > timezone.now()  # the retry ladder applies
    assert "RuntimeError" in failed.last_error
    assert world.routing.api_key not in failed.last_error
    assert Lead.objects.get(pk=ids[2]).status == Lead.Status.QUEUED
    assert len(buyer.requests) == 3
    # Our bug is not the CRM's failure: its circuit counts nothing.
    assert not CRMHealth.objects.filter(crm=world.crm, consecutive_failures__gt=0).exists()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"lead={ids[2]}" in logged and "RuntimeError" in logged
    assert world.routing.api_key not in logged


def test_a_lead_whose_override_form_was_deleted_does_not_block_its_batch(buyer, world):
    ids, claim = claimed_batch(world, 3)
    override = Delivery.objects.get(pk=ids[1])
    override.source = Delivery.Source.FORM_OVERRIDE
    override.save(update_fields=["source"])
    Lead.objects.filter(pk=ids[1]).update(form=None)  # its form was deleted

    outcomes = leads_deliver_claimed(lead_ids=ids, claim=claim)

    assert outcomes == ["success"] * 3  # the fake buyer takes any key
    assert buyer.count_by_idempotency_key() == {str(pk): 1 for pk in ids}
    sent_without_key = [r for r in buyer.requests if r.idempotency_key == str(ids[1])]
    assert sent_without_key[0].headers["Authorization"] == ""


def test_a_batch_left_early_gives_its_unsent_leads_back_at_once(buyer, world, monkeypatch):
    ids, claim = claimed_batch(world, 4)
    sent = []

    def worker_stops_after_two(**kwargs):
        if len(sent) == 2:
            raise KeyboardInterrupt  # a warm shutdown, not an error of one lead
        sent.append(kwargs["delivery"].pk)
        return delivery_send(**kwargs)

    monkeypatch.setattr(batch, "delivery_send", worker_stops_after_two)

    with pytest.raises(KeyboardInterrupt):
        leads_deliver_claimed(lead_ids=ids, claim=claim)

    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    # The third was being sent (the buyer may have it): the lease's to give back.
    assert [rows[pk].state for pk in ids] == ["success", "success", "processing", "pending"]
    assert (rows[ids[3]].claimed_at, rows[ids[3]].attempts) == (None, 0)
    assert len(buyer.requests) == 2
