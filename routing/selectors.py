"""Reads of the delivery queue and of leads with what routing decided for
them, shared by the staff API and the dashboard; and the reads a delivery
batch makes: a CRM's circuit row, the API keys to send."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Min, Q, QuerySet

from enersolar.models import AccountRouting
from leads.models import Lead

from .models import CRMHealth, Delivery


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]  # every Delivery.State, plus "total"
    oldest_pending_due: datetime | None  # the next retry that is (over)due first
    oldest_pending_routed_at: datetime | None  # the item waiting longest


def queue_stats() -> QueueStats:
    """Counts per state and the oldest waiting item, in one aggregate query."""
    pending = Q(state=Delivery.State.PENDING)
    row = Delivery.objects.aggregate(
        total=Count("pk"),
        **{state: Count("pk", filter=Q(state=state)) for state in Delivery.State.values},
        oldest_pending_due=Min("next_attempt_at", filter=pending),
        oldest_pending_routed_at=Min("routed_at", filter=pending),
    )
    counts = {state: row[state] for state in Delivery.State.values}
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
