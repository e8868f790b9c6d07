"""Sending a batch of claimed deliveries and writing their outcomes back.

A task's claimed leads are routed if needed (decide.py), sent one after the
other (send.py), and their outcomes written together in one short
transaction (_Outcomes): the attempt rows, the deliveries' state, the leads'
status (through leads.services.leads_status_set) and, for the successes,
billing's leads_delivered signal. The circuit breaker (circuit.py) is read
and fed as it goes.
"""

import dataclasses
import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from leads.models import Lead
from leads.selectors import lead_is_stale
from leads.services import EXPIRED_REASON, leads_expire, leads_status_set

from ..models import CRMHealth, Delivery, DeliveryAttempt
from ..selectors import circuit_health, delivery_api_key, delivery_api_keys
from ..signals import leads_delivered
from .circuit import (
    circuit_check,
    circuit_failures_reset,
    circuit_is_healthy,
    circuit_record_failure,
    circuit_record_success,
)
from .decide import lead_route
from .queue import LEASE_EXPIRED, backlog_drain, queue_release
from .send import AttemptResult, attempt_build, attempt_result_of_error, delivery_send

logger = logging.getLogger(__name__)

# A batch's write, tried again this many times in all when the database
# refuses it for a passing reason (deadlock, serialization, lost connection).
WRITE_TRIES = 3
# A batch writes what it collected at least this often: a worker that dies
# mid-batch loses about this much of the buyers' answers, not minutes' worth.
WRITE_EVERY_SECONDS = 1.0

# The lead's status after a final answer of its buyer (the one place that
# mirrors Delivery outcomes onto Lead.status).
FINAL_LEAD_STATUS = {
    DeliveryAttempt.Outcome.SUCCESS: Lead.Status.SUCCESS,
    DeliveryAttempt.Outcome.DUPLICATE: Lead.Status.DUPLICATE,
    DeliveryAttempt.Outcome.AUTH_ERROR: Lead.Status.AUTH_ERROR,
    DeliveryAttempt.Outcome.VALIDATION_ERROR: Lead.Status.VALIDATION_ERROR,
    DeliveryAttempt.Outcome.FAILED: Lead.Status.FAILED,
}


def _route_if_needed(lead_id) -> Delivery | None:
    """The lead's Delivery, deciding the route the first time. The lead's row
    lock makes two tasks for one new lead decide once."""
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("form__crm_override", "account")
            .filter(pk=lead_id)
            .first()
        )
        if lead is None:
            return None
        delivery = Delivery.objects.filter(pk=lead_id).first()
        if delivery is not None or lead.status != Lead.Status.PENDING:
            return delivery
        return lead_route(lead=lead)


def lead_deliver(*, lead_id, claim: datetime | None = None) -> str:
    """Route if needed, then make one attempt if the lead is due.

    `claim` is the token a queue run wrote when it claimed the item; without
    it the item is claimed here, if it is pending and due."""
    if claim is not None:
        outcomes = leads_deliver_claimed(lead_ids=[lead_id], claim=claim)
        return outcomes[0] if outcomes else "not_claimed"
    delivery = _route_if_needed(lead_id)
    if delivery is None:
        return "not_routed"
    now = timezone.now()  # after routing, which made the delivery due "now"
    taken = Delivery.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=lead_id,
        state=Delivery.State.PENDING,
    ).update(state=Delivery.State.PROCESSING, claimed_at=now)
    if not taken:
        return "not_claimed"
    return _deliver(list(_DELIVERIES.filter(pk=lead_id)), token=now)[0]


def leads_deliver_claimed(*, lead_ids: list, claim: datetime) -> list[str]:
    """One attempt for each item a queue run claimed with token `claim`.

    The claim is re-stamped for the whole batch in one UPDATE: of two copies
    of one task (broker redelivery) only the first still finds the queue
    run's token, and the rows now carrying this run's fresh stamp are exactly
    the ones it took, fetched in one query."""
    now = timezone.now()
    taken = Delivery.objects.filter(
        pk__in=lead_ids, state=Delivery.State.PROCESSING, claimed_at=claim
    ).update(claimed_at=now)
    if not taken:
        return []
    mine = _DELIVERIES.filter(
        pk__in=lead_ids, state=Delivery.State.PROCESSING, claimed_at=now
    ).order_by("next_attempt_at")
    return _deliver(list(mine), token=now)


