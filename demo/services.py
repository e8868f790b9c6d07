"""The sandbox receipts' part of the RGPD erasure and purge (legacy.rgpd)."""

from .models import SandboxReceipt


def receipts_of_leads_delete(sender, *, lead_ids, **kwargs) -> None:
    # The sandbox buyer keys its receipts by the Idempotency-Key, the lead's id.
    SandboxReceipt.objects.filter(request_id__in=[str(i) for i in lead_ids]).delete()


def receipts_older_than_delete(sender, *, cutoff, **kwargs) -> None:
    SandboxReceipt.objects.filter(received_at__lt=cutoff).delete()
