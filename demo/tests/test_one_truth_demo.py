"""The demo data tells one truth (issue #15): its cross-CRM leads are the
same in every place of the back office, and billed as such."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from billing.tests.builders import deliver, lead_make
from billing.tests.cross_crm_views import billed_pairs, cross_crm_everywhere
from enersolar.models import Account
from enersolar.roles import ADMIN
from enersolar.tests.factories import UserFactory
from tests.buyer import buyer  # noqa: F401 - the fake buyer CRM fixture
from tracking.models import Form

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
