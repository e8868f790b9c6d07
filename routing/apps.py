from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Orders and delivery")

    def ready(self):
        from django.core import checks

        # Subscribes delivery to the intake's lead_received signal.
        from . import dispatch  # noqa: F401
        from .checks import delivery_lease_check

        checks.register(delivery_lease_check)
