"""A task's batch: sent in turn, outcomes written together, the circuit fed
as it goes (routing/services/batch.py)."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.utils import timezone

from leads.models import Lead
from routing.models import CRMHealth, Delivery, DeliveryAttempt
from routing.services import batch
from routing.services.batch import leads_deliver_claimed
from routing.services.send import delivery_send
from routing.signals import leads_delivered

from .support import START, claimed_batch, delivery_of, health, open_circuit, run_queue

pytestmark = pytest.mark.django_db

# --- A task's batch: sent in turn, written together ------------------------------------------


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
