"""The staff API for prepaid budgets (issue 15, point 5): balances with
their level in words, the ledger per order, top-ups by Admins only."""

from decimal import Decimal as D

import pytest
from rest_framework.authtoken.models import Token

from billing.models import BudgetTransaction
from enersolar.models import ActivityLog
from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.tests.factories import UserFactory
from routing.tests.factories import OrderFactory

from .builders import crm_make, prepaid_order_make

pytestmark = pytest.mark.django_db

URL = "/api/billing/budgets"


def as_role(client, role):
    user = UserFactory(role=role)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return user


@pytest.fixture
def orders():
    zr7 = crm_make("zr7")
    return {
        "healthy": prepaid_order_make(crm=zr7, budget=D("350"), unit_price=D("25"), name="Large"),
        "warning": prepaid_order_make(crm=zr7, budget=D("350"), unit_price=D("25"), name="Low"),
        "not_prepaid": OrderFactory(crm=zr7, unit_price=D("25")),
    }


def spend(order, amount):
    BudgetTransaction.objects.create(order=order, kind="consumption", amount=-amount)
    type(order).objects.filter(pk=order.pk).update(prepaid_balance=order.prepaid_balance - amount)
    order.refresh_from_db()


def test_balances_with_the_level_in_words(client, orders):
    spend(orders["warning"], D("300"))  # 50 € of 350 €: 14 %
    as_role(client, ADMIN)

    response = client.get(URL)

    assert response.status_code == 200
    rows = {row["order_id"]: row for row in response.json()}
    assert set(rows) == {orders["healthy"].pk, orders["warning"].pk}  # prepaid only
    low = rows[orders["warning"].pk]
    assert (low["prepaid_balance"], low["prepaid_total"]) == ("50.00", "350.00")
    assert (low["level"], low["level_label"]) == ("warning", "alerte")
    assert rows[orders["healthy"].pk]["level"] == "healthy"

    low_only = client.get(URL, {"level": ["warning", "critical", "depleted"]}).json()
    assert [row["order_id"] for row in low_only] == [orders["warning"].pk]
    bogus = client.get(URL, {"level": "bogus"})
    assert bogus.status_code == 400
    assert bogus.json()["fields"]["level"] == ["Niveau inconnu : bogus."]


def test_the_ledger_of_an_order_newest_first(client, orders):
    order = orders["warning"]
    spend(order, D("25"))
    as_role(client, ADMIN)

    response = client.get(f"{URL}/{order.pk}/ledger")

    assert response.status_code == 200
    entries = response.json()["results"]
    assert [(e["kind"], e["amount"]) for e in entries] == [
        ("consumption", "-25.00"),
        ("topup", "350.00"),
    ]
    assert client.get(f"{URL}/999999/ledger").status_code == 404


def test_an_admin_tops_up_and_it_is_journaled(client, orders):
    order = orders["warning"]
    admin = as_role(client, ADMIN)

    response = client.post(f"{URL}/{order.pk}/topup", {"amount": "100.50", "note": "virement"})

    assert response.status_code == 201, response.content
    assert response.json()["prepaid_balance"] == "450.50"
    order.refresh_from_db()
    assert order.prepaid_total == D("450.50")
    entry = order.budget_transactions.get(kind="topup", note="virement")
    assert (entry.amount, entry.created_by) == (D("100.50"), admin)
    assert ActivityLog.objects.filter(details__action="budget_topup", user=admin).exists()


@pytest.mark.parametrize("amount", ["0", "-5", "abc", ""])
def test_a_bad_amount_is_a_400_with_a_message(client, orders, amount):
    as_role(client, ADMIN)

    response = client.post(f"{URL}/{orders['healthy'].pk}/topup", {"amount": amount})

    assert response.status_code == 400
    assert response.json()["fields"]["amount"]  # a message naming the field


@pytest.mark.parametrize("role", [VIEWER, EDITOR])
def test_only_admins_see_budgets_and_top_up(client, orders, role):
    as_role(client, role)

    assert client.get(URL).status_code == 403
    assert client.post(f"{URL}/{orders['healthy'].pk}/topup", {"amount": "10"}).status_code == 403


def test_the_budget_routes_are_in_the_openapi_schema(client):
    as_role(client, ADMIN)

    paths = client.get("/api/schema/?format=json").json()["paths"]

    assert "get" in paths["/api/billing/budgets"]
    assert "get" in paths["/api/billing/budgets/{order_id}/ledger"]
    assert "post" in paths["/api/billing/budgets/{order_id}/topup"]
