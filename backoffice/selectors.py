"""Reads of the dashboards: each widget's numbers come from one aggregate query.

"Today" and the days of the charts are days of the project's time zone
(settings.TIME_ZONE, Europe/Paris: the business runs on French time).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import BooleanField, Case, Count, Q, Value, When
from django.utils import timezone

from billing.selectors import BudgetLow, budgets_low
from enersolar.models import CRM, ProductType
from leads.models import Lead
from routing.models import VerificationReport
from routing.selectors import cross_crm_condition
from tracking.models import TrackingEvent
from tracking.selectors import lead_is_direct, start_left_a_lead

from .models import FormStartDayCount, LeadDayCount

NOT_ROUTED = ""  # the CRM "column" of leads that have no delivery


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


# --- Leads per day, status and target CRM ---------------------------------------


@dataclass
class LeadDays:
    """Lead counts of consecutive Paris days, by status and target CRM, and
    how many of each day's leads are cross-CRM."""

    days: list[date]
    # (day, status, target CRM name or NOT_ROUTED) -> leads
    counts: dict[tuple[date, str, str], int] = field(default_factory=dict)
    # day -> leads routed to a CRM other than their origin CRM
    # (routing.selectors.cross_crm_condition, as the lead list, API and billing)
    cross_crm: dict[date, int] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.days[-1]

    @property
    def crms(self) -> list[str]:
        """Target CRMs that received leads in the period, "not routed" last."""
        names = {crm for _, _, crm in self.counts}
        return sorted(names - {NOT_ROUTED}) + ([NOT_ROUTED] if NOT_ROUTED in names else [])

    def of_day(self, day: date) -> dict[tuple[str, str], int]:
        return {(s, c): n for (d, s, c), n in self.counts.items() if d == day}

    def total(self, day: date | None = None) -> int:
        return sum(n for (d, _, _), n in self.counts.items() if day is None or d == day)

    def cross_crm_total(self, day: date | None = None) -> int:
        return sum(n for d, n in self.cross_crm.items() if day is None or d == day)


def lead_days(*, now: datetime, days: int = 7) -> LeadDays:
    """The last `days` Paris days up to today: the stored counts
    (LeadDayCount, refreshed by a periodic job) and, counted live, the leads
    created since they were stored. Without stored counts covering the
    period, everything is counted live (lead_days_live)."""
    result = _lead_days_empty(now=now, days=days)
    stored = list(LeadDayCount.objects.filter(day__gte=result.days[0], day__lte=result.today))
    counted_until = max((row.counted_until for row in stored), default=None)
    live_from = day_start(result.days[0])
    if counted_until is not None and counted_until > live_from:
        live_from = counted_until
        for row in stored:
            _lead_days_add(result, row.day, row.status, row.crm, row.cross_crm, row.leads)
    _lead_days_count(result, since=live_from)
    return result


def lead_days_live(*, now: datetime, days: int = 7, until: datetime | None = None) -> LeadDays:
    """The same counts, from the leads table only (leads created before
    `until`, when given). One query over the week: a second at a million
    leads a day, hence the stored counts."""
    result = _lead_days_empty(now=now, days=days)
    _lead_days_count(result, since=day_start(result.days[0]), until=until)
    return result


def _lead_days_empty(*, now: datetime, days: int) -> LeadDays:
    today = timezone.localdate(now)
    return LeadDays(days=[today - timedelta(days=days - 1 - i) for i in range(days)])


def _lead_days_add(
    result: LeadDays, day: date, status: str, crm: str, cross_crm: bool, leads: int
) -> None:
    key = (day, status, crm)
    result.counts[key] = result.counts.get(key, 0) + leads
    if cross_crm:
        result.cross_crm[day] = result.cross_crm.get(day, 0) + leads


def _lead_days_count(result: LeadDays, *, since: datetime, until: datetime | None = None) -> None:
    for row in lead_day_rows(days=result.days, since=since, until=until):
        _lead_days_add(result, *row)


