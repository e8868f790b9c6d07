from decimal import Decimal

import factory

from enersolar.tests.factories import CRMFactory, product
from routing.models import Order


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    crm = factory.SubFactory(CRMFactory)
    product_type = factory.LazyFunction(product)
    name = factory.Sequence(lambda n: f"Order {n}")
    unit_price = Decimal("25.00")
    api_key = factory.Sequence(lambda n: f"order-key-{n:04d}")
