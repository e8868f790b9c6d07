"""GET /api/leads (SPEC §8, staff): every filter of the admin's lead list,
cursor pagination without COUNT(*), token or session auth, the view_lead
permission, and a query count that does not grow with the page."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from enersolar.roles import EDITOR, VIEWER
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, UserFactory, product
from leads.models import Lead
from leads.tests.factories import LeadFactory
from routing.lead_apis import LeadCursorPagination
from routing.models import Delivery
from tracking.tests.factories import FormFactory

from .factories import DeliveryFactory
from .helpers import make_world

pytestmark = pytest.mark.django_db

URL = "/api/leads"


@pytest.fixture
def world():
    return make_world("http://127.0.0.1:9/zr7/")


def with_token(client, role=VIEWER, **fields):
    user = UserFactory(role=role, **fields)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return user


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_a_routed_lead_with_its_delivery(client, world):
    lead = world.lead(phone="0612345678", email="claire@example.com", departement="69")
    DeliveryFactory(lead=lead, order=world.order, state=Delivery.State.SUCCESS, attempts=2)
    with_token(client)

    [row] = client.get(URL).json()["results"]

    assert row["id"] == str(lead.pk)
    assert row["status"] == "pending" and row["product_type"] == "PV"
    assert row["account"] == world.account.name and row["account_id"] == world.account.pk
    assert row["origin_crm"] == "zr7"
    # Full phone and e-mail: what view_lead already shows in the admin list.
    assert row["phone"] == "0612345678" and row["email"] == "claire@example.com"
    assert row["departement"] == "69"
    assert row["delivery"] == {
        "target_crm": "zr7",
        "origin_crm": "zr7",
        "routing_source": "account_routing",
        "cross_crm": False,
        "state": "success",
        "attempts": 2,
        "unit_price": "25.00",
        "routed_at": row["delivery"]["routed_at"],
        "delivered_at": None,
        "last_error": "",
    }


def test_a_rejected_lead_has_its_reasons_and_no_delivery(client, world):
    world.lead(status=Lead.Status.INVALID_PHONE, reasons=["PHONE_INVALID"])
    with_token(client)

    [row] = client.get(URL).json()["results"]

    assert row["status"] == "invalid_phone" and row["reasons"] == ["PHONE_INVALID"]
    assert row["delivery"] is None


@pytest.fixture
def market(world):
    """Leads that differ in one filtered field each, from the baseline."""
    mdl = CRMFactory(slug="mdl", name="MDL")
    pac_form = FormFactory(account=world.account, landing_page=world.form.landing_page)
    pac_form.product_type = product("PAC")
    pac_form.save()
    other_routing = AccountRoutingFactory(crm=mdl)  # an account of MDL's traffic
    other_form = FormFactory(account=other_routing.account)
    other_form.account.origin_crm = mdl
    other_form.account.save()
    leads = {
        "baseline": world.lead(created_at=datetime(2026, 3, 10, 12, tzinfo=UTC)),
        "failed": world.lead(
            status=Lead.Status.FAILED, created_at=datetime(2026, 3, 10, 13, tzinfo=UTC)
        ),
        "pac": LeadFactory(form=pac_form, created_at=datetime(2026, 3, 10, 14, tzinfo=UTC)),
        "other_account": LeadFactory(
            form=other_form, created_at=datetime(2026, 3, 10, 15, tzinfo=UTC)
        ),
        "lyon": world.lead(departement="69", created_at=datetime(2026, 3, 10, 16, tzinfo=UTC)),
        # 23:30 UTC on the 11th is already the 12th in Paris.
        "late": world.lead(created_at=datetime(2026, 3, 11, 23, 30, tzinfo=UTC)),
        "cross": world.lead(created_at=datetime(2026, 3, 9, 12, tzinfo=UTC)),
        "phone": world.lead(
            phone="0698765432",
            email="paul@example.com",
            created_at=datetime(2026, 3, 9, 13, tzinfo=UTC),
        ),
    }
    for name in ("baseline", "failed", "lyon", "late", "phone"):
        DeliveryFactory(lead=leads[name], order=world.order)
    DeliveryFactory(lead=leads["cross"], crm=mdl, source=Delivery.Source.CROSS_CRM)
    return {name: str(lead.pk) for name, lead in leads.items()}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"status": "failed"}, {"failed"}),
        ({"status": ["failed", "pending"]}, "all"),
        ({"product": "pac"}, {"pac"}),
        ({"origin_crm": "mdl"}, {"other_account"}),
        ({"target_crm": "mdl"}, {"cross"}),
        ({"departement": "69"}, {"lyon"}),
        (
            {"date_from": "2026-03-10", "date_to": "2026-03-10"},
            {"baseline", "failed", "pac", "other_account", "lyon"},
        ),
        ({"date_from": "2026-03-12"}, {"late"}),
        ({"date_to": "2026-03-09"}, {"cross", "phone"}),
        ({"cross_crm": "true"}, {"cross"}),
        ({"phone": "+33 6 98 76 54 32"}, {"phone"}),
        ({"email": "Paul@Example.com"}, {"phone"}),
    ],
)
def test_filters(client, market, params, expected):
    with_token(client)
    if expected == "all":
        expected = set(market)
    assert ids(client.get(URL, params)) == {market[name] for name in expected}


def test_account_filter_and_not_cross_crm(client, world, market):
    with_token(client)
    assert market["other_account"] not in ids(client.get(URL, {"account": world.account.pk}))
    not_cross = ids(client.get(URL, {"cross_crm": "false"}))
    assert market["cross"] not in not_cross and market["baseline"] in not_cross
    assert market["pac"] in not_cross  # never routed: not cross-CRM either


@pytest.mark.parametrize("params", [{"status": "lost"}, {"date_from": "2026-13-45"}])
def test_a_bad_filter_is_a_400(client, world, params):
    with_token(client)
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_cursor_pages_walk_every_lead_newest_first_without_counting(client, world):
    created = [
        world.lead(created_at=datetime(2026, 3, 1, 12, minute, tzinfo=UTC)) for minute in range(7)
    ]
    # Two leads at the same instant: the cursor must neither skip nor repeat one.
    created.append(world.lead(created_at=created[3].created_at))
    with_token(client)

    seen, url, pages = [], f"{URL}?page_size=3", 0
    while url:
        body = client.get(url).json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        url, pages = body["next"], pages + 1

    assert pages == 3
    assert sorted(seen) == sorted(str(lead.pk) for lead in created)
    assert len(seen) == len(set(seen)) == 8
    assert seen[0] == str(created[6].pk)


@pytest.mark.parametrize(
    "admin_params, api_params",
    [
        ({"origin_crm": "mdl"}, {"origin_crm": "mdl"}),
        ({"target_crm": "mdl"}, {"target_crm": "mdl"}),
        ({"cross_crm": "yes"}, {"cross_crm": "true"}),
        ({"cross_crm": "no"}, {"cross_crm": "false"}),
        ({"departement": "69"}, {"departement": "69"}),
        ({"q": "+33 6 98 76 54 32"}, {"phone": "+33 6 98 76 54 32"}),
        ({"q": "Paul@Example.com"}, {"email": "Paul@Example.com"}),
    ],
)
def test_the_admin_lead_list_filters_mean_what_the_api_filters_mean(
    client, admin_client, market, admin_params, api_params
):
    with_token(client)
    page = admin_client.get(reverse("admin:leads_lead_changelist"), admin_params)
    assert page.status_code == 200
    shown = set(
        re.findall(
            r'<th class="field-created_at[^"]*"><a href="/admin/leads/lead/([0-9a-f-]{36})/',
            page.content.decode(),
        )
    )

    assert shown == ids(client.get(URL, api_params))
    assert shown  # not two empty lists agreeing


def test_page_size_is_capped(client, world, monkeypatch):
    monkeypatch.setattr(LeadCursorPagination, "max_page_size", 2)
    for _ in range(3):
        world.lead()
    with_token(client)

    response = client.get(URL, {"page_size": 100000})

    assert response.status_code == 200  # capped, not refused
    body = response.json()
    assert len(body["results"]) == 2
    assert body["next"]


def test_queries_do_not_grow_with_the_page(client, world, django_assert_max_num_queries):
    with_token(client)
    for _ in range(2):
        DeliveryFactory(lead=world.lead(), order=world.order)
    world.lead(status=Lead.Status.ORPHAN)
    with django_assert_max_num_queries(5) as few:
        assert len(ids(client.get(URL))) == 3

    for _ in range(20):
        DeliveryFactory(lead=world.lead(), order=world.order)
        world.lead(status=Lead.Status.MISSING_REQUIRED)
    with django_assert_max_num_queries(len(few)):
        assert len(ids(client.get(URL))) == 43


def test_session_authentication_works_too(client, world):
    world.lead()
    client.force_login(UserFactory(role=EDITOR))
    assert len(ids(client.get(URL))) == 1


def test_without_credentials_401_with_a_token_challenge(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert client.get(URL, HTTP_AUTHORIZATION="Token nope").status_code == 401


def test_staff_without_view_lead_get_403(client, world):
    with_token(client, role=None)
    assert client.get(URL).status_code == 403


def test_a_non_staff_user_gets_403_whatever_its_role(client, world):
    with_token(client, role=VIEWER, is_staff=False)
    assert client.get(URL).status_code == 403


def test_a_status_filter_never_makes_the_query_distinct(client, world):
    """SELECT DISTINCT would sort every matching lead before the page is cut."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    world.lead()
    with_token(client)
    with CaptureQueriesContext(connection) as queries:
        assert len(ids(client.get(URL, {"status": ["pending", "failed"]}))) == 1

    lead_queries = [q["sql"] for q in queries if 'FROM "leads_lead"' in q["sql"]]
    assert len(lead_queries) == 1
    assert "DISTINCT" not in lead_queries[0]
