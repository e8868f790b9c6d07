"""Thin Celery tasks for billing."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .services import budget_alerts_check, statements_issue


@shared_task(ignore_result=True)
def check_budgets() -> int:
    return len(budget_alerts_check())


@shared_task(ignore_result=True)
def issue_monthly_statements() -> int:
    """On the 1st: the statements of the month that just ended."""
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    return len(statements_issue(period=last_month))