def lead_day_rows(*, days: list[date], since: datetime, until: datetime | None = None):
    """(day, status, CRM, cross-CRM or not, leads) of the leads created in
    [since, until or the end of the last day) within `days`, in one query:
    grouped by status, CRM and the cross-CRM fact (the one definition,
    routing.selectors.cross_crm_condition), one conditional count per day.
    Grouping by the day itself made PostgreSQL sort every row of the week
    (it cannot tell that a date cast has few values); a handful of FILTER
    clauses per row is cheaper."""
    bounds = [day_start(day) for day in days]
    bounds.append(day_start(days[-1] + timedelta(days=1)))
    end = min(until, bounds[-1]) if until is not None else bounds[-1]
    counts = {}
    for i in range(len(days)):
        in_day = Q(created_at__gte=bounds[i], created_at__lt=bounds[i + 1])
        counts[f"leads_{i}"] = Count("pk", filter=in_day)
    # Never NULL (a lead without delivery is not cross-CRM), hence the CASE.
    is_cross_crm = Case(
        When(cross_crm_condition("delivery__"), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )
    rows = (
        Lead.objects.filter(created_at__gte=max(since, bounds[0]), created_at__lt=end)
        .annotate(is_cross_crm=is_cross_crm)
        .values("status", "delivery__crm__name", "is_cross_crm")
        .annotate(**counts)
        .order_by()
    )
    for row in rows:
        crm = row["delivery__crm__name"] or NOT_ROUTED
        cross = bool(row["is_cross_crm"])
        for i, day in enumerate(days):
            if row[f"leads_{i}"]:
                yield day, row["status"], crm, cross, row[f"leads_{i}"]


# --- Conversion -------------------------------------------------------------------


@dataclass(frozen=True)
class FormStarts:
    """The conversion's numbers as the form cards count them
    (tracking.selectors): sessions that started a form, those of them that
    finished it (by the day of the start), and the direct leads (by the day
    of the lead), today and over the period."""

    today: int
    period: int
    finished_today: int = 0
    finished_period: int = 0
    direct_today: int = 0
    direct_period: int = 0


def _form_starts_sum(by_day: dict[date, tuple[int, int, int]], today: date) -> FormStarts:
    """by_day: day -> (starts, finished, direct)."""
    of_today = by_day.get(today, (0, 0, 0))
    return FormStarts(
        today=of_today[0],
        period=sum(n[0] for n in by_day.values()),
        finished_today=of_today[1],
        finished_period=sum(n[1] for n in by_day.values()),
        direct_today=of_today[2],
        direct_period=sum(n[2] for n in by_day.values()),
    )


def form_starts(*, now: datetime, days: int = 7) -> FormStarts:
    """The stored counts (FormStartDayCount) and, counted live, those since
    they were stored; everything live without them."""
    today = timezone.localdate(now)
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    stored = list(FormStartDayCount.objects.filter(day__gte=window[0], day__lte=today))
    counted_until = max((row.counted_until for row in stored), default=None)
    live_from = day_start(window[0])
    by_day: dict[date, tuple[int, int, int]] = {}
    if counted_until is not None and counted_until > live_from:
        live_from = counted_until
        by_day = {row.day: (row.starts, row.finished, row.direct) for row in stored}
    for day, counts in conversion_day_counts(days=window, since=live_from).items():
        before = by_day.get(day, (0, 0, 0))
        by_day[day] = tuple(a + b for a, b in zip(before, counts, strict=True))
    return _form_starts_sum(by_day, today)


def form_starts_live(*, now: datetime, days: int = 7) -> FormStarts:
    """The same numbers from the events and leads tables only."""
    today = timezone.localdate(now)
    window = [today - timedelta(days=days - 1 - i) for i in range(days)]
    return _form_starts_sum(conversion_day_counts(days=window, since=day_start(window[0])), today)


def conversion_day_counts(
    *, days: list[date], since: datetime, until: datetime | None = None
) -> dict[date, tuple[int, int, int]]:
    """(form starts, finished starts, direct leads) of each of `days`, for
    the rows created in [since, until or the end of the last day): three
    queries (one conditional count per day, as lead_day_rows). Finished and
    direct are WHERE conditions, not per-day FILTERs: PostgreSQL then joins
    the starts and the leads as sets (a semi and an anti join), where a
    FILTER would probe the other table once per row (ten times slower)."""
    bounds = [day_start(day) for day in days]
    bounds.append(day_start(days[-1] + timedelta(days=1)))
    end = min(until, bounds[-1]) if until is not None else bounds[-1]
    in_window = Q(created_at__gte=max(since, bounds[0]), created_at__lt=end)
    per_day = {
        f"n_{i}": Count("pk", filter=Q(created_at__gte=bounds[i], created_at__lt=bounds[i + 1]))
        for i in range(len(days))
    }
    starts = TrackingEvent.objects.filter(in_window, event_type="form_start")
    started = starts.aggregate(**per_day)
    finished = starts.filter(start_left_a_lead()).aggregate(**per_day)
    direct = Lead.objects.filter(in_window).filter(lead_is_direct()).aggregate(**per_day)
    counts = {}
    for i, day in enumerate(days):
        key = f"n_{i}"
        if started[key] or direct[key]:
            counts[day] = (started[key], finished[key], direct[key])
    return counts


# --- CRM circuits, verification, budgets -----------------------------------------------


def crm_circuits() -> list[CRM]:
    """Active CRMs with their circuit breaker (no health row: never failed, so closed)."""
    return list(CRM.objects.filter(is_active=True).select_related("health").order_by("name"))


def verification_last() -> VerificationReport | None:
    return VerificationReport.objects.order_by("-started_at").first()


def budget_alerts_open() -> list[BudgetLow]:
    """Orders whose prepaid budget is below the healthy level, worst first."""
    return budgets_low()


# --- Departments dashboard ---------------------------------------------------------


@dataclass
class DepartmentCounts:
    """Leads per department × product × lead source (intake channel)."""

    # (department code, product code, source) -> leads
    counts: dict[tuple[str, str, str], int]

    def by_department(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (department, _, _), n in self.counts.items():
            totals[department] += n
        return dict(totals)

    def by_department_product(self) -> dict[tuple[str, str], int]:
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for (department, product, _), n in self.counts.items():
            totals[department, product] += n
        return dict(totals)

    def by_product(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (_, product, _), n in self.counts.items():
            totals[product] += n
        return dict(totals)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


LEAD_SCOPES = {
    # Leads that passed intake: what departments can actually sell.
    "valid": ~Q(status__in=Lead.REJECTED_STATUSES),
    "delivered": Q(status__in=[Lead.Status.SUCCESS, Lead.Status.RETURNED]),
    "all": Q(),
}


def department_counts(
    *,
    start: datetime,
    end: datetime,
    scope: str = "valid",
    crm: CRM | None = None,
    crm_role: str = "target",
    source: str = "",
) -> DepartmentCounts:
    """Leads created in [start, end), in one grouped query. As everywhere in
    the back office, the origin CRM is the lead's account's CRM (so rejected
    and held leads have one); the target CRM is the routing decision's."""
    leads = Lead.objects.filter(LEAD_SCOPES[scope], created_at__gte=start, created_at__lt=end)
    if crm is not None:
        field_name = "account__origin_crm" if crm_role == "origin" else "delivery__crm"
        leads = leads.filter(**{field_name: crm})
    if source:
        leads = leads.filter(source=source)
    rows = (
        leads.values_list("departement", "product_type__code", "source")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return DepartmentCounts(
        counts={(dept or "", product or "", src): n for dept, product, src, n in rows}
    )


def product_codes() -> list[str]:
    return list(ProductType.objects.order_by("code").values_list("code", flat=True))
