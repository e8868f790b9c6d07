"""Reads of leads together with what routing decided for them."""

from django.db.models import QuerySet

from leads.models import Lead


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
