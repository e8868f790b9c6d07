import uuid

import factory

from enersolar.tests.factories import AccountFactory, product
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession


class LandingPageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LandingPage

    name = factory.Sequence(lambda n: f"LP {n}")
    account = factory.SubFactory(AccountFactory)
    url = "https://lp.example.com/"


class FormFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Form

    name = factory.Sequence(lambda n: f"Form {n}")
    product_type = factory.LazyFunction(product)
    landing_page = factory.SubFactory(LandingPageFactory)
    account = factory.SelfAttribute("landing_page.account")


class VisitorSessionFactory(factory.django.DjangoModelFactory):
    """A session opened on a form's landing page (as /api/public/track/session does)."""

    class Meta:
        model = VisitorSession

    visitor_id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    form = factory.SubFactory(FormFactory)
    landing_page = factory.SelfAttribute("form.landing_page")
    account = factory.SelfAttribute("form.account")
    lp_code = factory.LazyAttribute(lambda o: o.landing_page.code if o.landing_page else "")
    form_code = factory.LazyAttribute(lambda o: o.form.code if o.form else "")
    liaison_code = factory.LazyAttribute(
        lambda o: f"{o.lp_code}_{o.form_code}" if o.lp_code and o.form_code else ""
    )


def form_starts(form: Form, n: int = 1, **session_fields) -> list[TrackingEvent]:
    """n visitors who started `form`: a session each, with its `form_start`
    event at the session's time (what the form counters count as started)."""
    events = []
    for _ in range(n):
        session = VisitorSessionFactory(form=form, **session_fields)
        events.append(
            TrackingEvent.objects.create(
                session=session, event_type="form_start", form=form, created_at=session.created_at
            )
        )
    return events
