"""Routing's hand-offs. Every hand-off between modules that must not import
each other is a signal, sent once the transaction has committed and
connected in an AppConfig.ready() (never by import side effect):

- leads.signals.lead_received (intake → routing.tasks): deliver a new lead;
- leads.signals.lead_route_asked (intake → routing.services.decide): where
  would this lead go (a read-only dry run of the routing decision);
- delivery_wanted / queue_run_wanted below (routing's services →
  routing.tasks, the one module that publishes Celery tasks);
- leads_delivered below (routing → billing): consume prepaid budgets.
"""

from django.dispatch import Signal

# Sent once per batch of recorded outcomes, with `deliveries`: the Delivery
# rows this worker has just marked `success` (each exactly once, whatever
# the retries and redeliveries), inside the transaction that records them:
# a receiver's writes commit or roll back with them.
leads_delivered = Signal()

# Sent after commit with `lead_ids`: send these leads now ("Relancer").
delivery_wanted = Signal()

# Sent after commit: start a queue run now (a CRM answers again after an
# outage, the verification put items back on the queue).
queue_run_wanted = Signal()
