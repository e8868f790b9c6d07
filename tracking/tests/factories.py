import factory

from enersolar.tests.factories import AccountFactory, product
from tracking.models import Form, LandingPage


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
