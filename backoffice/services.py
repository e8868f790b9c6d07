"""Writes of the back office: the dashboard's stored lead counts, form
starts and delivery totals."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from routing.services.queue import queue_totals_refresh

from . import selectors
from .models import FormStartDayCount, LeadDayCount

# Leads are stamped (created_at) before their transaction commits: counting
# only up to a few seconds ago leaves the intake's transactions in flight
# time to commit, so none is missed by the stored counts and the live tail
# (which starts where these end) alike.
COMMIT_MARGIN = timedelta(seconds=30)


def lead_day_counts_refresh(*, now: datetime | None = None, days: int = 7) -> int:
    """Rewrite the stored lead counts and form starts of the last `days`
    Paris days, from the leads and events tables, and the delivery queue's
    totals (routing.selectors.queue_stats), up to `now` minus the commit
    margin. Returns the lead count rows stored.

    Status changes of leads created before the cut-off (delivered, returned…)
    reach the dashboard at the next refresh; new leads reach it at once (the
    dashboard counts them live)."""
    now = now or timezone.now()
    counted_until = now - COMMIT_MARGIN
    today = timezone.localdate(now)
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    counts: dict[tuple, int] = {}
    # A CRM's name can appear twice (two CRM rows, same name): one row per key.
    since = selectors.day_start(window[0])
    for day, status, crm, cross_crm, leads in selectors.lead_day_rows(
        days=window, since=since, until=counted_until
    ):
        key = (day, status, crm, cross_crm)
        counts[key] = counts.get(key, 0) + leads
    rows = [
        LeadDayCount(
            day=day,
            status=status,
            crm=crm,
            cross_crm=cross_crm,
            leads=leads,
            counted_until=counted_until,
        )
        for (day, status, crm, cross_crm), leads in counts.items()
    ]
    starts = [
        FormStartDayCount(
            day=day,
            starts=starts,
            finished=finished,
            direct=direct,
            counted_until=counted_until,
        )
        for day, (starts, finished, direct) in selectors.conversion_day_counts(
            days=window, since=since, until=counted_until
        ).items()
    ]
    with transaction.atomic():
        LeadDayCount.objects.all().delete()
        LeadDayCount.objects.bulk_create(rows)
        FormStartDayCount.objects.all().delete()
        FormStartDayCount.objects.bulk_create(starts)
    queue_totals_refresh(counted_until=counted_until)
    return len(rows)
