"""The delivery queue's upkeep (SPEC §5): claim what is due, give claims
back, release what a vanished worker held (the lease), sweep leads left
without a delivery, probe failing CRMs, the staff actions "Relancer" and
"retry exhausted", and the stored totals behind the queue's counts. Sending
a claimed batch is routing/services/batch.py.

The schedule lives in the database (Delivery.next_attempt_at), not in Celery
countdowns: with Redis, a task held past the visibility timeout is delivered
again and again. Tasks only carry ids; whoever wants to send a lead must first
*claim* its Delivery with a conditional UPDATE, so one lead is never being
sent by two workers at once. Work for the workers leaves this module as ids
(queue_process's `dispatch` callback) or as routing.signals sent after
commit; it never imports routing.tasks.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.services import journal_record
from leads.models import Lead
from leads.selectors import lead_freshness_cutoff, lead_is_stale, leads_stale_waiting
from leads.services import EXPIRED_REASON, leads_expire, leads_status_set

from ..models import Delivery, DeliveryAttempt, DeliveryTotals
from ..signals import delivery_wanted, queue_run_wanted
from .circuit import Recovery, circuit_budget, circuits_to_probe

CLAIM_CHUNK = 500
# last_error of an item the lease gave back: its worker may have sent it.
LEASE_EXPIRED = "LEASE_EXPIRED"
# At most this many too-old leads marked expired per queue run (every 30 s):
# a run stays short even after days without one.
EXPIRE_PER_RUN = 5000
# The stored delivery totals are counted again over the whole table this
# often (a quarter of a second per million deliveries); added to each minute
# in between.
TOTALS_RECOUNT_EVERY = timedelta(hours=1)

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


def backlog_drain(crm_id: int, now: datetime, recovery: Recovery) -> None:
    """The CRM answers again: what waits for it on the retry ladder goes.

    After an outage (its circuit opened) everything waiting is due now, with
    a fresh ladder for what the outage itself exhausted, and a queue run
    starts at once. After failures that opened no circuit, what waits longer
    than the cool-down is due after the cool-down: a lead the buyer refuses
    alone (while it takes the others) is then tried about once per cool-down,
    not again and again after each success."""
    if recovery.outage_started_at is None:
        due_at = now + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
        Delivery.objects.filter(
            crm_id=crm_id, state=Delivery.State.PENDING, next_attempt_at__gt=due_at
        ).update(next_attempt_at=due_at)
        return
    with transaction.atomic():
        Delivery.objects.filter(
            crm_id=crm_id, state=Delivery.State.PENDING, next_attempt_at__gt=now
        ).update(next_attempt_at=now)
        exhausted_by_outage = Delivery.objects.filter(
            Exists(
                DeliveryAttempt.objects.filter(
                    delivery_id=OuterRef("pk"), attempted_at__gte=recovery.outage_started_at
                )
            ),
            crm_id=crm_id,
            state=Delivery.State.EXHAUSTED,
        )
        leads_status_set(
            Lead.objects.filter(pk__in=exhausted_by_outage.values("pk")), Lead.Status.QUEUED
        )
        exhausted_by_outage.update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now)
    transaction.on_commit(lambda: queue_run_wanted.send(sender=Delivery))


@dataclass
class QueueRun:
    released: int = 0  # processing items whose worker vanished, due again
    dispatched: int = 0  # due items claimed and handed to workers
    probed: int = 0  # waiting items sent before their turn to probe a failing CRM
    swept: int = 0  # pending leads never routed (broker down at intake)
    expired: int = 0  # waiting leads older than the freshness limit, never sent now


def queue_process(
    *, dispatch, now: datetime | None = None, limit_per_crm: int | None = None
) -> QueueRun:
    """Claim due items and hand them to `dispatch(ids, claim)`, probe failing
    CRMs that have nothing due, re-dispatch leads left `pending` without a
    delivery. Called by beat (BEAT_PROCESS_DELIVERY_QUEUE, every 30 s).
    A dispatch returning False (broker down) ends the run."""
    now = now or timezone.now()
    limit_per_crm = limit_per_crm or settings.DELIVERY_DRAIN_PER_RUN
    run = QueueRun()
    # First, so nothing claimed below is already too old to be worth sending.
    run.expired = stale_leads_expire(now=now)
    run.released = Delivery.objects.filter(
        state=Delivery.State.PROCESSING,
        claimed_at__lt=now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS),
    ).update(
        state=Delivery.State.PENDING, claimed_at=None, next_attempt_at=now, last_error=LEASE_EXPIRED
    )

    due = Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
    crms_due = set(due.values_list("crm_id", flat=True).distinct().order_by())
    for crm_id in crms_due:
        # An open circuit lets one probe through at most; a closed one drains
        # at a bounded rate per run.
        budget, wait_until = circuit_budget(crm_id=crm_id, now=now, limit=limit_per_crm)
        if wait_until is not None:
            due.filter(crm_id=crm_id, next_attempt_at__lt=wait_until).update(
                next_attempt_at=wait_until
            )
        while budget > 0:
            ids = _claim(crm_id, now, min(budget, CLAIM_CHUNK))
            if not ids:
                break
            if dispatch(ids, now) is False:
                # The broker refused the hand-off and the claims were given
                # back: claiming them again would spin until the budget is
                # spent. The next run tries again.
                return run
            run.dispatched += len(ids)
            budget -= len(ids)

    # A CRM that failed and has nothing due: its earliest waiting lead goes
    # now as a probe (see circuits_to_probe), so a buyer that is back gets
    # its leads within a cool-down or two, whatever their place on the ladder.
    for crm_id in set(circuits_to_probe(now)) - crms_due:
        ids = _claim(crm_id, now, 1, due_only=False)
        if ids and dispatch(ids, now) is False:
            return run
        run.probed += len(ids)

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


def stale_leads_expire(*, now: datetime, limit: int = EXPIRE_PER_RUN) -> int:
    """Mark `expired` the leads still waiting (pending, queued, held for an
    order) that arrived longer ago than LEAD_FRESHNESS_HOURS, and take their
    deliveries off the queue; return how many. A lead whose delivery a worker
    holds is left to that worker's batch, which checks freshness before it
    sends (batch.py)."""
    stale = leads_stale_waiting(now).exclude(delivery__state=Delivery.State.PROCESSING)
    ids = list(stale.values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    with transaction.atomic():
        _deliveries_expire(ids)
        return leads_expire(leads_stale_waiting(now).filter(pk__in=ids))


def _deliveries_expire(lead_ids: list) -> None:
    """Waiting deliveries of expired leads leave the queue for good (a final
    answer's FAILED keeps its error text)."""
    Delivery.objects.filter(
        pk__in=lead_ids, state__in=[Delivery.State.PENDING, Delivery.State.EXHAUSTED]
    ).update(state=Delivery.State.FAILED, last_error=EXPIRED_REASON, claimed_at=None)


def _claim(crm_id: int, now: datetime, limit: int, *, due_only: bool = True) -> list:
    """Claim up to `limit` due items of one CRM (with `due_only=False`, the
    earliest waiting ones, due or not: a probe). skip_locked lets two queue
    runs (two beats by mistake, or a manual run) split the work instead of
    waiting or taking the same rows. SQLite has no row locks: its IMMEDIATE
    transactions let one writer at a time in, which gives the same result."""
    waiting = Delivery.objects.filter(crm_id=crm_id, state=Delivery.State.PENDING)
    if due_only:
        waiting = waiting.filter(next_attempt_at__lte=now)
    with transaction.atomic():
        ids = list(
            waiting.select_for_update(skip_locked=True)
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
        leads_status_set(Lead.objects.filter(pk__in=exhausted.values("pk")), Lead.Status.QUEUED)
        count = exhausted.update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now)
        journal_record(
            user=user,
            action=ActivityLog.Action.QUEUE_ACTION,
            details={"action": "retry_exhausted", "count": count},
        )
    return count


def lead_retry(*, lead: Lead, user=None) -> bool:
    """ "Relancer": send one lead again now, with a fresh retry ladder; a lead
    that was never routed is routed again. False when its status forbids it,
    or when it is older than the freshness limit: it is then marked `expired`
    (no override: a days-old lead is worth nothing to the buyer)."""
    if lead.status not in RETRYABLE_STATUSES:
        return False
    now = timezone.now()
    if lead_is_stale(lead, now=now):
        with transaction.atomic():
            _deliveries_expire([lead.pk])
            leads_expire([lead.pk])
        lead.status = Lead.Status.EXPIRED
        return False
    with transaction.atomic():
        has_delivery = (
            Delivery.objects.filter(pk=lead.pk)
            .exclude(state=Delivery.State.PROCESSING)
            .update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
        )
        leads_status_set([lead.pk], Lead.Status.PENDING)
        journal_record(
            user=user,
            action=ActivityLog.Action.LEAD_RETRY,
            obj=lead,
            details={"from_status": lead.status, "rerouted": not has_delivery},
        )
    transaction.on_commit(lambda: delivery_wanted.send(sender=Delivery, lead_ids=[lead.pk]))
    return True


def held_leads_release(*, product_type_id: int) -> int:
    """Leads held for want of an order go back to `pending`; the next queue
    run routes them again. Those older than the freshness limit are marked
    `expired` instead: an order appearing days later never gets them."""
    held = Lead.objects.filter(status=Lead.Status.PENDING_NO_ORDER, product_type_id=product_type_id)
    leads_expire(held.filter(created_at__lt=lead_freshness_cutoff(timezone.now())))
    return leads_status_set(held, Lead.Status.PENDING)


def queue_totals_refresh(*, counted_until: datetime) -> DeliveryTotals:
    """Bring the deliveries routed, and those delivered, before
    `counted_until` up to date, for queue_stats. Run by the dashboard's
    refresh job every minute, with its cut-off (a little in the past, so that
    no transaction still in flight is missed): what was routed or delivered
    since the previous cut-off is added (index ranges, a minute's worth);
    once an hour, and the first time, the whole table is counted again."""
    with transaction.atomic():
        totals = DeliveryTotals.objects.select_for_update().filter(pk=1).first()
        if totals is not None and counted_until <= totals.counted_until:
            return totals  # a run with a later cut-off came first
        if totals is None or counted_until - totals.recounted_until >= TOTALS_RECOUNT_EVERY:
            row = _delivery_totals(until=counted_until)
            totals = totals or DeliveryTotals(pk=1)
            totals.routed, totals.delivered = row["routed"], row["delivered"]
            totals.recounted_until = counted_until
        else:
            row = _delivery_totals(since=totals.counted_until, until=counted_until)
            totals.routed += row["routed"]
            totals.delivered += row["delivered"]
        totals.counted_until = counted_until
        totals.save()
    return totals


def _delivery_totals(*, since: datetime | None = None, until: datetime) -> dict[str, int]:
    """The deliveries routed in [since, until) (`routed`), and the successes
    delivered in it (`delivered`), in one query; `since` None: from the start."""
    routed = Q(routed_at__lt=until)
    # A success is stamped when written (batch.py); one without a stamp, which
    # nothing makes, would be counted here, by the recount.
    delivered = Q(state=Delivery.State.SUCCESS) & ~Q(delivered_at__gte=until)
    deliveries = Delivery.objects.all()
    if since is not None:
        # Listing every state lets the (state, routed_at) index serve.
        routed &= Q(state__in=Delivery.State.values, routed_at__gte=since)
        delivered = Q(state=Delivery.State.SUCCESS, delivered_at__gte=since, delivered_at__lt=until)
        deliveries = deliveries.filter(routed | delivered)
    return deliveries.aggregate(
        routed=Count("pk", filter=routed), delivered=Count("pk", filter=delivered)
    )
