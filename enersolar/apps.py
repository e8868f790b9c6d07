from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_after_migrate(sender, using="default", apps=None, **kwargs):
    from .reference import reference_data_sync
    from .roles import roles_sync

    reference_data_sync(apps, using=using)
    roles_sync(apps, using=using)


class EnersolarConfig(AppConfig):
    name = "enersolar"
    verbose_name = _("Configuration")

    def ready(self):
        from django.core import checks

        from .checks import beat_schedule_check

        checks.register(beat_schedule_check)
        # Runs after every migrate and every flush (as between transactional
        # tests), once all apps' permissions exist: the roles always cover the
        # current models and the reference data is always there.
        post_migrate.connect(
            _sync_after_migrate, sender=self, dispatch_uid="enersolar_sync_after_migrate"
        )
