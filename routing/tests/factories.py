from decimal import Decimal

import factory
from django.utils import timezone

from enersolar.tests.factories import CRMFactory, product
from leads.models import Lead
from routing.models import DefaultPrice, Delivery, DeliveryAttempt, Order
from tracking.tests.factories import FormFactory


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    crm = factory.SubFactory(CRMFactory)
    product_type = factory.LazyFunction(product)
    name = factory.Sequence(lambda n: f"Order {n}")
    unit_price = Decimal("25.00")
    api_key = factory.Sequence(lambda n: f"order-key-{n:04d}")


class DefaultPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DefaultPrice

    crm = factory.SubFactory(CRMFactory)
    product_type = factory.LazyFunction(product)
    unit_price = Decimal("12.50")


class LeadFactory(factory.django.DjangoModelFactory):
    """A lead as intake stores one that passed its checks (status `pending`).
    Lives here rather than in leads/tests so that it cannot clash with the
    intake tests' own factories."""

    class Meta:
        model = Lead

    status = Lead.Status.PENDING
    created_at = factory.LazyFunction(timezone.now)
    register_date = factory.LazyAttribute(lambda o: int(o.created_at.timestamp()))
    consent_at = factory.SelfAttribute("created_at")
    form = factory.SubFactory(FormFactory)
    form_code = factory.LazyAttribute(lambda o: o.form.code if o.form else "")
    account = factory.LazyAttribute(lambda o: o.form.account if o.form else None)
    product_type = factory.LazyAttribute(lambda o: o.form.product_type if o.form else product())
    landing_page = factory.LazyAttribute(lambda o: o.form.landing_page if o.form else None)
    lp_code = factory.LazyAttribute(lambda o: o.form.landing_page.code if o.form else "")
    liaison_code = factory.LazyAttribute(lambda o: o.form.liaison_code if o.form else "")
    phone = factory.Sequence(lambda n: f"0612{n % 1000000:06d}")
    nom = "Dupont"
    prenom = "Jeanne"
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    departement = "75"
    code_postal = "75011"
    ville = "Paris"
    type_logement = "maison"
    statut_occupant = "proprietaire"


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A routing decision stored as it would be, for states that are slow to
    reach through real deliveries."""

    class Meta:
        model = Delivery

    lead = factory.SubFactory(LeadFactory)
    crm = factory.LazyAttribute(
        lambda o: o.order.crm if o.order else o.lead.account.routings.get().crm
    )
    origin_crm = factory.LazyAttribute(lambda o: o.lead.account.origin_crm)
    source = Delivery.Source.ACCOUNT_ROUTING
    order = None
    unit_price = factory.LazyAttribute(lambda o: o.order.unit_price if o.order else None)
    routed_at = factory.LazyAttribute(lambda o: o.lead.created_at)
    next_attempt_at = factory.LazyAttribute(lambda o: o.routed_at)


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryAttempt

    delivery = factory.SubFactory(DeliveryFactory)
    crm = factory.LazyAttribute(lambda o: o.delivery.crm)
    http_status = 201
    duration_ms = 12
    outcome = DeliveryAttempt.Outcome.SUCCESS
