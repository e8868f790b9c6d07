"""The sandbox buyer's models, moved from `routing` with their tables: this
migration only takes them into `demo`'s state (no SQL), and moves their
content types so existing permissions and admin history follow them."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def content_types_move(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(
        app_label="routing", model__in=["sandboxbuyer", "sandboxreceipt"]
    ).update(app_label="demo")


def content_types_move_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.using(schema_editor.connection.alias).filter(
        app_label="demo", model__in=["sandboxbuyer", "sandboxreceipt"]
    ).update(app_label="routing")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("routing", "0007_sandbox_models_to_demo"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="SandboxBuyer",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("slug", models.SlugField(unique=True, verbose_name="slug")),
                        ("mode", models.CharField(choices=[("201", "201 created"), ("doublon", '200 "doublon"'), ("400", "400 validation error"), ("403", "403 bad key"), ("500", "500 server error"), ("slow", "201 after a delay")], default="201", max_length=10, verbose_name="answer")),
                        ("delay_seconds", models.FloatField(default=5.0, verbose_name="delay (s) in slow mode")),
                        ("received", models.PositiveIntegerField(default=0, editable=False, verbose_name="leads received")),
                    ],
                    options={
                        "verbose_name": "sandbox buyer",
                        "verbose_name_plural": "sandbox buyers",
                        "db_table": "routing_sandboxbuyer",
                    },
                ),
                migrations.CreateModel(
                    name="SandboxReceipt",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("request_id", models.CharField(db_index=True, max_length=64)),
                        ("payload", models.JSONField(default=dict)),
                        ("status_code", models.PositiveSmallIntegerField()),
                        ("received_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("buyer", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="receipts", to="demo.sandboxbuyer")),
                    ],
                    options={
                        "verbose_name": "sandbox receipt",
                        "verbose_name_plural": "sandbox receipts",
                        "ordering": ["-received_at"],
                        "db_table": "routing_sandboxreceipt",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_move_back, elidable=True),
    ]
