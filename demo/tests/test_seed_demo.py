"""`manage.py seed_demo` (demo data): what it creates, that it says what it
created once, and that a second run creates nothing."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from enersolar.models import CRM, Account, AccountRouting, ApiKey, Department
from enersolar.roles import ADMIN
from enersolar.services import api_key_digest
from routing.models import Order
from tracking.models import Form, LandingPage

pytestmark = pytest.mark.django_db

MODELS = [CRM, Account, AccountRouting, ApiKey, LandingPage, Form, Order, get_user_model()]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def output() -> str:
    return seed()


def test_creates_the_two_crms(output):
    assert set(CRM.objects.values_list("slug", "name")) == {
        ("zr7", "ZR7 Digital"),
        ("mdl", "Maison du Lead"),
    }
    for crm in CRM.objects.all():
        assert crm.is_active
        assert crm.api_url.endswith(f"/{crm.slug}/lead/api/create_lead/")


def test_creates_the_demo_account_with_origin_zr7(output):
    account = Account.objects.get()
    assert account.name == "Démo Solaire"
    assert account.origin_crm.slug == "zr7"


def test_routes_pv_and_pac_to_zr7_and_ite_to_mdl_with_keys(output):
    routings = {
        r.product_type.code: r for r in AccountRouting.objects.filter(account__name="Démo Solaire")
    }
    assert {code: r.crm.slug for code, r in routings.items()} == {
        "PV": "zr7",
        "PAC": "zr7",
        "ITE": "mdl",
    }
    keys = [r.api_key for r in routings.values()]
    assert all(keys)
    assert len(set(keys)) == 3


def test_creates_one_landing_page_and_form_per_product(output):
    forms = {f.code: f for f in Form.objects.select_related("landing_page")}
    assert set(forms) == {"PV-001", "PAC-001", "ITE-001"}
    assert forms["PV-001"].landing_page.code == "LP-001"
    assert LandingPage.objects.get(code="LP-001").linked_form == forms["PV-001"]
    assert forms["PV-001"].allow_cross_crm is True
    for code in ["PAC-001", "ITE-001"]:
        landing_page = forms[code].landing_page
        assert landing_page.code in {"LP-002", "LP-003"}
        assert landing_page.linked_form == forms[code]
        assert forms[code].account.name == "Démo Solaire"
    assert forms["PAC-001"].landing_page != forms["ITE-001"].landing_page
    assert LandingPage.objects.count() == 3


def test_creates_the_four_orders_with_prices_and_departments(output):
    orders = {
        (o.crm.slug, o.product_type.code): o
        for o in Order.objects.select_related("crm", "product_type")
    }
    assert {key: o.unit_price for key, o in orders.items()} == {
        ("zr7", "PV"): Decimal("25.00"),
        ("mdl", "PV"): Decimal("30.00"),
        ("zr7", "PAC"): Decimal("35.00"),
        ("mdl", "ITE"): Decimal("40.00"),
    }
    zr7_pv = set(orders["zr7", "PV"].departments.values_list("code", flat=True))
    assert len(zr7_pv) == 95
    assert zr7_pv == set(Department.objects.exclude(code="13").values_list("code", flat=True))
    assert set(orders["mdl", "PV"].departments.values_list("code", flat=True)) == {"13"}
    assert not orders["zr7", "PAC"].departments.exists()  # empty = every department
    assert not orders["mdl", "ITE"].departments.exists()
    assert all(o.is_active and o.api_key for o in orders.values())


def test_creates_an_admin_superuser_whose_password_is_printed(output):
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff
    assert user.groups.filter(name=ADMIN).exists()
    match = re.search(r"Admin login: admin / (\S+)", output)
    assert match
    assert user.check_password(match.group(1))


def test_creates_a_partner_key_whose_raw_key_is_printed(output):
    api_key = ApiKey.objects.get()
    assert api_key.account.name == "Démo Solaire"
    assert api_key.is_active
    match = re.search(r"Partner API key \(shown once\): (\S+)", output)
    assert match
    assert api_key_digest(match.group(1)) == api_key.key_hash


def test_a_second_run_creates_nothing_and_says_so(output):
    before = counts()
    forms_before = set(Form.objects.values_list("code", flat=True))

    second = seed()

    assert counts() == before
    assert set(Form.objects.values_list("code", flat=True)) == forms_before
    assert "nothing created" in second
    assert "Admin login" not in second
    assert "Partner API key" not in second


def test_a_second_run_keeps_the_admin_password(output):
    password = re.search(r"Admin login: admin / (\S+)", output).group(1)

    seed()

    assert get_user_model().objects.get(username="admin").check_password(password)


def test_crm_url_option_sets_the_url():
    seed("--crm-url-zr7", "http://127.0.0.1:8765/lead/api/create_lead/")

    assert CRM.objects.get(slug="zr7").api_url == "http://127.0.0.1:8765/lead/api/create_lead/"
    assert CRM.objects.get(slug="mdl").api_url != "http://127.0.0.1:8765/lead/api/create_lead/"


def test_crm_url_option_updates_an_existing_crm(output):
    seed("--crm-url-zr7", "http://127.0.0.1:8765/lead/api/create_lead/")
    seed("--crm-url-mdl", "http://127.0.0.1:8766/lead/api/create_lead/")

    assert CRM.objects.get(slug="zr7").api_url == "http://127.0.0.1:8765/lead/api/create_lead/"
    assert CRM.objects.get(slug="mdl").api_url == "http://127.0.0.1:8766/lead/api/create_lead/"
    assert CRM.objects.count() == 2
