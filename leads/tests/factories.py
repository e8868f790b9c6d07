import factory
from django.utils import timezone

from leads.models import Lead
from tracking.models import Form
from tracking.tests.factories import FormFactory, form_starts


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead as intake stores one that passed its checks (status `pending`)
    unless told: the one lead factory of the test suite."""

    class Meta:
        model = Lead

    status = Lead.Status.PENDING
    created_at = factory.LazyFunction(timezone.now)
    register_date = factory.LazyAttribute(lambda o: int(o.created_at.timestamp()))
    consent_at = factory.SelfAttribute("created_at")
    form = factory.SubFactory(FormFactory)
    form_code = factory.LazyAttribute(lambda o: o.form.code if o.form else "")
    account = factory.LazyAttribute(lambda o: o.form.account if o.form else None)
    product_type = factory.LazyAttribute(lambda o: o.form.product_type if o.form else None)
    landing_page = factory.LazyAttribute(lambda o: o.form.landing_page if o.form else None)
    lp_code = factory.LazyAttribute(lambda o: o.form.landing_page.code if o.form else "")
    liaison_code = factory.LazyAttribute(lambda o: o.form.liaison_code if o.form else "")
    phone = factory.Sequence(lambda n: f"06{n % 10**8:08d}")
    phone_raw = factory.SelfAttribute("phone")
    nom = "Dupont"
    prenom = "Marie"
    departement = "75"
    code_postal = "75011"
    ville = "Paris"
    # What the intake stores when the form leaves them out.
    type_logement = "maison"
    statut_occupant = "proprietaire"


def form_finishes(form: Form, n: int = 1, **session_fields) -> list[Lead]:
    """n visitors who started `form` (a session with its form_start) and
    left an accepted lead of it in that session: what the form counters
    count as finished."""
    return [
        LeadFactory(form=form, session=event.session, created_at=event.created_at)
        for event in form_starts(form, n, **session_fields)
    ]