# With the circuit of the CRM (None: never failed), read once per batch.
_DELIVERIES = Delivery.objects.select_related(
    "lead__product_type", "lead__form", "crm__health", "order"
)


def _deliver(deliveries: list[Delivery], *, token: datetime) -> list[str]:
    """One attempt for each claimed delivery, sent one after the other on the
    process's keep-alive session; their outcomes are written together.

    What was collected is written at least every WRITE_EVERY_SECONDS: a
    crash loses at most that many seconds of answers, whose items stay
    claimed; the lease hands them out again, and the buyer answers the
    repeat (same Idempotency-Key) with a "doublon", counted as delivered
    (_after_lease). The circuit is read once per CRM; after a transient
    failure, or an answer from a CRM whose circuit was not healthy, what was
    collected is written at once and the circuit read again, so the breaker
    counts and opens as it would lead by lead, and a probe's answer decides
    the rest of the batch."""
    outcomes = _Outcomes(token)
    circuits: dict[int, CRMHealth | None] = {}
    results = []
    handled = set()  # pks whose outcome is in `outcomes` (or written)
    sending = None  # the pk whose request is out
    try:
        api_keys = _batch_api_keys(deliveries)
        for delivery in deliveries:
            if outcomes.age() >= WRITE_EVERY_SECONDS:
                outcomes.write()
            if lead_is_stale(delivery.lead, now=timezone.now()):
                # Queued past the freshness limit (an outage, a long ladder):
                # not POSTed, whatever the CRM's state; no attempt is used up.
                outcomes.add_expired(delivery)
                handled.add(delivery.pk)
                results.append("expired")
                continue
            crm_id = delivery.crm_id
            if crm_id not in circuits:
                circuits[crm_id] = getattr(delivery.crm, "health", None)
            seen = circuits[crm_id]
            wait_until = circuit_check(crm_id=crm_id, now=timezone.now(), health=seen)
            if wait_until is not None:
                # Circuit open: queue without an attempt (no retry is used up).
                outcomes.add_held_back(delivery, until=wait_until)
                handled.add(delivery.pk)
                results.append("circuit_open")
                continue
            api_key = ""
            try:
                if delivery.pk not in api_keys:
                    api_key = delivery_api_key(delivery)
                else:
                    api_key = api_keys[delivery.pk]
                sending = delivery.pk
                result = _after_lease(delivery, delivery_send(delivery=delivery, api_key=api_key))
            except Exception as exc:
                # Our error, not the CRM's answer: that lead goes on the
                # retry ladder, its circuit untouched, the batch carries on.
                result = attempt_result_of_error(delivery=delivery, exc=exc, api_key=api_key)
                outcomes.add(delivery, result, at=timezone.now(), crm_failure=False)
                handled.add(delivery.pk)
                results.append(result.outcome)
                continue
            at = timezone.now()
            outcomes.add(delivery, result, at=at)
            handled.add(delivery.pk)
            results.append(result.outcome)
            transient = result.outcome == DeliveryAttempt.Outcome.TRANSIENT
            if transient or not circuit_is_healthy(seen):
                outcomes.write()
                if not transient:
                    recovery = circuit_record_success(crm_id=crm_id, now=at, seen=seen)
                    if recovery is not None:
                        backlog_drain(crm_id, at, recovery)
                circuits[crm_id] = circuit_health(crm_id)
    except BaseException:
        # Left early: what the buyer already answered is kept, and what was
        # not sent goes back to the queue now rather than after the lease.
        # The lead whose request was out may have reached the buyer: the
        # lease gives it back, marked so (see _after_lease).
        try:
            outcomes.write()
        finally:
            unsent = [d.pk for d in deliveries if d.pk not in handled and d.pk != sending]
            queue_release(unsent, token)
        raise
    outcomes.write()
    return results


