"""The routing decision (SPEC §4): target CRM, API key, order and price."""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from enersolar.models import CRM, AccountRouting
from leads.models import Lead

from ..models import DefaultPrice, Delivery, Order

# A delivery keeps its place under an order's cap unless it ended in failure.
CAP_COUNTED_STATES = (Delivery.State.PENDING, Delivery.State.PROCESSING, Delivery.State.SUCCESS)


@dataclass(frozen=True)
class Candidate:
    crm: CRM
    api_key: str
    source: str


def _candidate(lead: Lead) -> Candidate | None:
    """Form override when complete (CRM + key, CRM active), else the account's
    routing entry for the product."""
    form = lead.form
    if (
        form is not None
        and form.crm_override_id
        and form.crm_override.is_active
        and form.crm_override_api_key
    ):
        return Candidate(
            form.crm_override, form.crm_override_api_key, Delivery.Source.FORM_OVERRIDE
        )
    routing = (
        AccountRouting.objects.select_related("crm")
        .filter(
            account_id=lead.account_id, product_type_id=lead.product_type_id, crm__is_active=True
        )
        .first()
    )
    if routing is None:
        return None
    return Candidate(routing.crm, routing.api_key, Delivery.Source.ACCOUNT_ROUTING)


def _period_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """Start of today, this week (Monday) and this month, in Paris time."""
    local = timezone.localtime(now)
    day = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    week = day - timedelta(days=local.weekday())
    month = day.replace(day=1)
    return day, week, month


def _eligible_orders(
    lead: Lead, today: date, *, crm: CRM | None = None, exclude_crm: CRM | None = None
):
    orders = Order.objects.filter(
        product_type_id=lead.product_type_id,
        is_active=True,
        crm__is_active=True,
    ).filter(
        Q(starts_on__isnull=True) | Q(starts_on__lte=today),
        Q(ends_on__isnull=True) | Q(ends_on__gte=today),
        Q(departments__isnull=True) | Q(departments=lead.departement),
    )
    if crm is not None:
        orders = orders.filter(crm=crm)
    if exclude_crm is not None:
        orders = orders.exclude(crm=exclude_crm)
    return orders.distinct()


def _pick_order(orders, now: datetime) -> Order | None:
    """Lock the candidate orders, then take the first under its caps: highest
    priority first, then the least filled today, under its caps and with
    prepaid budget left.

    The row locks (taken in id order, so two deciders cannot deadlock) make
    concurrent decisions for one order wait for each other, so the counts
    they read include every delivery committed before: caps hold exactly.
    """
    ids = list(orders.values_list("id", flat=True))
    if not ids:
        return None
    locked = list(Order.objects.select_for_update().filter(id__in=ids).order_by("id"))
    usage = _usage(locked, now)
    reserved = _reserved_budget([o.id for o in locked if o.prepaid_balance is not None])
    empty = {"today": 0, "week": 0, "month": 0}
    ranked = sorted(locked, key=lambda o: (-o.priority, usage.get(o.id, empty)["today"], o.id))
    for order in ranked:
        if order.prepaid_balance is not None and (
            order.prepaid_balance - reserved.get(order.id, 0) < order.unit_price
        ):
            continue  # depleted, counting the leads already on their way
        used = usage.get(order.id, empty)
        if order.cap_daily is not None and used["today"] >= order.cap_daily:
            continue
        if order.cap_weekly is not None and used["week"] >= order.cap_weekly:
            continue
        if order.cap_monthly is not None and used["month"] >= order.cap_monthly:
            continue
        return order
    return None


def _usage(orders: list[Order], now: datetime) -> dict[int, dict[str, int]]:
    """Deliveries counted against the orders' caps, today / this week / this
    month. Counted only where it decides something (an order with a cap, or
    a tie on priority to break by today's fill): an uncapped order pays no
    count, however many leads it has taken."""
    per_priority = Counter(o.priority for o in orders)
    counted = [
        o.id
        for o in orders
        if any(cap is not None for cap in (o.cap_daily, o.cap_weekly, o.cap_monthly))
        or per_priority[o.priority] > 1
    ]
    if not counted:
        return {}
    day, week, month = _period_starts(now)
    return {
        row["order"]: row
        for row in Delivery.objects.filter(
            order_id__in=counted, state__in=CAP_COUNTED_STATES, routed_at__gte=min(week, month)
        )
        .values("order")
        .annotate(
            today=Count("pk", filter=Q(routed_at__gte=day)),
            week=Count("pk", filter=Q(routed_at__gte=week)),
            month=Count("pk", filter=Q(routed_at__gte=month)),
        )
    }


