"""Public configuration endpoints used by the brief scripts (SPEC §9)."""

from decimal import Decimal

import pytest

from enersolar.france import DEPARTMENTS
from enersolar.tests.helpers import public_client
from tracking.models import Form
from tracking.tests.factories import FormFactory, LandingPageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return public_client()


@pytest.fixture
def form():
    form = FormFactory(
        redirect_url="https://merci.example.com/pv",
        conversion_mode=Form.ConversionMode.BOTH,
        aid_maprimerenov=Decimal("4000.00"),
        aid_cee=Decimal("500.50"),
    )
    account = form.account
    account.logo_url = "https://cdn.example.com/logo.png"
    account.legal_notice = "Mentions légales"
    account.privacy_text = "RGPD"
    account.save()
    return form


def assert_public_form(body, form):
    assert body["success"] is True
    assert body["form_code"] == form.code
    assert body["form_id"] == form.pk
    assert body["name"] == form.name
    assert body["product_type"] == "PV"
    assert body["lp_code"] == form.landing_page.code
    assert body["liaison_code"] == f"{form.landing_page.code}_{form.code}"
    assert body["redirect_url"] == "https://merci.example.com/pv"
    assert body["conversion_mode"] == "both"
    assert Decimal(body["aid_maprimerenov"]) == Decimal("4000.00")
    assert Decimal(body["aid_cee"]) == Decimal("500.50")
    assert body["account"]["name"] == form.account.name
    assert body["account"]["logo_url"] == "https://cdn.example.com/logo.png"
    assert body["account"]["legal_notice"] == "Mentions légales"
    assert body["account"]["privacy_text"] == "RGPD"


def assert_404_json(response):
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]


def test_public_form_by_code(client, form):
    response = client.get(f"/api/forms/public/{form.code}")
    assert response.status_code == 200
    assert_public_form(response.json(), form)


def test_public_form_by_id(client, form):
    response = client.get(f"/api/forms/public/{form.pk}")
    assert response.status_code == 200
    assert_public_form(response.json(), form)


def test_public_form_exposes_no_secret(client, form):
    form.crm_override_api_key = "override-secret-key"
    form.save()
    text = client.get(f"/api/forms/public/{form.code}").content.decode()
    assert "override-secret-key" not in text
    assert "crm_override" not in text


def test_public_form_falls_back_to_the_accounts_redirect_url(client):
    form = FormFactory(redirect_url="")
    form.account.redirect_url = "https://merci.example.com/compte"
    form.account.save()
    body = client.get(f"/api/forms/public/{form.code}").json()
    assert body["redirect_url"] == "https://merci.example.com/compte"


def test_archived_form_answers_404(client, form):
    form.status = Form.Status.ARCHIVED
    form.save()
    assert_404_json(client.get(f"/api/forms/public/{form.code}"))
    assert_404_json(client.get(f"/api/forms/public/{form.pk}"))


@pytest.mark.parametrize("code", ["PV-999", "999999", "99999999999999999999999999", "²", "١"])
def test_unknown_form_answers_404_json(client, form, code):
    assert_404_json(client.get(f"/api/forms/public/{code}"))


def test_public_form_by_lp(client, form):
    response = client.get(f"/api/forms/public/by-lp/{form.landing_page.code}")
    assert response.status_code == 200
    assert_public_form(response.json(), form)


def test_by_lp_gives_the_form_the_lp_serves_not_the_newest(client):
    landing_page = LandingPageFactory()
    first = FormFactory(landing_page=landing_page)  # the LP's first form: served
    chosen = FormFactory(landing_page=landing_page)
    FormFactory(landing_page=landing_page)  # newer, not chosen
    assert_public_form_code(client, landing_page, first.code)

    landing_page.form = chosen
    landing_page.save()

    assert_public_form_code(client, landing_page, chosen.code)


def assert_public_form_code(client, landing_page, code):
    body = client.get(f"/api/forms/public/by-lp/{landing_page.code}").json()
    assert body["form_code"] == code


def test_by_lp_without_an_active_form_answers_404(client, form):
    form.status = Form.Status.ARCHIVED
    form.save()
    assert_404_json(client.get(f"/api/forms/public/by-lp/{form.landing_page.code}"))


def test_by_lp_for_an_unknown_lp_answers_404(client):
    assert_404_json(client.get("/api/forms/public/by-lp/LP-404"))


def test_departements(client):
    response = client.get("/api/forms/config/departements")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    departements = body["departements"]
    assert len(departements) == 96
    codes = [d["code"] for d in departements]
    assert len(set(codes)) == 96
    assert "2A" in codes and "2B" in codes
    assert "20" not in codes
    assert {d["code"]: d["nom"] for d in departements} == DEPARTMENTS
    assert {"code": "2A", "nom": "Corse-du-Sud"} in departements


def test_public_config_needs_no_authentication(form):
    client = public_client()
    for url in (
        f"/api/forms/public/{form.code}",
        f"/api/forms/public/by-lp/{form.landing_page.code}",
        "/api/forms/config/departements",
    ):
        assert client.get(url).status_code == 200
