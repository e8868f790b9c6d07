"""GET /api/forms (SPEC §8, staff): filters, codes, LP, the cards' counters;
token or session auth, the view_form permission; queries independent of the
number of forms. Cross-app: the counters read leads."""

from datetime import datetime

import pytest
from rest_framework.authtoken.models import Token

from enersolar.roles import EDITOR, VIEWER
from enersolar.tests.factories import AccountFactory, UserFactory, product
from leads.models import Lead
from leads.tests.factories import LeadFactory, form_finishes
from tracking.models import Form
from tracking.services import form_stats_reset
from tracking.tests.factories import (
    FormFactory,
    LandingPageFactory,
    form_starts,
)

pytestmark = pytest.mark.django_db

URL = "/api/forms"


def with_token(client, role=VIEWER, **fields):
    user = UserFactory(role=role, **fields)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return user


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_a_form_with_its_codes_lp_account_and_counters(client):
    account = AccountFactory(name="Soleil SAS")
    form = FormFactory(
        name="PV Lyon",
        account=account,
        landing_page=LandingPageFactory(account=account, name="LP Lyon", url="https://lp.fr/"),
    )
    form_starts(form, 2)
    [lead] = form_finishes(form, 1)
    LeadFactory(form=form, session=lead.session, status=Lead.Status.DOUBLE_SUBMIT)
    LeadFactory(form=form)  # no form_start: direct
    with_token(client)

    response = client.get(URL)

    assert response.status_code == 200
    [row] = response.json()["results"]
    lp = form.landing_page
    assert row == {
        "id": form.pk,
        "code": "PV-001",
        "name": "PV Lyon",
        "product_type": "PV",
        "status": "active",
        "account": {"id": account.pk, "name": "Soleil SAS"},
        "landing_page": {"id": lp.pk, "code": lp.code, "name": "LP Lyon", "url": "https://lp.fr/"},
        "liaison_code": f"{lp.code}_PV-001",
        "conversion_mode": "redirect",
        "allow_cross_crm": False,
        "created_at": row["created_at"],
        "stats": {"started": 3, "finished": 1, "conversion": "33.3", "direct": 1, "since": None},
    }


def test_counters_since_the_last_reset_and_none_conversion_without_starts(client):
    form = FormFactory()
    form_starts(form, 2)
    form_stats_reset(form=form)
    LeadFactory(form=form)
    with_token(client)

    [row] = client.get(URL).json()["results"]

    assert (row["stats"]["started"], row["stats"]["finished"], row["stats"]["direct"]) == (0, 0, 1)
    assert row["stats"]["conversion"] is None
    form.refresh_from_db()
    assert datetime.fromisoformat(row["stats"]["since"]) == form.stats_reset_at


def test_filters_by_product_status_and_account(client):
    pv = FormFactory(product_type=product("PV"))
    pac = FormFactory(product_type=product("PAC"))
    archived = FormFactory(product_type=product("PAC"), status=Form.Status.ARCHIVED)
    with_token(client)

    assert codes(client.get(URL, {"product": "pac"})) == [pac.code, archived.code]
    assert codes(client.get(URL, {"status": "archived"})) == [archived.code]
    assert codes(client.get(URL, {"product": "PAC", "status": "active"})) == [pac.code]
    assert codes(client.get(URL, {"account": pv.account_id})) == [pv.code]
    assert sorted(codes(client.get(URL))) == sorted([pv.code, pac.code, archived.code])


def test_q_searches_codes_and_names_like_the_cards(client):
    lyon = FormFactory(name="PV Lyon")
    other = FormFactory(name="PAC Nantes")
    with_token(client)

    assert codes(client.get(URL, {"q": "lyon"})) == [lyon.code]
    assert codes(client.get(URL, {"q": other.code.lower()})) == [other.code]
    assert codes(client.get(URL, {"q": other.landing_page.code})) == [other.code]


def test_an_unknown_status_is_a_400(client):
    with_token(client)
    response = client.get(URL, {"status": "deleted"})
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_session_authentication_works_too(client):
    FormFactory()
    client.force_login(UserFactory(role=EDITOR))
    assert len(codes(client.get(URL))) == 1


def test_without_credentials_401_with_a_token_challenge(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert client.get(URL, HTTP_AUTHORIZATION="Token not-a-token").status_code == 401


def test_staff_without_view_form_get_403(client):
    with_token(client, role=None)  # staff, no role
    assert client.get(URL).status_code == 403


def test_a_non_staff_user_gets_403_whatever_its_role(client):
    with_token(client, role=VIEWER, is_staff=False)
    assert client.get(URL).status_code == 403


def test_queries_do_not_grow_with_the_number_of_forms(client, django_assert_max_num_queries):
    with_token(client)
    for _ in range(2):
        form = FormFactory()
        form_starts(form, 1)
        LeadFactory(form=form)
    with django_assert_max_num_queries(6) as few:
        assert len(codes(client.get(URL))) == 2

    for _ in range(20):
        form = FormFactory(product_type=product("ITE"))
        form_starts(form, 2)
        LeadFactory(form=form)
    with django_assert_max_num_queries(len(few)):
        assert len(codes(client.get(URL))) == 22
