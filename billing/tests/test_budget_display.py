"""Prepaid budgets as staff read them (issue 15, budget display): the
dashboard's alert says the order's level of now, levels are words, and a
top-up reads "recharge, commande n° 1 : +100,00 €" in Recent actions."""

import html
import re
from decimal import Decimal as D

import pytest
from django.urls import reverse

from billing.models import BudgetAlert, BudgetTransaction

from .builders import crm_make, prepaid_order_make

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(text).split())


def spend(order, amount):
    BudgetTransaction.objects.create(order=order, kind="consumption", amount=-amount)
    type(order).objects.filter(pk=order.pk).update(prepaid_balance=order.prepaid_balance - amount)
    order.refresh_from_db()


@pytest.fixture
def warning_order():
    """The issue's order: 50 € left of 350 € (14 %: "warning"), whose stored
    alert still says "depleted" from before a top-up."""
    order = prepaid_order_make(crm=crm_make("zr7"), budget=D("350"), unit_price=D("25"))
    spend(order, D("300"))
    BudgetAlert.objects.create(order=order, level=BudgetAlert.Level.DEPLETED)
    return order


def test_the_dashboard_alert_says_the_level_of_now(admin_client, warning_order):
    response = admin_client.get(reverse("admin:index"))

    (alert,) = response.context["dashboard"]["budget_alerts"]
    assert (alert.order, alert.level, alert.label) == (warning_order, "warning", "alerte")
    widget = page_text(response).split("Alertes de budget", 1)[1]
    assert "alerte (50,00 € / 350,00 €)" in widget
    assert "épuisé" not in widget


def test_a_healthy_order_has_no_dashboard_alert_whatever_was_stored(admin_client):
    order = prepaid_order_make(crm=crm_make("zr7"), budget=D("350"), unit_price=D("25"))
    BudgetAlert.objects.create(order=order, level=BudgetAlert.Level.DEPLETED)

    response = admin_client.get(reverse("admin:index"))

    assert response.context["dashboard"]["budget_alerts"] == []


def test_the_order_list_shows_the_level_in_words(admin_client, warning_order):
    healthy = prepaid_order_make(crm=warning_order.crm, budget=D("350"), unit_price=D("25"))

    text = page_text(admin_client.get(reverse("admin:routing_order_changelist")))

    assert "healthy" not in text and "warning" not in text
    assert "sain" in text and "alerte" in text
    assert healthy.pk != warning_order.pk


def test_a_top_up_in_recent_actions_names_the_order_and_the_amount(admin_client):
    order = prepaid_order_make(crm=crm_make("zr7"), budget=None, unit_price=D("25"))
    add = reverse("admin:billing_budgettransaction_add")

    response = admin_client.post(add, {"order": order.pk, "amount": "1100", "note": ""})

    assert response.status_code == 302, response.content
    text = page_text(admin_client.get(reverse("admin:index")))
    assert f"recharge, commande n° {order.pk} : +1 100,00 €" in text
