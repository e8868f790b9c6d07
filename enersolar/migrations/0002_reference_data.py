"""Seed product types, departments and the three staff roles."""

from django.db import migrations

from enersolar.reference import reference_data_sync
from enersolar.roles import roles_sync


def seed(apps, schema_editor):
    reference_data_sync(apps, using=schema_editor.connection.alias)
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
