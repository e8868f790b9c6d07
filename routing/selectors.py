"""Reads of the delivery queue and of leads with what routing decided for
them, shared by the staff API and the dashboard; and the reads a delivery
batch makes: a CRM's circuit row, the API keys to send."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Func, IntegerField, Min, OuterRef, Q, QuerySet, Subquery

from enersolar.models import AccountRouting
from leads.models import Lead

from .models import CRMHealth, Delivery, DeliveryTotals


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]  # every Delivery.State, plus "total"
    oldest_pending_due: datetime | None  # the next retry that is (over)due first
    oldest_pending_routed_at: datetime | None  # the item waiting longest


S = Delivery.State
# Small whatever the history (the queue itself, and what the nightly
# verification retries): counted live, from the (state, routed_at) index.
WAITING_STATES = (S.PENDING, S.PROCESSING, S.EXHAUSTED)


def queue_stats() -> QueueStats:
    """Counts per state and the oldest waiting item, in one query: the
    stored totals (DeliveryTotals, refreshed every minute) plus what was
    routed or delivered since, the waiting states counted live, and
    `failed` the rest; everything live (queue_stats_live) before the first
    refresh. The same numbers as the live query, except that a delivery
    deleted, or inserted with a past routed_at (legacy import), shows at the
    hourly recount (routing.services.queue.queue_totals_refresh)."""
    since = OuterRef("counted_until")
    pending = Delivery.objects.filter(state=S.PENDING)
    row = (
        DeliveryTotals.objects.annotate(
            **{state: _count(Delivery.objects.filter(state=state)) for state in WAITING_STATES},
            # Every state listed, so that the (state, routed_at) index serves.
            routed_since=_count(Delivery.objects.filter(state__in=S.values, routed_at__gte=since)),
            delivered_since=_count(
                Delivery.objects.filter(state=S.SUCCESS, delivered_at__gte=since)
            ),
            oldest_pending_due=Subquery(
                pending.filter(next_attempt_at__isnull=False)
                .order_by("next_attempt_at")
                .values("next_attempt_at")[:1]
            ),
            oldest_pending_routed_at=Subquery(
                pending.order_by("routed_at").values("routed_at")[:1]
            ),
        )
        .values(
            "routed",
            "delivered",
            *WAITING_STATES,
            "routed_since",
            "delivered_since",
            "oldest_pending_due",
            "oldest_pending_routed_at",
        )
        .first()
    )
    if row is None:
        return queue_stats_live()
    counts = {state: row[state] for state in WAITING_STATES}
    counts["total"] = row["routed"] + row["routed_since"]
    counts[S.SUCCESS] = row["delivered"] + row["delivered_since"]
    others = sum(counts[state] for state in S.values if state != S.FAILED)
    counts[S.FAILED] = counts["total"] - others
    return QueueStats(
        counts={state: counts[state] for state in [*S.values, "total"]},
        oldest_pending_due=row["oldest_pending_due"],
        oldest_pending_routed_at=row["oldest_pending_routed_at"],
    )


def _count(deliveries: QuerySet[Delivery]) -> Subquery:
    """COUNT(*) of `deliveries`, as a subquery of one row (no GROUP BY).
    COUNT(*), not of a column: an index-only scan then answers it."""
    return Subquery(
        deliveries.order_by().values(n=Func(template="COUNT(*)", output_field=IntegerField()))
    )


def queue_stats_live() -> QueueStats:
    """The same numbers from one aggregate over every delivery."""
    pending = Q(state=S.PENDING)
    row = Delivery.objects.aggregate(
        total=Count("pk"),
        **{state: Count("pk", filter=Q(state=state)) for state in S.values},
        oldest_pending_due=Min("next_attempt_at", filter=pending),
        oldest_pending_routed_at=Min("routed_at", filter=pending),
    )
    counts = {state: row[state] for state in S.values}
    counts["total"] = row["total"]
    return QueueStats(
        counts=counts,
        oldest_pending_due=row["oldest_pending_due"],
        oldest_pending_routed_at=row["oldest_pending_routed_at"],
    )


def leads_with_delivery() -> QuerySet[Lead]:
    """Leads with everything a staff list shows of them, joined in the one
    query that reads them: product, account and its origin CRM, and the
    delivery (target CRM, routing source, queue state) when there is one."""
    return Lead.objects.select_related(
        "product_type",
        "account__origin_crm",
        "delivery__crm",
        "delivery__origin_crm",
    )


def leads_routed_to(leads: QuerySet[Lead], *, crm_slug: str) -> QuerySet[Lead]:
    """The leads routing sent (or is sending) to the CRM."""
    return leads.filter(delivery__crm__slug=crm_slug)


def cross_crm_condition(prefix: str = "") -> Q:
    """THE definition of cross-CRM, for every list, filter, API, dashboard,
    bill and export: the lead was routed to a CRM other than its origin CRM
    (the account's CRM, recorded on the delivery when routing decided).

    Whatever the routing *source* that chose the CRM (`Delivery.source`:
    account routing, form override or the cross-CRM fallback): an ITE lead of
    a zr7 account routed to mdl is cross-CRM, a zr7 lead sent to zr7 by the
    fallback is not. Without an origin CRM (no account) a lead is never
    cross-CRM. `prefix` reaches the delivery from another model ("delivery__"
    from Lead); Delivery.is_cross_crm says the same of one row."""
    return Q(**{f"{prefix}origin_crm__isnull": False}) & ~Q(
        **{f"{prefix}crm": F(f"{prefix}origin_crm")}
    )


def leads_cross_crm(leads: QuerySet[Lead], *, cross: bool) -> QuerySet[Lead]:
    """Cross-CRM leads (cross=True), or the others: never routed leads count as not."""
    condition = cross_crm_condition("delivery__")
    return leads.filter(condition) if cross else leads.exclude(condition)


def circuit_health(crm_id: int) -> CRMHealth | None:
    """The circuit's row as it is now (None: never failed, so closed)."""
    return CRMHealth.objects.filter(crm_id=crm_id).first()


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
