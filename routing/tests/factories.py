from decimal import Decimal

import factory

from enersolar.tests.factories import CRMFactory, product
from leads.tests.factories import LeadFactory
from routing.models import DefaultPrice, Delivery, DeliveryAttempt, Order


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
