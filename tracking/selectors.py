"""Reads on the public hot path: forms and landing pages by code, from a
per-process cache (see enersolar/process_cache.py for the staleness bound)."""

from django.conf import settings

from enersolar.models import CRM, Account, ProductType
from enersolar.process_cache import ProcessCache

from .models import Form, LandingPage

# Forms with everything the intake reads of them (account, product, landing
# page, CRM override), by code and by id.
_forms = ProcessCache(
    "forms",
    ttl=settings.CONFIG_CACHE_SECONDS,
    depends_on=(Form, LandingPage, Account, ProductType, CRM),
)
# Landing pages by code, each with its linked form.
_landing_pages = ProcessCache(
    "landing_pages", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(Form, LandingPage)
)


def _form_load(key) -> Form | None:
    field, value = key
    return (
        Form.objects.select_related("account", "product_type", "landing_page", "crm_override")
        .filter(**{field: value})
        .order_by()
        .first()
    )


def form_by_code(code: str) -> Form | None:
    """The form of exactly this code. The object is shared by every request of
    the process: read it, never change it. Unknown codes are not cached, so a
    new form counts at once."""
    return _forms.get(("code", code), _form_load, cache_none=False) if code else None


def form_by_code_or_id(value: str) -> Form | None:
    """The form of a code in any case (`pv-001`) or of an id given as digits,
    as the lead intake accepts them."""
    value = value.strip()
    if not value:
        return None
    key = ("pk", int(value)) if value.isascii() and value.isdigit() else ("code", value.upper())
    return _forms.get(key, _form_load, cache_none=False)


def _landing_page_load(code: str) -> tuple[LandingPage, Form | None] | None:
    landing_page = LandingPage.objects.filter(code=code).order_by().first()
    return (landing_page, landing_page.linked_form) if landing_page else None


def landing_page_by_code(code: str) -> tuple[LandingPage, Form | None] | None:
    """(landing page, its linked form) of an LP code; shared, read-only."""
    if not code:
        return None
    return _landing_pages.get(code, _landing_page_load, cache_none=False)
