"""The one hand-off from intake to delivery.

`lead_received` is sent once the lead's transaction has committed, for every
lead that passed the intake checks (status `pending`). Routing subscribes to it
(routing/apps.py) and queues the delivery; intake never imports routing.
"""

from django.dispatch import Signal

# Sent with `lead_id` (UUID).
lead_received = Signal()
