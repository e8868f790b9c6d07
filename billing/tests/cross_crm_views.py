"""The cross-CRM leads as each place of the back office shows them, for the
tests that check they all agree (one definition: routing.selectors.cross_crm_condition)."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import LeadDayCount
from backoffice.services import COMMIT_MARGIN, lead_day_counts_refresh
from routing.models import Delivery


def _ids(rows) -> set[str]:
    return {str(row.pk) for row in rows}


def cross_crm_everywhere(client: Client) -> dict[str, set[str]]:
    """Lead ids counted cross-CRM by: the staff API's filter and its row
    field, the lead admin's filter, the delivery admin's filter, billing's
    list of billable leads, and a plain Python loop over the deliveries.
    `client` is logged in as an Admin (sees all of these)."""
    api = client.get("/api/leads", {"cross_crm": "true", "page_size": 500}).json()["results"]
    every_row = client.get("/api/leads", {"page_size": 500}).json()["results"]
    not_cross = client.get("/api/leads", {"cross_crm": "false", "page_size": 500}).json()
    lead_admin = client.get("/admin/leads/lead/", {"cross_crm": "yes"}).context["cl"]
    delivery_admin = client.get("/admin/routing/delivery/", {"cross_crm": "yes"}).context["cl"]
    billing = client.get("/api/billing/cross-crm", {"period": "30d"}).json()
    all_ids = {row["id"] for row in every_row}
    return {
        "api filter": {row["id"] for row in api},
        "api field": {row["id"] for row in every_row if (row["delivery"] or {}).get("cross_crm")},
        "api filter false (complement)": all_ids - {row["id"] for row in not_cross["results"]},
        "lead admin filter": _ids(lead_admin.result_list),
        "delivery admin filter": {str(d.lead_id) for d in delivery_admin.result_list},
        "billing list": {row["lead_id"] for row in billing["leads"]["results"]},
        "python": {str(d.lead_id) for d in Delivery.objects.all() if d.is_cross_crm},
    }


def billed_pairs(client: Client) -> set[tuple]:
    summary = client.get("/api/billing/cross-crm/summary", {"period": "30d"}).json()
    return {(p["creditor"], p["debtor"], p["leads"], p["amount"]) for p in summary["pairs"]}


def dashboard_cross_crm(client: Client, *, stored: bool) -> dict[str, int]:
    """The dashboard's cross-CRM leads, today and over the 7 days, as the
    widgets show them. stored: read from the stored day counts, refreshed
    (as beat does) up to a second from now so that they hold every lead and
    the live tail is empty; otherwise (no stored counts) counted live."""
    if stored:
        lead_day_counts_refresh(now=timezone.now() + COMMIT_MARGIN + timedelta(seconds=1))
        assert LeadDayCount.objects.exists()
    else:
        assert not LeadDayCount.objects.exists()
    leads = client.get(reverse("admin:dashboard_widgets")).context["dashboard"]["leads"]
    return {"today": leads["today_cross_crm"], "7 days": leads["week_cross_crm"]}
