from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Orders and delivery")

    def ready(self):
        # Subscribes delivery to the intake's lead_received signal.
        from . import dispatch  # noqa: F401
