"""The routing decision (SPEC §4): target CRM, API key, order and price.

One function decides (route_decide). The delivery applies its decision for
good (lead_route: under the orders' row locks, then a Delivery or a hold);
the intake asks the same function for a read-only dry run (on_lead_route_asked,
through the lead_route_asked signal) to name the CRM in its answer: the
configuration it reads then comes from per-process caches, as the rest of
the intake's does (enersolar/process_cache.py), and nothing is locked or
written.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from enersolar.models import CRM, AccountRouting
from enersolar.process_cache import ProcessCache
from leads.models import Lead
from leads.selectors import lead_is_stale
from leads.services import EXPIRED_REASON, leads_status_set

from ..models import DefaultPrice, Delivery, Order

# A delivery keeps its place under an order's cap unless it ended in failure.
CAP_COUNTED_STATES = (Delivery.State.PENDING, Delivery.State.PROCESSING, Delivery.State.SUCCESS)


@dataclass(frozen=True)
class Candidate:
    crm: CRM
    api_key: str
    source: str


@dataclass(frozen=True)
class Route:
    """What the decision says: where the lead goes (crm, order, price), or
    why it waits (`held_as`, the lead's status then, and `reason`)."""

    crm: CRM | None = None
    source: str = ""
    order: Order | None = None
    price: Decimal | None = None
    reason: str = ""
    held_as: str = ""


class _DatabaseReads:
    """The delivery's reads: from the database, eligible orders locked."""

    def routing_entry(self, account_id, product_type_id) -> Candidate | None:
        routing = (
            AccountRouting.objects.select_related("crm")
            .filter(account_id=account_id, product_type_id=product_type_id, crm__is_active=True)
            .first()
        )
        if routing is None:
            return None
        return Candidate(routing.crm, routing.api_key, Delivery.Source.ACCOUNT_ROUTING)

    def orders(self, lead: Lead, today: date, *, crm: CRM, cross: bool) -> list[Order]:
        """The eligible orders of `crm` (cross: of every other CRM, with an
        API key of their own), locked in id order (two deciders cannot
        deadlock), so the cap counts read next include every delivery
        committed before: caps hold exactly."""
        eligible = Order.objects.filter(
            product_type_id=lead.product_type_id, is_active=True, crm__is_active=True
        ).filter(
            Q(starts_on__isnull=True) | Q(starts_on__lte=today),
            Q(ends_on__isnull=True) | Q(ends_on__gte=today),
            Q(departments__isnull=True) | Q(departments=lead.departement),
        )
        eligible = (
            eligible.exclude(crm=crm).exclude(api_key="") if cross else eligible.filter(crm=crm)
        )
        ids = set(eligible.values_list("id", flat=True))
        if not ids:
            return []
        locked = Order.objects.select_for_update(of=("self",)).filter(id__in=ids)
        return list(locked.select_related("crm").order_by("id"))

    def default_price(self, crm_id: int, product_type_id: int):
        return (
            DefaultPrice.objects.filter(crm_id=crm_id, product_type_id=product_type_id)
            .values_list("unit_price", flat=True)
            .first()
        )


# Each with the default price of its CRM for the product: one statement for
# both when the cache is cold.
_routing_entries = ProcessCache(
    "routing_entries",
    ttl=settings.CONFIG_CACHE_SECONDS,
    depends_on=(AccountRouting, CRM, DefaultPrice),
)
_product_orders = ProcessCache(
    "product_orders", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(Order, CRM)
)
_default_prices = ProcessCache(
    "default_prices", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(DefaultPrice,)
)


def _routing_entry_load(key) -> tuple[Candidate, Decimal | None] | None:
    account_id, product_type_id = key
    default_price = DefaultPrice.objects.filter(
        crm_id=OuterRef("crm_id"), product_type_id=OuterRef("product_type_id")
    ).values("unit_price")[:1]
    routing = (
        AccountRouting.objects.select_related("crm")
        .annotate(default_price=Subquery(default_price))
        .filter(account_id=account_id, product_type_id=product_type_id, crm__is_active=True)
        .first()
    )
    if routing is None:
        return None
    candidate = Candidate(routing.crm, routing.api_key, Delivery.Source.ACCOUNT_ROUTING)
    return candidate, routing.default_price


def _product_orders_load(product_type_id) -> list[tuple[Order, frozenset]]:
    orders = (
        Order.objects.select_related("crm")
        .prefetch_related("departments")
        .filter(product_type_id=product_type_id, is_active=True, crm__is_active=True)
        .order_by("id")
    )
    return [(o, frozenset(d.pk for d in o.departments.all())) for o in orders]


class _CachedReads(_DatabaseReads):
    """The dry run's reads: the same rows from the per-process caches, no
    lock. (Cap counts and reserved budgets are live rows, read as the
    delivery reads them, and only where they decide something.)"""

    def __init__(self) -> None:
        self._prices: dict[tuple, Decimal | None] = {}  # read with the routing entry

    def routing_entry(self, account_id, product_type_id) -> Candidate | None:
        entry = _routing_entries.get((account_id, product_type_id), _routing_entry_load)
        if entry is None:
            return None
        candidate, default_price = entry
        self._prices[candidate.crm.pk, product_type_id] = default_price
        return candidate

    def orders(self, lead: Lead, today: date, *, crm: CRM, cross: bool) -> list[Order]:
        return [
            order
            for order, departments in _product_orders.get(
                lead.product_type_id, _product_orders_load
            )
            if ((order.crm_id != crm.id and order.api_key) if cross else order.crm_id == crm.id)
            and (order.starts_on is None or order.starts_on <= today)
            and (order.ends_on is None or order.ends_on >= today)
            and (not departments or lead.departement in departments)
        ]

    def default_price(self, crm_id: int, product_type_id: int):
        if (crm_id, product_type_id) in self._prices:
            return self._prices[crm_id, product_type_id]
        return _default_prices.get(
            (crm_id, product_type_id), lambda key: super(_CachedReads, self).default_price(*key)
        )


def _candidate(lead: Lead, reads: _DatabaseReads) -> Candidate | None:
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
    if lead.account_id is None or lead.product_type_id is None:
        return None
    return reads.routing_entry(lead.account_id, lead.product_type_id)


def _period_starts(now: datetime) -> tuple[datetime, datetime, datetime]:
    """Start of today, this week (Monday) and this month, in Paris time."""
    local = timezone.localtime(now)
    day = datetime.combine(local.date(), time.min, tzinfo=local.tzinfo)
    week = day - timedelta(days=local.weekday())
    month = day.replace(day=1)
    return day, week, month


def _pick_order(orders: list[Order], now: datetime) -> Order | None:
    """The first order under its caps: highest priority first, then the
    least filled today, under its caps and with prepaid budget left."""
    if not orders:
        return None
    usage = _usage(orders, now)
    reserved = _reserved_budget([o.id for o in orders if o.prepaid_balance is not None])
    empty = {"today": 0, "week": 0, "month": 0}
    ranked = sorted(orders, key=lambda o: (-o.priority, usage.get(o.id, empty)["today"], o.id))
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


def route_decide(lead: Lead, *, now: datetime, reads: _DatabaseReads) -> Route:
    """Where a `pending` lead goes now, or why it waits: the one
    implementation of the choice (form override, account routing, orders
    and their caps, default price, cross-CRM fallback)."""
    if not lead.rgpd_consent:
        # Intake stores these as no_consent; whatever set one back to pending
        # (an import, a hand edit), a refused consent is never delivered.
        return Route(held_as=Lead.Status.NO_CONSENT, reason="CONSENT_REFUSED")
    if lead_is_stale(lead, now=now):
        # Released days later (an order appeared, a hand edit): too old to
        # be worth anything to a buyer, never sent.
        return Route(held_as=Lead.Status.EXPIRED, reason=EXPIRED_REASON)
    candidate = _candidate(lead, reads)
    if candidate is None:
        return Route(held_as=Lead.Status.NO_CRM, reason="NO_CRM")
    if not candidate.api_key:
        return Route(held_as=Lead.Status.NO_API_KEY, reason=f"NO_API_KEY:{candidate.crm.slug}")

    today = timezone.localdate(now)
    crm, api_source, reason = candidate.crm, candidate.source, ""
    order = _pick_order(reads.orders(lead, today, crm=crm, cross=False), now)
    price = order.unit_price if order else None
    if order is None:
        if not crm.only_ordered_leads:
            price = reads.default_price(crm.pk, lead.product_type_id)
            reason = "NO_ORDER_DEFAULT_PRICE"
        elif lead.form is not None and lead.form.allow_cross_crm:
            order = _pick_order(reads.orders(lead, today, crm=crm, cross=True), now)
            if order is None:
                return Route(held_as=Lead.Status.PENDING_NO_ORDER, reason="NO_ELIGIBLE_ORDER")
            crm, api_source, price = order.crm, Delivery.Source.CROSS_CRM, order.unit_price
            reason = f"CROSS_CRM:{candidate.crm.slug}->{crm.slug}"
        else:
            return Route(
                held_as=Lead.Status.PENDING_NO_ORDER, reason=f"NO_ELIGIBLE_ORDER:{crm.slug}"
            )
    reason = reason or (f"ORDER:{order.pk}" if order else "")
    return Route(crm=crm, source=api_source, order=order, price=price, reason=reason)


def lead_route(*, lead: Lead) -> Delivery | None:
    """Decide where a `pending` lead goes and store the decision as its
    Delivery (due now). Without a destination, the lead's status says why
    (`no_crm`, `no_api_key`, `pending_no_order`, `expired`) and None is returned.

    Runs inside a transaction holding the lead's row lock (see batch)."""
    now = timezone.now()
    route = route_decide(lead, now=now, reads=_DatabaseReads())
    if route.crm is None:
        # A held lead is re-routed every night: note each reason once.
        reasons = lead.reasons if route.reason in lead.reasons else [*lead.reasons, route.reason]
        leads_status_set([lead.pk], route.held_as, reasons=reasons)
        lead.status, lead.reasons = route.held_as, reasons
        return None
    return Delivery.objects.create(
        lead=lead,
        origin_crm_id=lead.account.origin_crm_id if lead.account_id else None,
        crm=route.crm,
        source=route.source,
        reason=route.reason,
        order=route.order,
        unit_price=route.price,
        routed_at=now,
        next_attempt_at=now,
    )


def on_lead_route_asked(sender, lead: Lead, **kwargs) -> str | None:
    """The intake's question (leads.signals.lead_route_asked): the slug of
    the CRM this lead would be delivered to now, None when it would wait."""
    route = route_decide(lead, now=timezone.now(), reads=_CachedReads())
    return route.crm.slug if route.crm is not None else None
