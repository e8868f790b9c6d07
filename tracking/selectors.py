"""Reads of forms: the per-form counters of the card view and of GET /api/forms.

started  = visitor sessions with a `form_start` event for the form (the
           event is once per session, so one event is one session);
finished = the form's leads, but for double submits (one person's second
           click within seconds, not a second person);
both since the form's last stats reset.

Leads live in the `leads` app, above this one. The counters need it
installed: they reach the Lead model through the reverse relation
`Form.leads` and filter on its status values, without importing it (the
import would go the wrong way up the app layers).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from .models import Form, HasConversion, TrackingEvent

# A form never reset counts everything: a bound older than any row.
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
# Lead statuses that are not finishers: a double submit is the same person's
# second click within seconds (SPEC §3.1), not a second person. The values of
# leads' Lead.Status, written out since tracking cannot import leads.
NOT_FINISHED_STATUSES = ("double_submit",)


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


def forms_with_stats(forms: QuerySet[Form] | None = None, *, until: datetime | None = None):
    """`forms` annotated with `started` and `finished`: any number of forms
    in a single query, never one per form."""
    forms = Form.objects.all() if forms is None else forms
    starts = TrackingEvent.objects.filter(event_type="form_start")
    leads = _lead_model().objects.all()
    # All the form's leads, less its (rare) double submits: the first count is
    # read from the (form, created_at) index alone, the second from the status
    # index; excluding the status in one count would visit every lead's row.
    return forms.annotate(
        started=_count_per_form(starts, until=until),
        finished=_count_per_form(leads, until=until)
        - _count_per_form(leads.filter(status__in=NOT_FINISHED_STATUSES), until=until),
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


def form_stats(form: Form, *, until: datetime | None = None) -> FormStats:
    row = forms_with_stats(Form.objects.filter(pk=form.pk), until=until).values(
        "started", "finished"
    )
    counts = row.get()
    return FormStats(started=counts["started"], finished=counts["finished"])
