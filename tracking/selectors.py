"""Reads of forms and landing pages.

On the public hot path: forms and landing pages by code, from a per-process
cache (see enersolar/process_cache.py for the staleness bound).

The per-form counters of the card view and of GET /api/forms:

started  = visitor sessions with a `form_start` event for the form (the
           event is once per session, so one event is one session);
finished = those started sessions that left an accepted lead of the form
           (not rejected at intake: an invalid phone, a missing field, a
           double submit, a duplicate, a refused consent do not finish);
           a subset of `started`, so the conversion is ≤ 100 % by construction;
direct   = the form's accepted leads whose session did not start the form
           (no session, or a session without form_start: a page posting
           straight to the intake, an import): shown apart, never in the rate;
all since the form's last stats reset.

Leads live in the `leads` app, above this one. The counters need it
installed: they reach the Lead model through the reverse relation
`Form.leads` and filter on its status values, without importing it (the
import would go the wrong way up the app layers).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from enersolar.models import CRM, Account, ProductType
from enersolar.process_cache import ProcessCache

from .models import Form, HasConversion, LandingPage, TrackingEvent

# A form never reset counts everything: a bound older than any row.
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
# Leads rejected at intake (SPEC §3.1) neither finish a form nor count as
# direct: leads' Lead.REJECTED_STATUSES, written out since tracking cannot
# import leads (a leads test checks they are the same).
REJECTED_AT_INTAKE = (
    "orphan",
    "invalid_phone",
    "missing_required",
    "double_submit",
    "duplicate_internal",
    "no_consent",
)


def _lead_model():
    # Through the reverse relation: leads must be installed, never imported.
    return Form._meta.get_field("leads").related_model


def _count_per_form(rows: QuerySet, *, until: datetime | None) -> Subquery:
    """COUNT(*) of `rows` of the outer form since its last reset (and before
    `until`), as a correlated subquery: one index range per form, within the
    one query that lists the forms."""
    rows = rows.filter(
        form=OuterRef("pk"),
        created_at__gte=Coalesce(OuterRef("stats_reset_at"), Value(BEGINNING)),
    )
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    counted = rows.order_by().values("form").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def start_left_a_lead() -> Exists:
    """For form_start events: the session left an accepted lead of the form
    (the start is "finished")."""
    accepted = _lead_model().objects.exclude(status__in=REJECTED_AT_INTAKE)
    return Exists(accepted.filter(session_id=OuterRef("session_id"), form_id=OuterRef("form_id")))


def lead_is_direct() -> Q:
    """For leads: an accepted lead of a form whose session did not start
    that form (no session, or no form_start in it)."""
    session_started = TrackingEvent.objects.filter(
        event_type="form_start", session_id=OuterRef("session_id"), form_id=OuterRef("form_id")
    )
    return Q(form__isnull=False) & ~Q(status__in=REJECTED_AT_INTAKE) & ~Q(Exists(session_started))


def forms_with_stats(forms: QuerySet[Form] | None = None, *, until: datetime | None = None):
    """`forms` annotated with `started`, `finished` and `direct` (see the
    module's docstring): any number of forms in a single query, never one per
    form. Sessions and leads meet through the lead's session: one index
    probe per start and per lead of the form."""
    forms = Form.objects.all() if forms is None else forms
    starts = TrackingEvent.objects.filter(event_type="form_start")
    return forms.annotate(
        started=_count_per_form(starts, until=until),
        finished=_count_per_form(starts.filter(start_left_a_lead()), until=until),
        direct=_count_per_form(_lead_model().objects.filter(lead_is_direct()), until=until),
    )


def conversion_rate(*, started: int, finished: int) -> Decimal | None:
    """finished / started × 100, one decimal rounded half up; None when
    nobody started. The one place a conversion rate is computed."""
    if not started:
        return None
    rate = Decimal(finished) * 100 / Decimal(started)
    return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FormStats(HasConversion):
    started: int
    finished: int
    direct: int = 0


def form_stats(form: Form, *, until: datetime | None = None) -> FormStats:
    row = forms_with_stats(Form.objects.filter(pk=form.pk), until=until).values(
        "started", "finished", "direct"
    )
    return FormStats(**row.get())


# --- The public hot path ---------------------------------------------------------

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
    """The form of a code in any case (`pv-001`), of an id given as digits, or
    of the legacy system's id of an imported form (what its landing pages
    post), as the lead intake accepts them."""
    value = value.strip()
    if not value:
        return None
    key = ("pk", int(value)) if value.isascii() and value.isdigit() else ("code", value.upper())
    return _forms.get(key, _form_load, cache_none=False) or form_by_legacy_id(value)


def form_by_legacy_id(value: str) -> Form | None:
    """An imported form by the id the legacy system gave it (a UUID, in any
    case): the legacy intake looked forms up by code or by that id."""
    value = value.strip().lower()
    if len(value) < 8:  # not an id the legacy system made; skip the query
        return None
    return _forms.get(("legacy_id", value), _form_load, cache_none=False)


def landing_page_with_form(code: str) -> LandingPage | None:
    """The LP of a code with the form it serves (LandingPage.form, chosen by
    staff) and what a public form answer shows of it, in one query."""
    return (
        LandingPage.objects.select_related(
            "form__account", "form__product_type", "form__landing_page"
        )
        .filter(code=code)
        .order_by()
        .first()
    )


def _landing_page_load(code: str) -> tuple[LandingPage, Form | None] | None:
    landing_page = landing_page_with_form(code)
    return (landing_page, landing_page.linked_form) if landing_page else None


def landing_page_by_code(code: str) -> tuple[LandingPage, Form | None] | None:
    """(landing page, the form it serves) of an LP code; shared, read-only."""
    if not code:
        return None
    return _landing_pages.get(code, _landing_page_load, cache_none=False)
