"""The delivery queue: claim, attempt, schedule retries, sweep (SPEC §5).

The schedule lives in the database (Delivery.next_attempt_at), not in Celery
countdowns: with Redis, a task held past the visibility timeout is delivered
again and again. Tasks only carry ids; whoever wants to send a lead must first
*claim* its Delivery with a conditional UPDATE, so one lead is never being
sent by two workers at once.
"""

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.services import journal_record
from leads.models import Lead

from ..models import Delivery, DeliveryAttempt
from ..signals import lead_delivered
from .decision import delivery_api_key, lead_route
from .delivery import attempt_record, delivery_send
from .health import (
    circuit_budget,
    circuit_check,
    circuit_health,
    circuit_record_failure,
    circuit_record_success,
)

logger = logging.getLogger(__name__)

CLAIM_CHUNK = 500

FINAL_LEAD_STATUS = {
    DeliveryAttempt.Outcome.SUCCESS: Lead.Status.SUCCESS,
    DeliveryAttempt.Outcome.DUPLICATE: Lead.Status.DUPLICATE,
    DeliveryAttempt.Outcome.AUTH_ERROR: Lead.Status.AUTH_ERROR,
    DeliveryAttempt.Outcome.VALIDATION_ERROR: Lead.Status.VALIDATION_ERROR,
    DeliveryAttempt.Outcome.FAILED: Lead.Status.FAILED,
}
# Leads staff may send again with "Relancer".
RETRYABLE_STATUSES = (
    Lead.Status.FAILED,
    Lead.Status.AUTH_ERROR,
    Lead.Status.VALIDATION_ERROR,
    Lead.Status.QUEUED,
    Lead.Status.NO_CRM,
    Lead.Status.NO_API_KEY,
    Lead.Status.PENDING_NO_ORDER,
)


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
    return _attempt(_DELIVERIES.get(pk=lead_id), token=now)


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
    return [_attempt(delivery, token=now) for delivery in mine]


_DELIVERIES = Delivery.objects.select_related("lead__product_type", "lead__form", "crm", "order")


def _attempt(delivery: Delivery, *, token: datetime) -> str:
    now = timezone.now()
    health = circuit_health(delivery.crm_id)
    wait_until = circuit_check(crm_id=delivery.crm_id, now=now, health=health)
    if wait_until is not None:
        # Circuit open: queue without an attempt (no retry is used up).
        _finish(
            delivery,
            token=token,
            state=Delivery.State.PENDING,
            lead_status=Lead.Status.QUEUED,
            next_attempt_at=wait_until,
            last_error=delivery.last_error or "CRM circuit open",
        )
        return "circuit_open"

    result = delivery_send(delivery=delivery, api_key=delivery_api_key(delivery))
    now = timezone.now()
    attempts = delivery.attempts + 1
    with transaction.atomic():
        attempt_record(delivery=delivery, result=result)
        if result.outcome == DeliveryAttempt.Outcome.TRANSIENT:
            delays = settings.DELIVERY_RETRY_DELAYS
            if attempts > len(delays):
                _finish(
                    delivery,
                    token=token,
                    state=Delivery.State.EXHAUSTED,
                    lead_status=Lead.Status.FAILED,
                    attempts=attempts,
                    last_error=result.error,
                )
            else:
                wait = delays[attempts - 1] * (
                    1 + random.uniform(-1, 1) * settings.DELIVERY_RETRY_JITTER
                )
                if result.retry_after:
                    wait = max(wait, min(result.retry_after, max(delays)))
                _finish(
                    delivery,
                    token=token,
                    state=Delivery.State.PENDING,
                    lead_status=Lead.Status.QUEUED,
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=wait),
                    last_error=result.error,
                )
            circuit_record_failure(crm_id=delivery.crm_id, now=now)
            return result.outcome
        success = result.outcome == DeliveryAttempt.Outcome.SUCCESS
        finished = _finish(
            delivery,
            token=token,
            state=Delivery.State.SUCCESS if success else Delivery.State.FAILED,
            lead_status=FINAL_LEAD_STATUS[result.outcome],
            attempts=attempts,
            last_error=result.error,
            delivered_at=now if success else None,
        )
        if success and finished:
            lead_delivered.send(sender=Delivery, delivery=delivery)
    outage_started_at = circuit_record_success(crm_id=delivery.crm_id, now=now, seen=health)
    if outage_started_at is not None:
        _drain_backlog(delivery.crm_id, now, outage_started_at)
    return result.outcome


def _drain_backlog(crm_id: int, now: datetime, outage_started_at: datetime) -> None:
    """The CRM is back: what waits for it (queued during the outage, on the
    retry ladder, or exhausted by the outage itself) is due now, with a fresh
    ladder for the exhausted, and a queue run starts at once."""
    from ..dispatch import dispatch_queue_run

    with transaction.atomic():
        Delivery.objects.filter(
            crm_id=crm_id, state=Delivery.State.PENDING, next_attempt_at__gt=now
        ).update(next_attempt_at=now)
        exhausted_by_outage = Delivery.objects.filter(
            Exists(
                DeliveryAttempt.objects.filter(
                    delivery_id=OuterRef("pk"), attempted_at__gte=outage_started_at
                )
            ),
            crm_id=crm_id,
            state=Delivery.State.EXHAUSTED,
        )
        Lead.objects.filter(pk__in=exhausted_by_outage.values("pk")).update(
            status=Lead.Status.QUEUED
        )
        exhausted_by_outage.update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now)
    transaction.on_commit(dispatch_queue_run)


