"""Billing reads: cross-CRM balances by database aggregation, budget levels."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Sum

from enersolar.models import CRM
from routing.models import Delivery, Order
from routing.selectors import cross_crm_condition

from .models import BudgetAlert, LeadReturn

ZERO = Decimal("0.00")


def billable_deliveries(start: datetime, end: datetime):
    """Cross-CRM leads (routing.selectors.cross_crm_condition, the one
    definition) delivered in [start, end), not returned: each makes the
    receiving CRM owe the origin CRM its price."""
    return Delivery.objects.filter(
        cross_crm_condition(),
        state=Delivery.State.SUCCESS,
        delivered_at__gte=start,
        delivered_at__lt=end,
    ).exclude(Exists(LeadReturn.objects.filter(lead_id=OuterRef("pk"))))


@dataclass
class CRMBalance:
    crm_id: int
    slug: str
    name: str
    receivable: Decimal = ZERO  # owed to this CRM (its traffic, bought by others)
    payable: Decimal = ZERO  # owed by this CRM (others' traffic it received)
    leads_sold: int = 0
    leads_bought: int = 0

    @property
    def net(self) -> Decimal:
        return self.receivable - self.payable


@dataclass
class CrossCRMSummary:
    start: datetime
    end: datetime
    crms: list[CRMBalance] = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)


def cross_crm_summary(start: datetime, end: datetime) -> CrossCRMSummary:
    """Two queries whatever the number of leads: one GROUP BY per CRM pair,
    one for the CRMs' names."""
    rows = list(
        billable_deliveries(start, end)
        .values("origin_crm", "crm")
        .annotate(leads=Count("pk"), amount=Sum("unit_price"))
        .order_by("origin_crm", "crm")
    )
    crms = {c.pk: CRMBalance(c.pk, c.slug, c.name) for c in CRM.objects.order_by("name")}
    pairs = []
    for row in rows:
        amount = (row["amount"] or ZERO).quantize(ZERO)
        creditor, debtor = crms[row["origin_crm"]], crms[row["crm"]]
        creditor.receivable += amount
        creditor.leads_sold += row["leads"]
        debtor.payable += amount
        debtor.leads_bought += row["leads"]
        pairs.append(
            {
                "creditor": creditor.slug,
                "debtor": debtor.slug,
                "leads": row["leads"],
                "amount": amount,
            }
        )
    return CrossCRMSummary(start=start, end=end, crms=list(crms.values()), pairs=pairs)


def budget_level(order: Order) -> str:
    """SPEC §6: > 50 % healthy, 50–20 % attention, 20–10 % warning,
    10–0 % critical, 0 (nothing left for one more lead) depleted."""
    total, balance = order.prepaid_total or ZERO, order.prepaid_balance or ZERO
    if total <= 0 or balance < order.unit_price or balance <= 0:
        return BudgetAlert.Level.DEPLETED
    share = balance / total * 100
    if share > 50:
        return BudgetAlert.Level.HEALTHY
    if share > 20:
        return BudgetAlert.Level.ATTENTION
    if share > 10:
        return BudgetAlert.Level.WARNING
    return BudgetAlert.Level.CRITICAL


def budget_level_label(level: str) -> str:
    """The level in words ("alerte", not "warning")."""
    return str(BudgetAlert.Level(level).label)


@dataclass(frozen=True)
class BudgetLow:
    """An order whose prepaid budget is below the healthy level, as it is now."""

    order: Order
    level: str
    since: datetime | None  # when the hourly check saw this level; None: not seen yet

    @property
    def label(self) -> str:
        return budget_level_label(self.level)


_LOW_SEVERITY = [
    BudgetAlert.Level.DEPLETED,
    BudgetAlert.Level.CRITICAL,
    BudgetAlert.Level.WARNING,
    BudgetAlert.Level.ATTENTION,
]


def budgets_low() -> list[BudgetLow]:
    """Prepaid orders below the healthy level, worst first, at their level of
    now: the stored BudgetAlert is the hourly announcement's memory, and lags
    behind a top-up or a day's consumption (a dashboard once said "épuisé" of
    an order at 50 € of 350 €)."""
    orders = Order.objects.filter(prepaid_total__gt=0).select_related(
        "crm", "product_type", "budget_alert"
    )
    low = []
    for order in orders:
        level = budget_level(order)
        if level in _LOW_SEVERITY:
            alert = getattr(order, "budget_alert", None)
            since = alert.changed_at if alert is not None and alert.level == level else None
            low.append(BudgetLow(order=order, level=level, since=since))
    return sorted(low, key=lambda row: (_LOW_SEVERITY.index(row.level), row.order.pk))


def prepaid_orders():
    """The orders with a prepaid budget (a balance), lowest balance share
    first is left to the caller: by id, stable for paging."""
    return (
        Order.objects.filter(prepaid_balance__isnull=False)
        .select_related("crm", "product_type")
        .order_by("pk")
    )


def budget_ledger(order: Order):
    """An order's prepaid ledger, newest first."""
    return order.budget_transactions.select_related("created_by").order_by("-created_at", "-pk")
