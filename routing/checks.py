"""System checks of the delivery settings."""

from django.conf import settings
from django.core.checks import Warning

from .tasks import BATCH


def delivery_lease_check(app_configs, **kwargs) -> list[Warning]:
    """A task's batch at its slowest (each buyer hanging until the timeouts)
    should end well within the lease: a lease expiring mid-batch hands the
    batch's leads to another worker while they are still being sent."""
    slowest = BATCH * (settings.CRM_CONNECT_TIMEOUT + settings.CRM_READ_TIMEOUT)
    if slowest <= settings.DELIVERY_LEASE_SECONDS / 2:
        return []
    return [
        Warning(
            f"A delivery batch of {BATCH} leads may take {slowest:g} s "
            f"({BATCH} × (CRM_CONNECT_TIMEOUT {settings.CRM_CONNECT_TIMEOUT:g} s + "
            f"CRM_READ_TIMEOUT {settings.CRM_READ_TIMEOUT:g} s)), more than half of "
            f"DELIVERY_LEASE_SECONDS ({settings.DELIVERY_LEASE_SECONDS} s).",
            hint="Raise DELIVERY_LEASE_SECONDS to at least twice that, or lower the "
            "CRM timeouts: a lease that expires mid-batch sends its leads again.",
            id="routing.W001",
        )
    ]
