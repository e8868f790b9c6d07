"""Reads of leads shared by the admin's lead lists and the staff API
(GET /api/leads): one meaning per filter, whichever page asks. And the
configuration the intake reads on its hot path, from per-process caches (see
enersolar/process_cache.py for the staleness bound)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from enersolar.france import department_normalize
from enersolar.models import ActivityLog, ProductType, QualityMapping
from enersolar.phone import phone_normalize
from enersolar.process_cache import ProcessCache

from .models import Lead


def leads_of_origin_crm(leads: QuerySet[Lead], *, crm_slug: str) -> QuerySet[Lead]:
    """The leads of the accounts whose traffic belongs to the CRM: known for
    every lead with an account, routed or not (a rejected lead has no routing
    decision, so never the delivery's copy of it)."""
    return leads.filter(account__origin_crm__slug=crm_slug)


def leads_in_department(leads: QuerySet[Lead], *, department: str) -> QuerySet[Lead]:
    """`department` as staff type it: 1, 01, 2a, 2A…"""
    return leads.filter(departement=department_normalize(department) or department.strip())


def leads_with_phone(leads: QuerySet[Lead], *, phone: str) -> QuerySet[Lead]:
    # An exact, indexed match on the stored national form (never a LIKE).
    return leads.filter(phone=phone_normalize(phone) or phone.strip())


def leads_of_campaign(leads: QuerySet[Lead], *, utm_campaign: str) -> QuerySet[Lead]:
    """The leads of one campaign (`utm_campaign` as the intake stored it,
    exact: campaign names are case-sensitive codes)."""
    return leads.filter(utm_campaign=utm_campaign.strip())


def lead_history(lead: Lead) -> QuerySet:
    """The lead's journal entries, newest first: corrections (old → new
    values), "Relancer", returns…"""
    return ActivityLog.objects.filter(
        object_type=Lead._meta.label_lower, object_id=str(lead.pk)
    ).select_related("user")


def leads_with_email(leads: QuerySet[Lead], *, email: str) -> QuerySet[Lead]:
    # Stored lower-cased at intake: an exact, indexed match.
    return leads.filter(email=email.strip().lower())


# --- The intake's hot path -------------------------------------------------------

_quality_tiers = ProcessCache(
    "quality_tiers", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(QualityMapping,)
)
_products = ProcessCache("products", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(ProductType,))


def _quality_tier_load(utm_campaign: str) -> str:
    return (
        QualityMapping.objects.filter(utm_campaign=utm_campaign)
        .values_list("quality_tier", flat=True)
        .first()
        or ""
    )


def quality_tier(utm_campaign: str) -> str:
    """The tier of a campaign, "" when it has none."""
    return _quality_tiers.get(utm_campaign, _quality_tier_load) if utm_campaign else ""


def _product_load(code: str) -> ProductType | None:
    return ProductType.objects.filter(code=code).first()


def product_by_code(code: str) -> ProductType | None:
    """A product type by code (any case); shared, read-only."""
    code = code.strip().upper()
    return _products.get(code, _product_load, cache_none=False) if code else None


# --- Freshness: a lead is worth sending only for LEAD_FRESHNESS_HOURS -------------------------


def lead_freshness_cutoff(now: datetime) -> datetime:
    """Leads created before this moment are too old to be sent at `now`."""
    return now - timedelta(hours=settings.LEAD_FRESHNESS_HOURS)


def lead_is_stale(lead: Lead, *, now: datetime) -> bool:
    """Whether `lead` arrived longer ago than the freshness limit."""
    return lead.created_at < lead_freshness_cutoff(now)


def leads_stale_waiting(now: datetime) -> QuerySet[Lead]:
    """Leads still waiting to be sent (pending, queued, held) and too old:
    the sweep's work."""
    return Lead.objects.filter(
        status__in=Lead.WAITING_STATUSES, created_at__lt=lead_freshness_cutoff(now)
    )
