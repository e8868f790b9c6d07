"""Billing writes: prepaid ledger, returns, monthly statements."""

import logging
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from enersolar.api_codes import api_message
from enersolar.models import ActivityLog
from enersolar.notifications import notify_admins
from enersolar.services import code_sequence_next, journal_record
from leads.models import Lead
from leads.services import leads_status_set
from routing.models import Delivery, Order
from routing.services.queue import held_leads_release

from .models import BudgetAlert, BudgetTransaction, LeadReturn, Statement, StatementLine
from .selectors import billable_deliveries, budget_level

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")


class BillingError(Exception):
    """A billing action the rules forbid: its API code (enersolar.api_codes)
    and the French message saying why."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params
        super().__init__(api_message(code, **params))


# --- Prepaid budgets ---------------------------------------------------------------


def _ledger_write(
    *, order_id: int, kind: str, amount: Decimal, lead=None, user=None, note: str = ""
) -> BudgetTransaction:
    """One ledger row and the order's running sums, in one transaction."""
    with transaction.atomic():
        entry = BudgetTransaction.objects.create(
            order_id=order_id, kind=kind, amount=amount, lead=lead, created_by=user, note=note
        )
        sums = {"prepaid_balance": Coalesce(F("prepaid_balance"), Value(ZERO)) + amount}
        if kind == BudgetTransaction.Kind.TOPUP:
            sums["prepaid_total"] = Coalesce(F("prepaid_total"), Value(ZERO)) + amount
        Order.objects.filter(pk=order_id).update(**sums)
    return entry


def budget_topup(*, order: Order, amount: Decimal, user=None, note: str = "") -> BudgetTransaction:
    if amount <= 0:
        raise BillingError("topup_not_positive")
    entry = _ledger_write(
        order_id=order.pk, kind=BudgetTransaction.Kind.TOPUP, amount=amount, user=user, note=note
    )
    journal_record(
        user=user,
        action=ActivityLog.Action.OTHER,
        obj=order,
        details={"action": "budget_topup", "amount": str(amount)},
    )
    # Money on the order again: leads held for want of an eligible order may go.
    held_leads_release(product_type_id=order.product_type_id)
    return entry


def on_leads_delivered(sender, deliveries: list[Delivery], **kwargs) -> None:
    budgets_consume(deliveries=deliveries)


def budgets_consume(*, deliveries: list[Delivery]) -> list[BudgetTransaction]:
    """Charge the prepaid orders of delivered leads, one ledger row each.

    Runs inside the transaction that records the successes (routing's
    leads_delivered signal), so both commit or neither; the unique constraint
    makes a second charge of a lead impossible. One query tells which orders
    are prepaid, whatever the number of leads."""
    # Orders locked in pk order, whoever the caller: two batches charging
    # the same orders never wait on each other in a cycle (deadlock).
    priced = sorted(
        (d for d in deliveries if d.order_id is not None and d.unit_price),
        key=lambda d: (d.order_id, d.pk),
    )
    if not priced:
        return []
    prepaid = set(
        Order.objects.filter(pk__in={d.order_id for d in priced}, prepaid_balance__isnull=False)
        .order_by()  # not the admin's ordering: it joins the CRM and product tables
        .values_list("pk", flat=True)
    )
    charged = []
    for delivery in priced:
        if delivery.order_id not in prepaid:
            continue
        try:
            with transaction.atomic():
                charged.append(
                    _ledger_write(
                        order_id=delivery.order_id,
                        kind=BudgetTransaction.Kind.CONSUMPTION,
                        amount=-delivery.unit_price,
                        lead=delivery.lead,
                    )
                )
        except IntegrityError:
            continue  # this lead was already charged
    return charged


def budget_alerts_check() -> list[tuple[Order, str]]:
    """Announce each order's crossing into warning, critical or depleted once.
    Hourly (beat); a top-up that brings the level back resets the state."""
    announced = []
    orders = Order.objects.filter(prepaid_total__gt=0).select_related("crm", "budget_alert")
    for order in orders:
        level = budget_level(order)
        alert = getattr(order, "budget_alert", None) or BudgetAlert(order=order)
        if level == alert.level:
            continue
        worse = _SEVERITY[level] > _SEVERITY[alert.level]
        alert.level, alert.changed_at = level, timezone.now()
        alert.save()
        if worse and level in _ANNOUNCED:
            label = BudgetAlert.Level(level).label
            notify_admins(
                subject=format_lazy(_("Budget {level}: {order}"), level=label, order=order),
                message=format_lazy(
                    _(
                        "The prepaid budget of order {order} ({crm}) is {level}: "
                        "{balance} € left of {total} € topped up."
                    ),
                    order=order,
                    crm=order.crm,
                    level=label,
                    balance=order.prepaid_balance,
                    total=order.prepaid_total,
                ),
            )
            announced.append((order, level))
    return announced


_SEVERITY = {level: i for i, level in enumerate(BudgetAlert.Level.values)}
_ANNOUNCED = {BudgetAlert.Level.WARNING, BudgetAlert.Level.CRITICAL, BudgetAlert.Level.DEPLETED}


# --- Returns -------------------------------------------------------------------------


