"""Seed product types, departments and the three staff roles."""

from django.db import migrations

from enersolar.france import DEPARTMENTS
from enersolar.roles import roles_sync

PRODUCT_TYPES = [
    ("PV", "Panneaux photovoltaïques"),
    ("PAC", "Pompe à chaleur"),
    ("ITE", "Isolation thermique par l'extérieur"),
]


def seed(apps, schema_editor):
    ProductType = apps.get_model("enersolar", "ProductType")
    Department = apps.get_model("enersolar", "Department")
    for code, name in PRODUCT_TYPES:
        ProductType.objects.get_or_create(code=code, defaults={"name": name})
    for code, name in DEPARTMENTS.items():
        Department.objects.update_or_create(code=code, defaults={"name": name})
    # Groups with the permissions of the models known so far; the post_migrate
    # hook in apps.py extends them to models added by later migrations.
    roles_sync(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("enersolar", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