def _finish(delivery: Delivery, *, token: datetime, state: str, lead_status: str, **fields) -> bool:
    """Write the outcome if this worker still holds the claim. Joins the
    caller's transaction when there is one (no savepoint: nothing to undo
    apart from the caller's own work)."""
    with transaction.atomic(savepoint=False):
        updated = Delivery.objects.filter(
            pk=delivery.pk, state=Delivery.State.PROCESSING, claimed_at=token
        ).update(state=state, claimed_at=None, **fields)
        if updated:
            Lead.objects.filter(pk=delivery.pk).update(status=lead_status)
    return bool(updated)


@dataclass
class QueueRun:
    released: int = 0  # processing items whose worker vanished, due again
    dispatched: int = 0  # due items claimed and handed to workers
    swept: int = 0  # pending leads never routed (broker down at intake)


def queue_process(
    *, dispatch, now: datetime | None = None, limit_per_crm: int | None = None
) -> QueueRun:
    """Claim due items and hand them to `dispatch(ids, claim)`; re-dispatch
    leads left `pending` without a delivery. Called by beat every minute.
    A dispatch returning False (broker down) ends the run."""
    now = now or timezone.now()
    limit_per_crm = limit_per_crm or settings.DELIVERY_DRAIN_PER_RUN
    run = QueueRun()
    run.released = Delivery.objects.filter(
        state=Delivery.State.PROCESSING,
        claimed_at__lt=now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
    ).update(state=Delivery.State.PENDING, claimed_at=None, next_attempt_at=now)

    due = Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
    for crm_id in due.values_list("crm_id", flat=True).distinct().order_by():
        # An open circuit lets one probe through at most; a closed one drains
        # at a bounded rate per run.
        budget, wait_until = circuit_budget(crm_id=crm_id, now=now, limit=limit_per_crm)
        if wait_until is not None:
            due.filter(crm_id=crm_id, next_attempt_at__lt=wait_until).update(
                next_attempt_at=wait_until
            )
        while budget > 0:
            ids = _claim_due(crm_id, now, min(budget, CLAIM_CHUNK))
            if not ids:
                break
            if dispatch(ids, now) is False:
                # The broker refused the hand-off and the claims were given
                # back: claiming them again would spin until the budget is
                # spent. The next run tries again.
                return run
            run.dispatched += len(ids)
            budget -= len(ids)

    stuck = Lead.objects.filter(
        status=Lead.Status.PENDING,
        created_at__lt=now - timedelta(seconds=settings.DELIVERY_STUCK_SECONDS),
        delivery__isnull=True,
    ).values_list("pk", flat=True)[:limit_per_crm]
    stuck_ids = list(stuck)
    if stuck_ids:
        dispatch(stuck_ids, None)
        run.swept = len(stuck_ids)
    return run


def _claim_due(crm_id: int, now: datetime, limit: int) -> list:
    """Claim up to `limit` due items of one CRM. skip_locked lets two queue
    runs (two beats by mistake, or a manual run) split the work instead of
    waiting or taking the same rows. SQLite has no row locks: its IMMEDIATE
    transactions let one writer at a time in, which gives the same result."""
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(crm_id=crm_id, state=Delivery.State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                state=Delivery.State.PROCESSING, claimed_at=now
            )
    return ids


def queue_release(ids: Iterable, claim: datetime) -> int:
    """Give claimed items back (the broker refused the hand-off)."""
    return Delivery.objects.filter(
        pk__in=list(ids), state=Delivery.State.PROCESSING, claimed_at=claim
    ).update(state=Delivery.State.PENDING, claimed_at=None)


def queue_retry_exhausted(*, user=None) -> int:
    """Exhausted items get a fresh retry ladder, due now."""
    now = timezone.now()
    with transaction.atomic():
        exhausted = Delivery.objects.filter(state=Delivery.State.EXHAUSTED)
        Lead.objects.filter(pk__in=exhausted.values("pk")).update(status=Lead.Status.QUEUED)
        count = exhausted.update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now)
        journal_record(
            user=user,
            action=ActivityLog.Action.QUEUE_ACTION,
            details={"action": "retry_exhausted", "count": count},
        )
    return count


def lead_retry(*, lead: Lead, user=None) -> bool:
    """ "Relancer": send one lead again now, with a fresh retry ladder; a lead
    that was never routed is routed again. False when its status forbids it."""
    if lead.status not in RETRYABLE_STATUSES:
        return False
    now = timezone.now()
    with transaction.atomic():
        has_delivery = (
            Delivery.objects.filter(pk=lead.pk)
            .exclude(state=Delivery.State.PROCESSING)
            .update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
        )
        Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.PENDING)
        journal_record(
            user=user,
            action=ActivityLog.Action.LEAD_RETRY,
            obj=lead,
            details={"from_status": lead.status, "rerouted": not has_delivery},
        )
    from ..dispatch import dispatch_leads

    transaction.on_commit(lambda: dispatch_leads([lead.pk]))
    return True


def held_leads_release(*, product_type_id: int) -> int:
    """Leads held for want of an order go back to `pending`; the next queue
    run routes them again."""
    return Lead.objects.filter(
        status=Lead.Status.PENDING_NO_ORDER, product_type_id=product_type_id
    ).update(status=Lead.Status.PENDING)
