"""Signals routing sends for the apps above it (billing)."""

from django.dispatch import Signal

# Sent once per batch of recorded outcomes, with `deliveries`: the Delivery
# rows this worker has just marked `success` (each exactly once, whatever
# the retries and redeliveries), inside the transaction that records them:
# a receiver's writes commit or roll back with them.
leads_delivered = Signal()
