"""Thin Celery tasks: ids in, a service call, idempotent by claiming."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from .dispatch import dispatch_leads
from .services.queue import lead_deliver, leads_deliver_claimed, queue_process
from .services.verification import verification_run


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