def _reserved_budget(order_ids: list[int]) -> dict[int, Decimal]:
    """What in-flight deliveries of prepaid orders will consume on success.

    Checked under the orders' row locks: a prepaid balance never goes below
    zero, however many deliveries race (consumption: billing)."""
    if not order_ids:
        return {}
    return dict(
        Delivery.objects.filter(
            order_id__in=order_ids,
            state__in=[Delivery.State.PENDING, Delivery.State.PROCESSING],
        )
        .values("order")
        .annotate(total=Sum("unit_price"))
        .values_list("order", "total")
    )


def _default_price(crm: CRM, lead: Lead):
    return (
        DefaultPrice.objects.filter(crm=crm, product_type_id=lead.product_type_id)
        .values_list("unit_price", flat=True)
        .first()
    )


def lead_route(*, lead: Lead) -> Delivery | None:
    """Decide where a `pending` lead goes and store the decision as its
    Delivery (due now). Without a destination, the lead's status says why
    (`no_crm`, `no_api_key`, `pending_no_order`) and None is returned.

    Runs inside a transaction holding the lead's row lock (see queue)."""
    if not lead.rgpd_consent:
        # Intake stores these as no_consent; whatever set one back to pending
        # (an import, a hand edit), a refused consent is never delivered.
        return _hold(lead, Lead.Status.NO_CONSENT, "CONSENT_REFUSED")
    now = timezone.now()
    candidate = _candidate(lead)
    if candidate is None:
        return _hold(lead, Lead.Status.NO_CRM, "NO_CRM")
    if not candidate.api_key:
        return _hold(lead, Lead.Status.NO_API_KEY, f"NO_API_KEY:{candidate.crm.slug}")

    today = timezone.localdate(now)
    crm, api_source, reason = candidate.crm, candidate.source, ""
    order = _pick_order(_eligible_orders(lead, today, crm=crm), now)
    price = order.unit_price if order else None
    if order is None:
        if not crm.only_ordered_leads:
            price, reason = _default_price(crm, lead), "NO_ORDER_DEFAULT_PRICE"
        elif lead.form is not None and lead.form.allow_cross_crm:
            order = _pick_order(
                _eligible_orders(lead, today, exclude_crm=crm).exclude(api_key=""), now
            )
            if order is None:
                return _hold(lead, Lead.Status.PENDING_NO_ORDER, "NO_ELIGIBLE_ORDER")
            crm, api_source, price = order.crm, Delivery.Source.CROSS_CRM, order.unit_price
            reason = f"CROSS_CRM:{candidate.crm.slug}->{crm.slug}"
        else:
            return _hold(lead, Lead.Status.PENDING_NO_ORDER, f"NO_ELIGIBLE_ORDER:{crm.slug}")

    return Delivery.objects.create(
        lead=lead,
        origin_crm_id=lead.account.origin_crm_id if lead.account_id else None,
        crm=crm,
        source=api_source,
        reason=reason or (f"ORDER:{order.pk}" if order else ""),
        order=order,
        unit_price=price,
        routed_at=now,
        next_attempt_at=now,
    )


def _hold(lead: Lead, status: str, reason: str) -> None:
    # A held lead is re-routed every night: note each reason once.
    reasons = lead.reasons if reason in lead.reasons else [*lead.reasons, reason]
    Lead.objects.filter(pk=lead.pk).update(status=status, reasons=reasons)
    lead.status, lead.reasons = status, reasons
    return None


def delivery_api_key(delivery: Delivery) -> str:
    """The key to send, read at send time, so that a key fixed in the admin
    after an auth error is the one a retry uses."""
    return delivery_api_keys([delivery])[delivery.pk]


def delivery_api_keys(deliveries: list[Delivery]) -> dict:
    """delivery_api_key for a batch (deliveries fetched with their lead, form
    and order), with one query for all the account routing entries."""
    keys, wanted = {}, {}
    for delivery in deliveries:
        lead = delivery.lead
        if delivery.source == Delivery.Source.CROSS_CRM:
            keys[delivery.pk] = delivery.order.api_key
        elif delivery.source == Delivery.Source.FORM_OVERRIDE:
            # The form may have been deleted since routing (Lead.form is
            # SET_NULL): no key then, the buyer answers an auth error.
            keys[delivery.pk] = lead.form.crm_override_api_key if lead.form else ""
        else:
            wanted[delivery.pk] = (lead.account_id, lead.product_type_id)
    if wanted:
        pairs = set(wanted.values())
        found = {
            (account_id, product_type_id): key
            for account_id, product_type_id, key in AccountRouting.objects.filter(
                account_id__in={a for a, _ in pairs}, product_type_id__in={p for _, p in pairs}
            ).values_list("account_id", "product_type_id", "api_key")
        }
        for pk, pair in wanted.items():
            keys[pk] = found.get(pair, "")
    return keys
