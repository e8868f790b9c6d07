"""Reference data every installation has: product types and departments.

Written by the data migration and again after every `migrate` or `flush`
(post_migrate), so it survives the test database flushes; existing rows are
left as staff edited them."""

from django.apps import apps as global_apps

from .france import DEPARTMENTS

PRODUCT_TYPES = [
    ("PV", "Panneaux photovoltaïques"),
    ("PAC", "Pompe à chaleur"),
    ("ITE", "Isolation thermique par l'extérieur"),
]


def reference_data_sync(apps=None, using="default") -> None:
    apps = apps or global_apps
    ProductType = apps.get_model("enersolar", "ProductType")
    Department = apps.get_model("enersolar", "Department")
    ProductType.objects.using(using).bulk_create(
        [ProductType(code=code, name=name) for code, name in PRODUCT_TYPES],
        ignore_conflicts=True,
    )
    Department.objects.using(using).bulk_create(
        [Department(code=code, name=name) for code, name in DEPARTMENTS.items()],
        ignore_conflicts=True,
    )
