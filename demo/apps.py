from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo floor: the sandbox buyer, the brief's demo pages and
    `seed_demo`. It imports the product apps; none of them imports it."""

    name = "demo"
    verbose_name = _("Demo")

    def ready(self):
        from legacy.signals import personal_data_erased, personal_data_expired

        from .services import receipts_of_leads_delete, receipts_older_than_delete

        # The sandbox's receipts hold the payloads sent, names and phones included.
        personal_data_erased.connect(receipts_of_leads_delete, dispatch_uid="demo.erased")
        personal_data_expired.connect(receipts_older_than_delete, dispatch_uid="demo.expired")
