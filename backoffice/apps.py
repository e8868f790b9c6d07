from django.apps import AppConfig

# A module import, not the class: the class in this namespace would count as
# one more default config of this app for Django's AppConfig discovery.
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    """Back-office pages that read every other app (dashboard, departments)."""

    default = True
    name = "backoffice"
    verbose_name = _("Dashboards")


class EnerSolarAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with our site as `admin.site`, so every
    `admin.site.register` / `unregister` of the apps lands on it."""

    default = False
    default_site = "backoffice.sites.EnerSolarAdminSite"
