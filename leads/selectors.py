"""Reads of leads shared by the admin's lead lists and the staff API
(GET /api/leads): one meaning per filter, whichever page asks."""

from django.db.models import QuerySet

from enersolar.france import department_normalize
from enersolar.phone import phone_normalize

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


def leads_with_email(leads: QuerySet[Lead], *, email: str) -> QuerySet[Lead]:
    # Stored lower-cased at intake: an exact, indexed match.
    return leads.filter(email=email.strip().lower())
