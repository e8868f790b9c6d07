"""The one module that publishes routing's Celery tasks, and the tasks
themselves: ids in, a service call, idempotent by claiming.

Services never import this module: they send routing.signals
(delivery_wanted, queue_run_wanted) after commit, or take `dispatch` as a
callback (queue_process); the receivers below are connected in
routing/apps.py ready(). A broker outage never raises here: what could not
be handed over stays in the database and the next queue run picks it up."""

import logging
from datetime import datetime

from celery import shared_task
from django.utils.dateparse import parse_datetime

from .services.batch import lead_deliver, leads_deliver_claimed
from .services.queue import queue_process, queue_release
from .services.verification import verification_run

logger = logging.getLogger(__name__)

BATCH = 25  # leads per task: fewer broker round trips when a backlog drains


@shared_task(acks_late=True, ignore_result=True)
def deliver_leads(lead_ids: list[str], claim: str | None = None) -> None:
    if claim:
        leads_deliver_claimed(lead_ids=lead_ids, claim=parse_datetime(claim))
        return
    for lead_id in lead_ids:
        lead_deliver(lead_id=lead_id)


@shared_task(ignore_result=True)
def process_queue() -> dict:
    run = queue_process(dispatch=dispatch_leads)
    return run.__dict__


@shared_task(ignore_result=True)
def run_verification() -> int:
    return verification_run(triggered_by="beat").pk


def dispatch_leads(lead_ids: list, claim: datetime | None = None) -> bool:
    """Hand leads to the workers, BATCH per task; False when the broker
    refused (the claims, if any, are given back)."""
    try:
        for start in range(0, len(lead_ids), BATCH):
            chunk = [str(i) for i in lead_ids[start : start + BATCH]]
            kwargs = {"claim": claim.isoformat() if claim else None}
            deliver_leads.apply_async(
                args=[chunk],
                kwargs=kwargs,
                retry=False,
                # Ids and a timestamp: repr gives the text Celery's saferepr
                # would, and saferepr costs about a sixth of a publish.
                argsrepr=repr([chunk]),
                kwargsrepr=repr(kwargs),
                # Through the default exchange, Redis (and the file-system
                # transport) push the message straight onto the queue's list;
                # the workers declare the queue when they start. Declaring it
                # again on every publish adds nothing but kombu's binding work.
                declare=[],
            )
    except Exception:  # noqa: BLE001 - broker down: the sweep will catch up
        logger.warning(
            "broker unavailable: %s lead(s) left for the queue sweep", len(lead_ids), exc_info=True
        )
        if claim is not None:
            queue_release(lead_ids, claim)
        return False
    return True


def dispatch_queue_run() -> None:
    try:
        process_queue.apply_async(retry=False)
    except Exception:  # noqa: BLE001
        logger.warning("broker unavailable: queue run left to beat", exc_info=True)


# --- Receivers of the hand-off signals (connected in routing/apps.py) ---------------
# They look dispatch_* up when called, so a test can replace them.


def on_lead_received(sender, lead_id, **kwargs) -> None:
    """The intake → delivery hand-off (leads/signals.py): sent after commit."""
    dispatch_leads([lead_id])


def on_delivery_wanted(sender, lead_ids, **kwargs) -> None:
    dispatch_leads(list(lead_ids))


def on_queue_run_wanted(sender, **kwargs) -> None:
    dispatch_queue_run()
