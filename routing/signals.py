"""Signals routing sends for the apps above it (billing)."""

from django.dispatch import Signal

# Sent inside the transaction that records a successful delivery, with
# `delivery`: a receiver's writes commit or roll back with it.
lead_delivered = Signal()