def _after_lease(delivery: Delivery, result: AttemptResult) -> AttemptResult:
    """A "doublon" for an item the lease gave back is our own earlier send
    answered: its worker sent it (same Idempotency-Key) and died before
    writing the answer. The buyer has the lead from us: it was delivered."""
    if result.outcome == DeliveryAttempt.Outcome.DUPLICATE and delivery.last_error == LEASE_EXPIRED:
        return dataclasses.replace(result, outcome=DeliveryAttempt.Outcome.SUCCESS, error="")
    return result


def _batch_api_keys(deliveries: list[Delivery]) -> dict:
    """The batch's keys in one query; when one lead's data breaks that, an
    empty map: each lead's key is then read on its own, in its own try."""
    try:
        return delivery_api_keys(deliveries)
    except Exception:
        logger.warning("delivery keys: batch read failed, read lead by lead", exc_info=True)
        return {}


class _Outcomes:
    """A batch's outcomes, held in memory until written in one short
    transaction: the attempt rows in one INSERT, the deliveries this worker
    still holds the claim of in one UPDATE per distinct outcome (all the
    successes of a batch share one), the leads' statuses in one UPDATE per
    status, and the budget signal once for the batch."""

    def __init__(self, token: datetime) -> None:
        self.token = token
        self._clear()

    def age(self) -> float:
        """Seconds since the last write (or the batch's start)."""
        return time.monotonic() - self._written

    def _clear(self) -> None:
        self._written = time.monotonic()
        self.attempts: list[DeliveryAttempt] = []
        # delivery pk -> (delivery, lead status, the delivery's changed fields)
        self.finished: dict = {}
        self.failures: list[tuple[int, datetime]] = []  # (crm_id, when) of transient failures
        # CRMs that answered (not transiently) after their last transient
        # failure here: their count of consecutive failures starts again.
        self.answered: set[int] = set()

    def add_held_back(self, delivery: Delivery, *, until: datetime) -> None:
        changes = {
            "state": Delivery.State.PENDING,
            "next_attempt_at": until,
            "last_error": delivery.last_error or "CRM circuit open",
        }
        self.finished[delivery.pk] = (delivery, Lead.Status.QUEUED, changes)

    def add_expired(self, delivery: Delivery) -> None:
        changes = {"state": Delivery.State.FAILED, "last_error": EXPIRED_REASON}
        self.finished[delivery.pk] = (delivery, Lead.Status.EXPIRED, changes)

    def add(
        self, delivery: Delivery, result: AttemptResult, *, at: datetime, crm_failure: bool = True
    ) -> None:
        """`crm_failure`: whether a transient outcome counts against the
        CRM's circuit (not when the error was ours)."""
        self.attempts.append(attempt_build(delivery=delivery, result=result, at=at))
        attempts = delivery.attempts + 1
        changes = {"attempts": attempts, "last_error": result.error}
        if result.outcome != DeliveryAttempt.Outcome.TRANSIENT:
            self.answered.add(delivery.crm_id)
        elif crm_failure:
            self.answered.discard(delivery.crm_id)
        if result.outcome == DeliveryAttempt.Outcome.SUCCESS:
            # delivered_at is set when the success is written (see write()).
            changes["state"] = Delivery.State.SUCCESS
            lead_status = Lead.Status.SUCCESS
        elif result.outcome != DeliveryAttempt.Outcome.TRANSIENT:
            changes.update(state=Delivery.State.FAILED, delivered_at=None)
            lead_status = FINAL_LEAD_STATUS[result.outcome]
        else:
            if crm_failure:
                self.failures.append((delivery.crm_id, at))
            delays = settings.DELIVERY_RETRY_DELAYS
            if delivery.next_attempt_at is not None and delivery.next_attempt_at > at:
                # A probe, sent before its turn: it keeps its place and its
                # count on the ladder, so probing a long outage uses up no lead.
                changes.update(attempts=delivery.attempts, state=Delivery.State.PENDING)
                lead_status = Lead.Status.QUEUED
            elif attempts > len(delays):
                changes["state"] = Delivery.State.EXHAUSTED
                lead_status = Lead.Status.FAILED
            else:
                wait = delays[attempts - 1] * (
                    1 + random.uniform(-1, 1) * settings.DELIVERY_RETRY_JITTER
                )
                if result.retry_after:
                    wait = max(wait, min(result.retry_after, max(delays)))
                changes.update(
                    state=Delivery.State.PENDING, next_attempt_at=at + timedelta(seconds=wait)
                )
                lead_status = Lead.Status.QUEUED
        self.finished[delivery.pk] = (delivery, lead_status, changes)

    def write(self) -> None:
        """Only the items whose claim is still this worker's get their
        outcome (the others were released after the lease and belong to
        someone else now); every attempt is recorded, since it was made.

        A success's delivered_at is the time it is written, the same for
        the batch's successes, so they take one UPDATE (the attempt row keeps
        the exact time of the answer).

        Everything is still in memory until the commit: a write that lost a
        deadlock or a serialization check, or its connection, is tried
        again. When it keeps failing, the outcomes stay for the batch's next
        write; if none succeeds, the lease sends the leads again."""
        if not (self.attempts or self.finished):
            return
        for tries in range(1, WRITE_TRIES + 1):
            try:
                self._write_once()
            except OperationalError:
                if not connection.in_atomic_block:
                    connection.close_if_unusable_or_obsolete()  # a dropped connection
                for attempt in self.attempts:
                    attempt.pk = None  # the rolled-back INSERT gave it one
                if tries == WRITE_TRIES:
                    logger.exception(
                        "delivery batch write failed %s times, left to the lease: leads=%s",
                        tries,
                        sorted(self.finished),
                    )
                    self._written = time.monotonic()  # not again at once for each lead
                    return
                logger.warning("delivery batch write failed, trying again", exc_info=True)
            else:
                self._clear()
                return

    def _write_once(self) -> None:
        attempts, finished, failures, answered = (
            self.attempts,
            self.finished,
            self.failures,
            self.answered,
        )
        with transaction.atomic():
            written_at = timezone.now()
            held = set(
                Delivery.objects.select_for_update()
                .filter(pk__in=finished, state=Delivery.State.PROCESSING, claimed_at=self.token)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            DeliveryAttempt.objects.bulk_create(attempts)
            same_changes: dict[tuple, list] = {}
            same_status: dict[str, list] = {}
            delivered = []
            # By (order, lead): the budget receiver locks the orders in this
            # order, the same for every batch (no deadlock between two).
            for pk in sorted(held, key=lambda pk: (finished[pk][0].order_id or 0, pk)):
                delivery, lead_status, changes = finished[pk]
                if changes["state"] == Delivery.State.SUCCESS:
                    changes["delivered_at"] = written_at
                    delivered.append(delivery)
                changes["claimed_at"] = None
                for name, value in changes.items():
                    setattr(delivery, name, value)  # what the signal's receivers see
                same_changes.setdefault(tuple(changes.items()), []).append(pk)
                same_status.setdefault(lead_status, []).append(pk)
            for changes, pks in same_changes.items():
                Delivery.objects.filter(pk__in=pks).update(**dict(changes))
            for lead_status, pks in same_status.items():
                if lead_status == Lead.Status.EXPIRED:
                    leads_expire(pks)  # with its reason
                else:
                    leads_status_set(pks, lead_status)
            if delivered:
                leads_delivered.send(sender=Delivery, deliveries=delivered)
            for crm_id, at in failures:
                circuit_record_failure(crm_id=crm_id, now=at)
            if answered:
                # The loop resets the count only when the circuit looked
                # unhealthy at the start; failures other workers counted
                # since would add up to a false opening. Normally 0 rows.
                circuit_failures_reset(crm_ids=answered)
