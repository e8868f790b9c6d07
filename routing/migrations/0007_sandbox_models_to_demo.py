"""The sandbox buyer moved to the `demo` app (demo/migrations/0001): routing
forgets its models; the tables stay, `demo` takes them over."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_crmhealth_last_failure_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="SandboxReceipt"),
                migrations.DeleteModel(name="SandboxBuyer"),
            ],
            database_operations=[],
        ),
    ]
