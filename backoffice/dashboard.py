"""The admin index's widgets: selectors' numbers shaped for the templates.

Each widget is built only for users allowed to see its data, so a Viewer's
dashboard runs no query for the billing widget it would not show."""

from __future__ import annotations

from datetime import datetime

from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from enersolar.jobs import jobs_status
from enersolar.workers import workers_status
from leads.models import Lead
from routing.models import Delivery
from routing.selectors import queue_stats
from tracking.selectors import conversion_rate

from . import selectors
from .charts import GREY, PALETTE, Series, stacked_columns

S = Lead.Status
# The chart's colour groups (16 statuses are too many colours to read).
STATUS_GROUPS: list[tuple[Series, set[str]]] = [
    (Series("delivered", _("delivered"), "#2e7d32"), {S.SUCCESS}),
    (Series("returned", _("returned"), "#8d6e63"), {S.RETURNED}),
    (Series("duplicate", _("duplicate at the CRM"), "#f9a825"), {S.DUPLICATE}),
    (Series("in_progress", _("in progress"), "#1e88e5"), {S.PENDING, S.QUEUED, S.PENDING_NO_ORDER}),
    (
        Series("not_delivered", _("not delivered"), "#c62828"),
        {S.AUTH_ERROR, S.VALIDATION_ERROR, S.FAILED, S.NO_CRM, S.NO_API_KEY, S.EXPIRED},
    ),
    (Series("rejected", _("rejected at intake"), GREY), set(Lead.REJECTED_STATUSES)),
]
GROUP_OF_STATUS = {status: series.key for series, statuses in STATUS_GROUPS for status in statuses}


def _crm_label(name: str) -> str:
    return name or str(_("not routed"))


def leads_widget(*, now: datetime) -> dict:
    week = selectors.lead_days(now=now)
    today = week.of_day(week.today)

    crms = sorted({crm for _, crm in today} - {selectors.NOT_ROUTED})
    if any(crm == selectors.NOT_ROUTED for _, crm in today):
        crms.append(selectors.NOT_ROUTED)
    status_rows = []
    for status in S:
        counts = [today.get((status.value, crm), 0) for crm in crms]
        if any(counts):
            status_rows.append({"status": status, "counts": counts, "total": sum(counts)})
    crm_totals = [sum(n for (_, c), n in today.items() if c == crm) for crm in crms]

    by_group, by_crm = [], []
    for day in week.days:
        groups: dict[str, int] = {}
        per_crm: dict[str, int] = {}
        for (status, crm), n in week.of_day(day).items():
            group = GROUP_OF_STATUS[status]
            groups[group] = groups.get(group, 0) + n
            per_crm[crm] = per_crm.get(crm, 0) + n
        label = date_format(day, "d/m")
        by_group.append((label, groups))
        by_crm.append((label, per_crm))
    crm_series = [
        Series(crm, _crm_label(crm), GREY if crm == selectors.NOT_ROUTED else PALETTE[i % 7])
        for i, crm in enumerate(week.crms)
    ]
    status_series = [series for series, _ in STATUS_GROUPS]

    starts = selectors.form_starts(now=now, days=len(week.days))
    # As on the form cards: finished starts ÷ starts (≤ 100 %), direct leads apart.
    conversion = [
        {
            "label": _("today"),
            "started": starts.today,
            "finished": starts.finished_today,
            "rate": conversion_rate(started=starts.today, finished=starts.finished_today),
            "direct": starts.direct_today,
        },
        {
            "label": _("last 7 days"),
            "started": starts.period,
            "finished": starts.finished_period,
            "rate": conversion_rate(started=starts.period, finished=starts.finished_period),
            "direct": starts.direct_period,
        },
    ]
    return {
        "today_total": week.total(week.today),
        "week_total": week.total(),
        # Counted as the lead list, the API and billing count them
        # (routing.selectors.cross_crm_condition).
        "today_cross_crm": week.cross_crm_total(week.today),
        "week_cross_crm": week.cross_crm_total(),
        "crms": [_crm_label(crm) for crm in crms],
        "status_rows": status_rows,
        "crm_totals": crm_totals,
        "status_series": status_series,
        "status_chart": stacked_columns(by_group, status_series),
        "crm_series": crm_series,
        "crm_chart": stacked_columns(by_crm, crm_series),
        "conversion": conversion,
    }


def queue_widget(*, now: datetime) -> dict:
    stats = queue_stats()
    oldest = stats.oldest_pending_routed_at
    return {
        "counts": [
            {"state": state, "label": label, "n": stats.counts[state]}
            for state, label in Delivery.State.choices
        ],
        "total": stats.counts["total"],
        "oldest_routed_at": oldest,
        "oldest_age": now - oldest if oldest else None,
        "circuits": selectors.crm_circuits(),
    }


def dashboard_build(*, user, now: datetime) -> dict:
    """The widgets `user` may see; empty when none (the page is then the stock index)."""
    widgets: dict = {}
    if user.has_perm("routing.view_delivery"):
        widgets["queue"] = queue_widget(now=now)
    if user.has_perm("leads.view_lead"):
        widgets["leads"] = leads_widget(now=now)
    if user.has_perm("routing.view_verificationreport"):
        widgets["verification"] = selectors.verification_last() or False
    if user.has_perm("billing.view_budgetalert"):
        widgets["budget_alerts"] = selectors.budget_alerts_open()
    if user.has_perm("enersolar.view_periodicjob"):
        # Last run / next due of every beat job (red when overdue), and each
        # worker's heartbeat: one query each.
        widgets["jobs"] = jobs_status(now=now)
        widgets["workers"] = workers_status(now=now)
    return {"generated_at": now, **widgets} if widgets else {}
