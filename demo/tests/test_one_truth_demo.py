"""The demo data tells one truth (issue #15): its cross-CRM leads are the
same in every place of the back office, and billed as such."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from billing.tests.builders import deliver, lead_make
from billing.tests.cross_crm_views import billed_pairs, cross_crm_everywhere, dashboard_cross_crm
from enersolar.models import Account
from enersolar.roles import ADMIN
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from tests.buyer import buyer  # noqa: F401 - the fake buyer CRM fixture
from tests.conversion_by_hand import by_hand
from tracking.models import Form
from tracking.selectors import forms_with_stats

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(buyer):  # noqa: F811
    call_command(
        "seed_demo", crm_url_zr7=buyer.url("zr7"), crm_url_mdl=buyer.url("mdl"), stdout=StringIO()
    )
    account = Account.objects.get(forms__code="PV-001")
    forms = {form.product_type.code: form for form in Form.objects.select_related("product_type")}
    leads = {}
    for product_code, departement in [("PV", "75"), ("PV", "13"), ("PAC", "69"), ("ITE", "33")]:
        lead = lead_make(
            account=account,
            form=forms[product_code],
            product_code=product_code,
            departement=departement,
        )
        assert deliver(lead) == "success"
        leads[f"{product_code}/{departement}"] = lead
    return leads


@pytest.fixture
def admin_client(db):
    client = APIClient()
    client.force_login(UserFactory(role=ADMIN))
    return client


def test_the_demo_cross_crm_leads_agree_everywhere_and_are_billed(demo, admin_client):
    # The demo account's traffic is zr7's: its Marseille PV lead goes to mdl
    # by the fallback, its ITE lead to mdl by account routing; both are
    # cross-CRM. Paris PV and PAC stay at zr7.
    expected = {str(demo["PV/13"].pk), str(demo["ITE/33"].pk)}

    counted = cross_crm_everywhere(admin_client)

    assert counted == {place: expected for place in counted}
    assert billed_pairs(admin_client) == {("zr7", "mdl", 2, "70.00")}


@pytest.mark.parametrize("stored", [False, True], ids=["live", "stored"])
def test_the_demo_dashboard_counts_as_the_api_filter_and_billing(demo, admin_client, stored):
    api = admin_client.get("/api/leads", {"cross_crm": "true", "page_size": 500}).json()
    summary = admin_client.get("/api/billing/cross-crm/summary", {"period": "30d"}).json()
    billed = sum(pair["leads"] for pair in summary["pairs"])

    shown = dashboard_cross_crm(admin_client, stored=stored)

    # Every lead of the demo was made (and delivered) today.
    assert shown["today"] == shown["7 days"] == len(api["results"]) == billed == 2


def test_the_demo_forms_conversion_is_counted_one_way(buyer):  # noqa: F811
    call_command("seed_demo", crm_url_zr7=buyer.url("zr7"), stdout=StringIO())
    pv = Form.objects.select_related("landing_page").get(code="PV-001")
    lp_code = pv.landing_page.code

    def visit(*, start: bool, lead: dict | None, n: int) -> None:
        client, ip = APIClient(), f"10.1.0.{n}"  # a visitor of its own (cookie, address)
        session = client.post(
            "/api/public/track/session", {"lp_code": lp_code}, format="json", REMOTE_ADDR=ip
        ).json()["session_id"]
        if start:
            body = {"session_id": session, "event_type": "form_start"}
            client.post("/api/public/track/event", body, format="json", REMOTE_ADDR=ip)
        if lead is not None:
            body = {"session_id": session, "form_code": "PV-001", "nom": "Martin", **lead}
            client.post("/api/public/leads", body, format="json", REMOTE_ADDR=ip)

    visit(start=True, lead={"phone": "0612345678", "departement": "75"}, n=1)  # finished
    visit(start=True, lead=None, n=2)  # started, left
    visit(start=True, lead={"phone": "12", "departement": "75"}, n=3)  # invalid: not finished
    visit(start=False, lead={"phone": "0698765432", "departement": "13"}, n=4)  # direct
    APIClient().post(  # a session the tracking never saw (a bare page): direct
        "/api/public/leads",
        {
            "session_id": str(uuid.uuid4()),
            "form_code": "PV-001",
            "nom": "Durand",
            "phone": "0611223344",
            "departement": "69",
        },
        format="json",
        REMOTE_ADDR="10.1.0.5",
    )

    statuses = sorted(Lead.objects.values_list("status", flat=True))
    assert statuses == ["invalid_phone", "pending", "pending", "pending"]
    [row] = [f for f in forms_with_stats() if f.code == "PV-001"]

    assert (row.started, row.finished, row.direct) == by_hand(pv) == (3, 1, 2)
    assert row.conversion == Decimal("33.3")
