from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_roles(sender, using="default", apps=None, **kwargs):
    from .roles import roles_sync

    roles_sync(apps, using=using)


class EnersolarConfig(AppConfig):
    name = "enersolar"
    verbose_name = _("Configuration")

    def ready(self):
        # Runs after every migrate (and test-database flush), after all apps'
        # permissions exist, so every role always has the current model set.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="enersolar_roles_sync")
