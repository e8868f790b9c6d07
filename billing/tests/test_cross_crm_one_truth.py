"""Issue #15's scenario: cross-CRM means delivered to a CRM other than the
lead's origin CRM, whatever way routing chose the CRM, and every place of
the back office counts the same leads (list field and filters, admin
filters, billing list and balances, the dashboard's count, a plain count
over the deliveries)."""

from decimal import Decimal

import pytest

from enersolar.tests.factories import AccountFactory, AccountRoutingFactory, product
from routing.models import Delivery
from routing.selectors import cross_crm_condition
from tracking.tests.factories import FormFactory

from .builders import crm_make, deliver, lead_make, prepaid_order_make
from .cross_crm_views import billed_pairs, cross_crm_everywhere, dashboard_cross_crm

pytestmark = pytest.mark.django_db


@pytest.fixture
def scenario(buyer_server):
    """An account whose traffic is zr7's: its ITE leads go to mdl by account
    routing; its PV leads are routed to mdl too, which has no PV order, so
    the form's cross-CRM fallback finds zr7's PV order (back home)."""
    zr7 = crm_make("zr7", server=buyer_server)
    mdl = crm_make("mdl", server=buyer_server)
    account = AccountFactory(origin_crm=zr7)
    for code in ("ITE", "PV"):
        AccountRoutingFactory(account=account, crm=mdl, product_type=product(code))
    prepaid_order_make(
        crm=mdl, budget=None, unit_price=Decimal("40.00"), product_type=product("ITE")
    )
    prepaid_order_make(
        crm=zr7, budget=None, unit_price=Decimal("25.00"), product_type=product("PV")
    )
    form = FormFactory(
        account=account,
        product_type=product("PV"),
        landing_page__account=account,
        allow_cross_crm=True,
    )
    ite = lead_make(account=account, product_code="ITE")
    fallback = lead_make(account=account, product_code="PV", form=form)
    assert deliver(ite) == deliver(fallback) == "success"
    return {"ite": ite, "fallback": fallback}


def test_routing_left_the_two_deliveries_of_the_issue(scenario):
    ite = Delivery.objects.select_related("crm", "origin_crm").get(pk=scenario["ite"].pk)
    fallback = Delivery.objects.select_related("crm", "origin_crm").get(pk=scenario["fallback"].pk)

    assert (ite.origin_crm.slug, ite.crm.slug, ite.source) == ("zr7", "mdl", "account_routing")
    assert (fallback.origin_crm.slug, fallback.crm.slug, fallback.source) == (
        "zr7",
        "zr7",
        "cross_crm",
    )
    assert ite.is_cross_crm and not fallback.is_cross_crm


def test_every_place_counts_the_ite_lead_and_not_the_fallback_home(scenario, admin_client):
    counted = cross_crm_everywhere(admin_client)

    expected = {str(scenario["ite"].pk)}
    assert counted == {place: expected for place in counted}


@pytest.mark.parametrize("stored", [False, True], ids=["live", "stored"])
def test_the_dashboard_counts_the_ite_lead_and_not_the_fallback_home(
    scenario, admin_client, stored
):
    counted = cross_crm_everywhere(admin_client)

    assert dashboard_cross_crm(admin_client, stored=stored) == {"today": 1, "7 days": 1}
    assert counted["api filter"] == {str(scenario["ite"].pk)}


def test_the_ite_lead_is_billed_mdl_owes_zr7_its_price(scenario, admin_client):
    assert billed_pairs(admin_client) == {("zr7", "mdl", 1, "40.00")}


def test_the_condition_and_the_row_property_say_the_same(scenario):
    in_sql = set(Delivery.objects.filter(cross_crm_condition()).values_list("pk", flat=True))
    outside = set(Delivery.objects.exclude(cross_crm_condition()).values_list("pk", flat=True))

    assert in_sql == {d.pk for d in Delivery.objects.all() if d.is_cross_crm}
    assert outside == {d.pk for d in Delivery.objects.all() if not d.is_cross_crm}
