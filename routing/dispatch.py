"""Hand-offs to Celery. A broker outage never raises here: what could not be
handed over stays in the database and the next queue run picks it up."""

import logging
from datetime import datetime

from django.dispatch import receiver

from leads.signals import lead_received

logger = logging.getLogger(__name__)

BATCH = 25  # leads per task: fewer broker round trips when a backlog drains


def dispatch_leads(lead_ids: list, claim: datetime | None = None) -> bool:
    from .tasks import deliver_leads

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
            from .services.queue import queue_release

            queue_release(lead_ids, claim)
        return False
    return True


def dispatch_queue_run() -> None:
    from .tasks import process_queue

    try:
        process_queue.apply_async(retry=False)
    except Exception:  # noqa: BLE001
        logger.warning("broker unavailable: queue run left to beat", exc_info=True)


@receiver(lead_received, dispatch_uid="routing_deliver_on_receive")
def _deliver_received_lead(sender, lead_id, **kwargs):
    """The intake → delivery hook (leads/signals.py): sent after commit."""
    dispatch_leads([lead_id])
