"""Partner API — POST /api/v1/leads with an account API key (SPEC §3.2)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from enersolar.models import ApiKey
from enersolar.services import api_key_create, api_key_revoke
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, UserFactory, product
from enersolar.tests.helpers import public_client
from leads.models import Lead
from leads.tests.factories import LeadFactory
from tracking.tests.factories import FormFactory

URL = "/api/v1/leads"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def form():
    form = FormFactory()
    AccountRoutingFactory(
        account=form.account,
        product_type=product("PV"),
        crm=CRMFactory(slug="zr7", name="ZR7", only_ordered_leads=False),
    )
    return form


@pytest.fixture
def key(form):
    """(ApiKey, raw key) of the form's account."""
    return api_key_create(account=form.account, name="partner")


@pytest.fixture
def client():
    return public_client()


def lead_body(**overrides) -> dict:
    body = {
        "phone": "0612345678",
        "nom": "Martin",
        "prenom": "Paul",
        "departement": "69",
        "code_postal": "69003",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def token(raw_key):
    return {"HTTP_AUTHORIZATION": f"Token {raw_key}"}


def assert_401(response):
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False
    assert response.json()["error"]
    assert not Lead.objects.exists()


def test_lead_with_authorization_token(client, form, key):
    api_key, raw = key
    response = post(client, lead_body(form_code=form.code), **token(raw))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "pending"
    assert body["crm"] == "zr7"
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.source == Lead.Source.PARTNER
    assert lead.api_key == api_key
    assert lead.account == form.account
    assert lead.form == form
    assert lead.product_type == product("PV")
    assert lead.session is None


def test_lead_with_x_api_key(client, form, key):
    _, raw = key
    response = post(client, lead_body(form_code=form.code), HTTP_X_API_KEY=raw)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"


def test_missing_key_answers_401(client, form):
    response = post(client, lead_body(form_code=form.code))
    assert_401(response)
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Token es_not-a-real-key"},
        {"HTTP_X_API_KEY": "es_not-a-real-key"},
        {"HTTP_AUTHORIZATION": "Token"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    ],
)
def test_invalid_key_answers_401(client, form, key, headers):
    assert_401(post(client, lead_body(form_code=form.code), **headers))


def test_revoked_key_answers_401(client, form, key):
    api_key, raw = key
    api_key_revoke(api_key=api_key)
    assert_401(post(client, lead_body(form_code=form.code), **token(raw)))
    assert_401(post(client, lead_body(form_code=form.code), HTTP_X_API_KEY=raw))


def test_a_staff_session_is_no_partner_key(form):
    client = public_client()
    client.force_login(UserFactory(is_superuser=True))
    assert_401(post(client, lead_body(form_code=form.code)))


def test_last_used_at_is_set_and_not_rewritten_within_a_minute(client, form, key):
    api_key, raw = key
    assert api_key.last_used_at is None

    with time_machine.travel(T0, tick=False) as traveller:
        post(client, lead_body(form_code=form.code), **token(raw))
        api_key.refresh_from_db()
        assert api_key.last_used_at == T0

        traveller.shift(timedelta(seconds=50))
        post(client, lead_body(form_code=form.code, phone="0698765432"), **token(raw))
        api_key.refresh_from_db()
        assert api_key.last_used_at == T0

        traveller.shift(timedelta(seconds=20))  # 70 s after the first use
        post(client, lead_body(form_code=form.code, phone="0687654321"), **token(raw))
        api_key.refresh_from_db()
        assert api_key.last_used_at == T0 + timedelta(seconds=70)


def test_failed_authentication_does_not_touch_last_used_at(client, form, key):
    api_key, raw = key
    api_key_revoke(api_key=api_key)
    post(client, lead_body(form_code=form.code), **token(raw))
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None


def test_form_of_another_account_makes_an_orphan(client, key):
    other_form = FormFactory()
    _, raw = key
    response = post(client, lead_body(form_code=other_form.code), **token(raw))

    body = response.json()
    assert body["status"] == "orphan"
    assert body["stored"] is True
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.reasons == ["FORM_NOT_FOUND"]
    assert lead.form is None
    assert lead.form_code == other_form.code


def test_product_type_without_form_code(client, form, key):
    api_key, raw = key
    response = post(client, lead_body(product_type="pv"), **token(raw))

    body = response.json()
    assert body["status"] == "pending"
    assert body["crm"] == "zr7"
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.product_type == product("PV")
    assert lead.account == api_key.account
    assert lead.form is None


def test_unknown_product_type_makes_an_orphan(client, key):
    _, raw = key
    response = post(client, lead_body(product_type="XYZ"), **token(raw))
    body = response.json()
    assert body["status"] == "orphan"
    assert Lead.objects.get(pk=body["lead_id"]).reasons == ["PRODUCT_NOT_FOUND"]


def test_neither_form_code_nor_product_type_answers_400(client, key):
    _, raw = key
    response = post(client, lead_body(), **token(raw))

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert "form_code" in body["error"]
    assert not Lead.objects.exists()


def test_missing_phone_answers_400(client, form, key):
    _, raw = key
    response = post(client, lead_body(form_code=form.code, phone=None), **token(raw))
    assert response.status_code == 400
    assert "phone" in response.json()["error"]


def test_same_checks_as_the_public_api(client, form, key):
    _, raw = key
    original = LeadFactory(phone="0612345678", form=FormFactory())
    duplicate = post(client, lead_body(form_code=form.code), **token(raw)).json()
    invalid = post(client, lead_body(form_code=form.code, phone="0102030405"), **token(raw)).json()
    missing = post(client, lead_body(form_code=form.code, nom="", phone="0698765432"), **token(raw))

    assert duplicate["status"] == "duplicate_internal"
    assert Lead.objects.get(pk=duplicate["lead_id"]).reasons == [f"DUPLICATE:{original.pk}"]
    assert invalid["status"] == "invalid_phone"
    assert missing.json()["status"] == "missing_required"


def test_partner_submission_takes_at_most_10_queries(
    client, form, key, django_assert_max_num_queries
):
    _, raw = key
    with django_assert_max_num_queries(10):
        response = post(client, lead_body(form_code=form.code), **token(raw))
    assert response.json()["status"] == "pending"


def test_partner_submission_with_product_type_takes_at_most_10_queries(
    client, form, key, django_assert_max_num_queries
):
    _, raw = key
    with django_assert_max_num_queries(10):
        response = post(client, lead_body(product_type="PV"), **token(raw))
    assert response.json()["status"] == "pending"