@transaction.atomic
def lead_return(*, lead: Lead, reason: str, user=None) -> LeadReturn:
    """A buyer returns a delivered lead within RETURN_WINDOW_DAYS. It leaves
    billing; if a statement already charged it, the next one credits it; a
    prepaid order gets its price back."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("return_reason_missing")
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    delivery = Delivery.objects.filter(pk=lead.pk).first()
    if lead.status != Lead.Status.SUCCESS or delivery is None or not delivery.delivered_at:
        raise BillingError("return_not_delivered", status=lead.status)
    window = timedelta(days=settings.RETURN_WINDOW_DAYS)
    if timezone.now() - delivery.delivered_at > window:
        raise BillingError("return_window_over", days=settings.RETURN_WINDOW_DAYS)
    record = LeadReturn.objects.create(lead=lead, reason=reason, returned_by=user)
    leads_status_set([lead.pk], Lead.Status.RETURNED)
    consumed = BudgetTransaction.objects.filter(
        lead=lead, kind=BudgetTransaction.Kind.CONSUMPTION
    ).first()
    if consumed is not None:
        _ledger_write(
            order_id=consumed.order_id,
            kind=BudgetTransaction.Kind.REFUND,
            amount=-consumed.amount,
            lead=lead,
            user=user,
            note="returned lead",
        )
        # Money back on the order, as after a top-up: held leads may go.
        held_leads_release(product_type_id=lead.product_type_id)
    journal_record(
        user=user,
        action=ActivityLog.Action.OTHER,
        obj=lead,
        details={"action": "lead_return", "reason": reason[:200]},
    )
    return record


# --- Statements ----------------------------------------------------------------------


def month_bounds(period: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of next month) of a month, Paris time."""
    tz = timezone.get_default_timezone()
    start = datetime.combine(period.replace(day=1), time.min, tzinfo=tz)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def statements_issue(*, period: date, user=None) -> list[Statement]:
    """Issue the statements of one month, one per (creditor, debtor) pair.

    Frozen: each line copies the lead's price of that day; a pair's month is
    issued once (a second run creates nothing). Returns that were charged on
    an earlier statement become credit lines on this month's statement of
    the same pair."""
    period = period.replace(day=1)
    start, end = month_bounds(period)
    if end > timezone.now():
        raise BillingError("month_not_over")
    charges = (
        billable_deliveries(start, end)
        .exclude(lead__statement_lines__kind=StatementLine.Kind.CHARGE)
        .select_related("lead__product_type")
        .order_by("delivered_at")
    )
    credits = LeadReturn.objects.filter(
        credited_on__isnull=True,
        lead__statement_lines__kind=StatementLine.Kind.CHARGE,
        returned_at__lt=end,
    ).select_related("lead__delivery", "lead__product_type")

    by_pair: dict[tuple[int, int], dict[str, list]] = {}
    for delivery in charges:
        by_pair.setdefault(
            (delivery.origin_crm_id, delivery.crm_id), {"charges": [], "credits": []}
        )["charges"].append(delivery)
    for record in credits:
        delivery = record.lead.delivery
        by_pair.setdefault(
            (delivery.origin_crm_id, delivery.crm_id), {"charges": [], "credits": []}
        )["credits"].append(record)

    issued = []
    for (creditor_id, debtor_id), items in sorted(by_pair.items()):
        if Statement.objects.filter(
            period=period, creditor_id=creditor_id, debtor_id=debtor_id
        ).exists():
            continue
        try:
            issued.append(_statement_create(period, creditor_id, debtor_id, items, user))
        except IntegrityError:
            continue  # a concurrent run (beat and the admin button) issued this pair first
    return issued


@transaction.atomic
def _statement_create(period, creditor_id, debtor_id, items, user) -> Statement:
    number = f"RC-{period:%Y%m}-{code_sequence_next(name=f'STATEMENT-{period:%Y}'):04d}"
    statement = Statement.objects.create(
        number=number, period=period, creditor_id=creditor_id, debtor_id=debtor_id
    )
    lines = [
        StatementLine(
            statement=statement,
            kind=StatementLine.Kind.CHARGE,
            lead=d.lead,
            delivered_at=d.delivered_at,
            product=d.lead.product_type.code if d.lead.product_type else "",
            departement=d.lead.departement,
            amount=d.unit_price or ZERO,
        )
        for d in items["charges"]
    ] + [
        StatementLine(
            statement=statement,
            kind=StatementLine.Kind.CREDIT,
            lead=r.lead,
            delivered_at=r.lead.delivery.delivered_at,
            product=r.lead.product_type.code if r.lead.product_type else "",
            departement=r.lead.departement,
            amount=-(r.lead.delivery.unit_price or ZERO),
        )
        for r in items["credits"]
    ]
    StatementLine.objects.bulk_create(lines)
    LeadReturn.objects.filter(pk__in=[r.pk for r in items["credits"]]).update(credited_on=statement)
    statement.lead_count = len(items["charges"])
    statement.credit_count = len(items["credits"])
    statement.total = sum((line.amount for line in lines), ZERO)
    statement.save(update_fields=["lead_count", "credit_count", "total"])
    journal_record(
        user=user,
        action=ActivityLog.Action.OTHER,
        obj=statement,
        details={"action": "statement_issue", "total": str(statement.total)},
    )
    return statement
