"""Per-CRM circuit breaker: after repeated transient failures stop sending,
probe once after a cool-down, resume on success (SPEC §5)."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM
from enersolar.notifications import notify_admins

from ..models import CRMHealth
from ..selectors import circuit_health

logger = logging.getLogger(__name__)

# While a probe is out (half-open), other leads wait this long before asking again.
PROBE_WAIT = timedelta(seconds=30)


def _health(crm_id: int) -> CRMHealth:
    health, _ = CRMHealth.objects.get_or_create(crm_id=crm_id)
    return health


def circuit_is_healthy(health: CRMHealth | None) -> bool:
    """Closed with no failure counted: a success there changes nothing."""
    return health is None or (
        health.state == CRMHealth.State.CLOSED and health.consecutive_failures == 0
    )


_UNREAD = object()


def circuit_check(*, crm_id: int, now: datetime, health=_UNREAD) -> datetime | None:
    """None when an attempt may go to this CRM now; otherwise when to try again.
    `health`: the circuit's row as the caller read it (None: no row), else
    it is read here.

    Of all workers asking once the cool-down is over, exactly one wins the
    probe (conditional UPDATE open → half-open); the others wait."""
    if health is _UNREAD:
        health = circuit_health(crm_id)
    if health is None or health.state == CRMHealth.State.CLOSED:
        return None
    if health.state == CRMHealth.State.OPEN:
        probe_at = health.opened_at + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
        if now < probe_at:
            return probe_at
        won = CRMHealth.objects.filter(crm_id=crm_id, state=CRMHealth.State.OPEN).update(
            state=CRMHealth.State.HALF_OPEN, changed_at=now
        )
        if won:
            logger.info("crm circuit crm_id=%s state=half_open (probing)", crm_id)
            return None
        # Another worker moved the circuit first: go by what it is now (its
        # probe out, closed by the probe's success, or open again).
        health = circuit_health(crm_id)
        if health is None or health.state == CRMHealth.State.CLOSED:
            return None
        if health.state == CRMHealth.State.OPEN:
            probe_at = health.opened_at + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
            return max(probe_at, now + PROBE_WAIT)
        return now + PROBE_WAIT
    # Half-open: a probe is out. If it never came back (its worker died), let
    # another one go after a lease.
    stale = now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    retaken = CRMHealth.objects.filter(
        crm_id=crm_id, state=CRMHealth.State.HALF_OPEN, changed_at__lt=stale
    ).update(changed_at=now)
    return None if retaken else now + PROBE_WAIT


def circuit_budget(*, crm_id: int, now: datetime, limit: int) -> tuple[int, datetime | None]:
    """How many due items a queue run may hand out for this CRM, and, when
    none, until when they should wait. Reads only: the task that carries the
    one probe item takes the half-open transition itself (circuit_check)."""
    health = CRMHealth.objects.filter(crm_id=crm_id).first()
    if health is None or health.state == CRMHealth.State.CLOSED:
        return limit, None
    if health.state == CRMHealth.State.OPEN:
        probe_at = health.opened_at + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
        return (1, None) if now >= probe_at else (0, probe_at)
    stale = now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    return (1, None) if health.changed_at < stale else (0, None)


def circuit_record_failure(*, crm_id: int, now: datetime) -> None:
    """A transient failure: count it, open the circuit at the threshold, and
    re-open it when the probe failed."""
    _health(crm_id)
    CRMHealth.objects.filter(crm_id=crm_id).update(
        consecutive_failures=F("consecutive_failures") + 1, last_failure_at=now
    )
    # A failed probe re-opens quietly: staff heard of the outage when it began.
    reopened = CRMHealth.objects.filter(crm_id=crm_id, state=CRMHealth.State.HALF_OPEN).update(
        state=CRMHealth.State.OPEN, opened_at=now, changed_at=now
    )
    if reopened:
        logger.info("crm circuit crm_id=%s state=open (probe failed)", crm_id)
        return
    opened = CRMHealth.objects.filter(
        crm_id=crm_id,
        state=CRMHealth.State.CLOSED,
        consecutive_failures__gte=settings.CIRCUIT_FAILURE_THRESHOLD,
    ).update(state=CRMHealth.State.OPEN, opened_at=now, outage_started_at=now, changed_at=now)
    if opened:
        _announce(crm_id, CRMHealth.State.OPEN)


def circuit_failures_reset(*, crm_ids) -> int:
    """These CRMs answered after their last failure: a closed circuit's count
    of consecutive failures starts again (an open one closes through its
    probe, circuit_record_success)."""
    return CRMHealth.objects.filter(
        crm_id__in=crm_ids, state=CRMHealth.State.CLOSED, consecutive_failures__gt=0
    ).update(consecutive_failures=0)


@dataclass(frozen=True)
class Recovery:
    """A CRM answered after failing: what waits for it may go.
    `outage_started_at`: when its circuit opened (None: it never opened)."""

    outage_started_at: datetime | None


def circuit_record_success(
    *, crm_id: int, now: datetime, seen: CRMHealth | None = None
) -> Recovery | None:
    """The CRM answered: reset the count and close the circuit. Returns a
    Recovery if this answer ended an outage or a run of failures (leads are
    waiting for it on the retry ladder).

    `seen` is the row read before the attempt: when it showed a healthy
    circuit, there is nothing to write (the common case costs no query)."""
    if circuit_is_healthy(seen):
        return None
    not_closed = CRMHealth.objects.filter(crm_id=crm_id).exclude(state=CRMHealth.State.CLOSED)
    outage = not_closed.values("outage_started_at").first()
    if outage is None:
        # Closed, and counting failures when the attempt began (`seen`; the
        # batch's write may have reset the count since): a run of failures ended.
        CRMHealth.objects.filter(crm_id=crm_id, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
        return Recovery(outage_started_at=None)
    closed = not_closed.update(
        state=CRMHealth.State.CLOSED,
        consecutive_failures=0,
        opened_at=None,
        outage_started_at=None,
        changed_at=now,
    )
    if not closed:
        return None  # another worker's success closed it first
    _announce(crm_id, CRMHealth.State.CLOSED)
    return Recovery(outage_started_at=outage["outage_started_at"] or now)


def circuits_to_probe(now: datetime) -> list[int]:
    """CRMs that failed and were not tried for a cool-down: an open circuit
    whose probe is due, or a closed one that counted failures below the
    threshold. Their leads may all wait for a far step of the retry ladder
    (up to 2 h): the queue run then sends the earliest one as a probe."""
    quiet_since = now - timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
    return list(
        CRMHealth.objects.filter(
            Q(state=CRMHealth.State.OPEN, opened_at__lte=quiet_since)
            | Q(
                state=CRMHealth.State.CLOSED,
                consecutive_failures__gt=0,
                last_failure_at__lte=quiet_since,
            )
        ).values_list("crm_id", flat=True)
    )


def _announce(crm_id: int, state: str) -> None:
    crm = CRM.objects.get(pk=crm_id)
    label = CRMHealth.State(state).label
    logger.warning("crm circuit crm=%s state=%s", crm.slug, state)
    subject = format_lazy(_("CRM {name}: {state}"), name=crm.name, state=label)
    message = format_lazy(
        _("The delivery circuit of {name} ({slug}) is now {state} ({when}, Paris time)."),
        name=crm.name,
        slug=crm.slug,
        state=label,
        when=f"{timezone.localtime():%d/%m/%Y %H:%M:%S}",
    )
    # Once the change is committed: not while a batch's write holds its row
    # locks waiting on the mail server, and never for a change rolled back.
    transaction.on_commit(lambda: notify_admins(subject=subject, message=message))
