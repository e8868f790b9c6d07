"""What the RGPD service announces, so apps above it (the demo's sandbox
receipts) erase their own copies of a person's data."""

from django.dispatch import Signal

# Sent inside the erasure's transaction with `lead_ids`: these leads were anonymised.
personal_data_erased = Signal()
# Sent with `cutoff`: everything personal received before it has expired.
personal_data_expired = Signal()
