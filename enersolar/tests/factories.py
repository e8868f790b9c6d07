import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from enersolar.models import CRM, Account, AccountRouting, ProductType
from enersolar.roles import FORMER_NAMES


def product(code: str = "PV") -> ProductType:
    """The seeded product types (PV, PAC, ITE): written by the data migration
    and again after every flush (enersolar/reference.py)."""
    return ProductType.objects.get(code=code)


class CRMFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CRM
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"CRM {n}")
    slug = factory.Sequence(lambda n: f"crm{n}")
    api_url = factory.LazyAttribute(lambda o: f"http://127.0.0.1:9/{o.slug}/lead/api/create_lead/")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    origin_crm = factory.SubFactory(CRMFactory)


class AccountRoutingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountRouting

    account = factory.SubFactory(AccountFactory)
    product_type = factory.LazyFunction(product)
    crm = factory.SubFactory(CRMFactory)
    api_key = factory.Sequence(lambda n: f"routing-key-{n:04d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.django.Password("pass-word-123")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            was_staff = self.is_staff
            # Tests name roles in English ("Viewer") as SPEC does: the group's French name.
            name = FORMER_NAMES.get(extracted, extracted)
            self.groups.add(Group.objects.get(name=name))  # makes the user staff
            if not was_staff:
                # A role's user whose staff status an admin took away since.
                type(self).objects.filter(pk=self.pk).update(is_staff=False)
                self.is_staff = False
