from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self):
        # Money-critical wiring, connected here rather than by the side
        # effect of some module importing billing.services.
        from routing.signals import leads_delivered

        from .services import on_leads_delivered

        leads_delivered.connect(on_leads_delivered, dispatch_uid="billing_budget_consume")
