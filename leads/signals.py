"""The intake's hand-offs to delivery; routing connects to them in
routing/apps.py ready(), and intake never imports routing.

`lead_received` is sent once the lead's transaction has committed, for every
lead that passed the intake checks (status `pending`).

`lead_route_asked` is sent, inside the intake's transaction, for a lead that
will be delivered, with `lead` (unsaved): its receiver answers the slug of the
CRM the routing decision would choose for it now (a read-only dry run of that
decision), or None. The intake's answer names that CRM.
"""

from django.dispatch import Signal

# Sent with `lead_id` (UUID).
lead_received = Signal()

# Sent with `lead` (Lead, not yet saved); a receiver returns a CRM slug or None.
lead_route_asked = Signal()
