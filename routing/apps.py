from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Orders and delivery")

    def ready(self):
        from django.core import checks

        from leads.signals import lead_received, lead_route_asked

        from . import tasks
        from .checks import delivery_lease_check
        from .services.decide import on_lead_route_asked
        from .signals import delivery_wanted, queue_run_wanted

        checks.register(delivery_lease_check)
        # Every hand-off into routing, in one place (see routing/signals.py).
        lead_received.connect(tasks.on_lead_received, dispatch_uid="routing_deliver_on_receive")
        lead_route_asked.connect(on_lead_route_asked, dispatch_uid="routing_route_preview")
        delivery_wanted.connect(tasks.on_delivery_wanted, dispatch_uid="routing_delivery_wanted")
        queue_run_wanted.connect(tasks.on_queue_run_wanted, dispatch_uid="routing_queue_run")
