from celery import shared_task

from .services import lead_day_counts_refresh


@shared_task(ignore_result=True)
def refresh_lead_day_counts() -> int:
    return lead_day_counts_refresh()
