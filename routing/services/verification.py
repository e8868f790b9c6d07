"""The nightly verification (SPEC §7): set-based, whatever the day's volume."""

from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from enersolar.models import ActivityLog
from enersolar.notifications import notify_admins
from enersolar.services import journal_record
from leads.models import Lead
from leads.selectors import lead_freshness_cutoff
from leads.services import leads_status_set

from ..models import Delivery, DeliveryAttempt, VerificationReport
from ..signals import queue_run_wanted
from .queue import stale_leads_expire

WINDOW = timedelta(hours=24)
RUN_AT_UTC = time(3, 0)  # see enersolar/beat.py


def verification_next_run(now: datetime) -> datetime:
    utc_now = now.astimezone(UTC)
    today = datetime.combine(utc_now.date(), RUN_AT_UTC, tzinfo=UTC)
    return today if today > utc_now else today + timedelta(days=1)


def verification_run(
    *, triggered_by: str = "beat", user=None, now: datetime | None = None
) -> VerificationReport:
    now = now or timezone.now()
    start = now - WINDOW
    report = VerificationReport(window_start=start, window_end=now, triggered_by=triggered_by)
    leads = Lead.objects.filter(created_at__gte=start, created_at__lt=now)
    deliveries = Delivery.objects.filter(lead__created_at__gte=start, lead__created_at__lt=now)

    counts: dict[str, dict[str, int]] = {}
    for row in leads.values("status", "delivery__crm__slug").annotate(n=Count("pk")).order_by():
        counts.setdefault(row["status"], {})[row["delivery__crm__slug"] or "-"] = row["n"]
    report.counts = counts
    report.total_leads = sum(n for by_crm in counts.values() for n in by_crm.values())
    report.permanent_errors = leads.filter(
        status__in=[Lead.Status.AUTH_ERROR, Lead.Status.VALIDATION_ERROR]
    ).count()
    report.recovered = leads.filter(status=Lead.Status.SUCCESS, delivery__attempts__gt=1).count()
    # Leads whose hand-off was lost; counted before the held leads below turn
    # `pending` too (those are reported as re-routed).
    report.redispatched = leads.filter(status=Lead.Status.PENDING, delivery__isnull=True).count()

    # Whatever the queue runs left (beat stopped for a while): every waiting
    # lead older than the freshness limit is expired before anything is
    # re-attempted or re-routed below.
    while stale_leads_expire(now=now):
        pass
    # The leads that reached the freshness limit during the window, undelivered.
    report.expired = Lead.objects.filter(
        status=Lead.Status.EXPIRED,
        created_at__gte=lead_freshness_cutoff(start),
        created_at__lt=lead_freshness_cutoff(now),
    ).count()

    with transaction.atomic():
        # Re-attempt what failed for want of an answer; answers that will not
        # change (duplicate, auth, validation) are reported, not retried.
        report.retried = deliveries.filter(
            Q(state=Delivery.State.EXHAUSTED)
            | Q(state=Delivery.State.FAILED, lead__status=Lead.Status.FAILED)
        ).update(state=Delivery.State.PENDING, attempts=0, next_attempt_at=now, claimed_at=None)
        leads_status_set(
            leads.filter(status=Lead.Status.FAILED, delivery__state=Delivery.State.PENDING),
            Lead.Status.QUEUED,
        )
        # Held leads get routed again (the queue run's sweep picks them up).
        report.rerouted = leads_status_set(
            leads.filter(status=Lead.Status.PENDING_NO_ORDER), Lead.Status.PENDING
        )
    report.still_failing = leads.filter(status__in=[Lead.Status.QUEUED, Lead.Status.FAILED]).count()
    report.anomalies = _anomalies(leads)
    report.finished_at = timezone.now()
    report.save()

    journal_record(
        user=user,
        action=ActivityLog.Action.VERIFICATION,
        obj=report,
        details={"triggered_by": triggered_by},
    )
    notify_admins(
        subject=format_lazy(_("Verification {date}"), date=f"{now:%Y-%m-%d}"),
        message=lazy(verification_summary, str)(report),
    )
    transaction.on_commit(lambda: queue_run_wanted.send(sender=VerificationReport))
    return report


def _anomalies(leads) -> dict[str, int]:
    """Where what we believe was delivered and the attempt log disagree."""
    success_attempt = DeliveryAttempt.objects.filter(
        delivery_id=OuterRef("pk"), outcome=DeliveryAttempt.Outcome.SUCCESS
    )
    delivered = (Lead.Status.SUCCESS, Lead.Status.RETURNED)
    return {
        "success_without_attempt": leads.filter(status__in=delivered)
        .exclude(Exists(success_attempt))
        .count(),
        "attempt_success_but_lead_not_delivered": leads.filter(Exists(success_attempt))
        .exclude(status__in=delivered)
        .count(),
        "delivery_state_mismatch": leads.filter(delivery__state=Delivery.State.SUCCESS)
        .exclude(status__in=delivered)
        .count(),
    }


def verification_summary(report: VerificationReport) -> str:
    """The report in a few lines, in the active language (the e-mail's body)."""
    window = " – ".join(
        f"{timezone.localtime(moment):%d/%m/%Y %H:%M}"
        for moment in (report.window_start, report.window_end)
    )
    figures = [
        (_("Window (Paris time)"), window),
        (_("Leads"), report.total_leads),
        (_("Re-attempted"), report.retried),
        (_("Re-routed"), report.rerouted),
        (_("Re-dispatched"), report.redispatched),
        (_("Recovered"), report.recovered),
        (_("Still failing"), report.still_failing),
        (_("Permanent errors"), report.permanent_errors),
        (_("Expired (not delivered in time)"), report.expired),
        (_("Anomalies"), ", ".join(f"{k} : {v}" for k, v in report.anomalies_described())),
    ]
    lines = [f"{label}: {value}" for label, value in figures]
    lines += ["", f"{gettext('By status and CRM')}:"]
    statuses = dict(Lead.Status.choices)
    for status, by_crm in sorted(report.counts.items()):
        label = statuses.get(status, status)
        lines.append(f"  {label} : " + ", ".join(f"{c}={n}" for c, n in sorted(by_crm.items())))
    return "\n".join(lines)
