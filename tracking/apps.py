from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Landing pages and forms")

    def ready(self):
        from corsheaders.signals import check_request_enabled

        from .cors import cors_allow_landing_pages

        check_request_enabled.connect(cors_allow_landing_pages, dispatch_uid="tracking.cors")
