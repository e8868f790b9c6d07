from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LegacyConfig(AppConfig):
    """Migration from the legacy FastAPI + MongoDB system, CSV import/export
    in the admin, and the RGPD tools. The top of the dependency chain: it may
    import every other app, and none imports it."""

    name = "legacy"
    verbose_name = _("Imports and RGPD")
