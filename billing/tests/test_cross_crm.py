"""Cross-CRM billing (SPEC §6): a lead of origin CRM A delivered (success) to
CRM B makes B owe A its unit price; balances per CRM and per pair, the leads
themselves, over 7 or 30 days or from/to Paris days."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.models import LeadReturn
from billing.selectors import cross_crm_summary
from leads.models import Lead
from routing.models import Delivery

from .builders import crm_make, delivered_make

pytestmark = pytest.mark.django_db

D = Decimal
NOW = datetime(2025, 3, 20, 11, 0, tzinfo=UTC)  # 12:00 in Paris
SUMMARY, LIST = "/api/billing/cross-crm/summary", "/api/billing/cross-crm"


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def crms(db):
    return {slug: crm_make(slug) for slug in ("a", "b", "c")}


@pytest.fixture
def traffic(crms, now):
    """What counts, and next to it what does not."""
    a, b, c = crms["a"], crms["b"], crms["c"]
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    counted = [
        delivered_make(origin=a, target=b, price="25.00", at=days(1)),
        delivered_make(origin=a, target=b, price="30.00", at=days(2)),
        delivered_make(origin=b, target=a, price="40.00", at=days(3)),
        delivered_make(origin=a, target=c, price="10.00", at=days(10)),  # 30 days only
    ]
    returned = delivered_make(origin=a, target=b, price="70.00", at=days(1))
    LeadReturn.objects.create(lead=returned.lead, reason="faux numéro")
    Lead.objects.filter(pk=returned.pk).update(status=Lead.Status.RETURNED)
    not_counted = [
        returned,
        delivered_make(origin=c, target=b, price="15.00", at=days(40)),  # too old
        delivered_make(origin=a, target=a, price="50.00", at=days(1)),  # its own CRM
        delivered_make(origin=None, target=b, price="20.00", at=days(1)),  # no origin
        delivered_make(origin=a, target=b, price="99.00", at=days(1), state=Delivery.State.FAILED),
        delivered_make(origin=a, target=b, price="98.00", at=days(1), state=Delivery.State.PENDING),
    ]
    return {"counted": counted, "not_counted": not_counted}


def balances(summary) -> dict:
    return {
        b.slug: (b.receivable, b.payable, b.net, b.leads_sold, b.leads_bought) for b in summary.crms
    }


def pairs(summary) -> set:
    return {(p["creditor"], p["debtor"], p["leads"], p["amount"]) for p in summary.pairs}


# --- The selector ------------------------------------------------------------------


def test_only_successful_deliveries_to_another_crm_count(traffic, now):
    summary = cross_crm_summary(now - timedelta(days=30), now)

    assert pairs(summary) == {
        ("a", "b", 2, D("55.00")),
        ("a", "c", 1, D("10.00")),
        ("b", "a", 1, D("40.00")),
    }
    assert balances(summary) == {
        # receivable, payable, net, sold, bought
        "a": (D("65.00"), D("40.00"), D("25.00"), 3, 1),
        "b": (D("40.00"), D("55.00"), D("-15.00"), 1, 2),
        "c": (D("0.00"), D("10.00"), D("-10.00"), 0, 1),
    }


def test_the_period_bounds_the_leads(traffic, now):
    summary = cross_crm_summary(now - timedelta(days=7), now)
    assert pairs(summary) == {("a", "b", 2, D("55.00")), ("b", "a", 1, D("40.00"))}
    assert balances(summary)["c"] == (D("0"), D("0"), D("0"), 0, 0)


def test_a_returned_lead_leaves_the_balances(crms, now):
    kept = delivered_make(origin=crms["a"], target=crms["b"], price="25.00", at=now)
    gone = delivered_make(origin=crms["a"], target=crms["b"], price="30.00", at=now)
    window = (now - timedelta(days=1), now + timedelta(seconds=1))
    assert pairs(cross_crm_summary(*window)) == {("a", "b", 2, D("55.00"))}

    LeadReturn.objects.create(lead=gone.lead, reason="injoignable")

    assert pairs(cross_crm_summary(*window)) == {("a", "b", 1, D("25.00"))}
    assert kept.pk != gone.pk


# --- The API -----------------------------------------------------------------------


def as_decimal(value) -> Decimal:
    return D(str(value)).quantize(D("0.01"))


def api_balances(data) -> dict:
    return {
        row["crm"]: (
            as_decimal(row["receivable"]),
            as_decimal(row["payable"]),
            as_decimal(row["net"]),
        )
        for row in data["crms"]
    }


def api_pairs(data) -> set:
    return {
        (p["creditor"], p["debtor"], p["leads"], as_decimal(p["amount"])) for p in data["pairs"]
    }


@pytest.mark.parametrize("url", [SUMMARY, LIST])
def test_summary_over_30_days_by_default_and_on_request(admin_client, traffic, url):
    for query in ({}, {"period": "30d"}):
        response = admin_client.get(url, query)
        assert response.status_code == 200
        data = response.json()
        assert api_balances(data) == {
            "a": (D("65.00"), D("40.00"), D("25.00")),
            "b": (D("40.00"), D("55.00"), D("-15.00")),
            "c": (D("0.00"), D("10.00"), D("-10.00")),
        }
        assert api_pairs(data) == {
            ("a", "b", 2, D("55.00")),
            ("a", "c", 1, D("10.00")),
            ("b", "a", 1, D("40.00")),
        }


@pytest.mark.parametrize("url", [SUMMARY, LIST])
def test_summary_over_7_days(admin_client, traffic, url):
    data = admin_client.get(url, {"period": "7d"}).json()
    assert api_balances(data) == {
        "a": (D("55.00"), D("40.00"), D("15.00")),
        "b": (D("40.00"), D("55.00"), D("-15.00")),
        "c": (D("0.00"), D("0.00"), D("0.00")),
    }
    assert api_pairs(data) == {("a", "b", 2, D("55.00")), ("b", "a", 1, D("40.00"))}


def test_the_list_holds_the_cross_crm_leads_themselves(admin_client, traffic):
    data = admin_client.get(LIST, {"period": "30d"}).json()

    counted = traffic["counted"]
    assert data["leads"]["count"] == len(counted)
    rows = data["leads"]["results"]
    # Newest first.
    assert [row["lead_id"] for row in rows] == [str(d.pk) for d in counted]
    first = rows[0]
    assert (first["creditor"], first["debtor"], first["unit_price"]) == ("a", "b", "25.00")
    assert (first["product"], first["departement"]) == ("PV", "75")


@pytest.fixture
def paris_midnights(crms):
    """Deliveries on each side of the Paris midnights of 10 and 11 March 2025
    (UTC+1): a UTC day would put two of them on the wrong day."""
    a, b = crms["a"], crms["b"]
    at = {
        "9th 23:30": datetime(2025, 3, 9, 22, 30, tzinfo=UTC),
        "10th 00:30": datetime(2025, 3, 9, 23, 30, tzinfo=UTC),
        "10th 23:30": datetime(2025, 3, 10, 22, 30, tzinfo=UTC),
        "11th 00:30": datetime(2025, 3, 10, 23, 30, tzinfo=UTC),
    }
    return {
        name: delivered_make(origin=a, target=b, price="10.00", at=moment)
        for name, moment in at.items()
    }


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("2025-03-10", "2025-03-10", ["10th 23:30", "10th 00:30"]),  # `to` included
        ("2025-03-10", "2025-03-11", ["11th 00:30", "10th 23:30", "10th 00:30"]),
        ("2025-03-01", "2025-03-09", ["9th 23:30"]),
    ],
)
def test_from_to_are_paris_days_with_to_included(
    admin_client, paris_midnights, now, first, last, expected
):
    data = admin_client.get(LIST, {"from": first, "to": last}).json()

    assert [row["lead_id"] for row in data["leads"]["results"]] == [
        str(paris_midnights[name].pk) for name in expected
    ]
    assert api_pairs(data) == {("a", "b", len(expected), D("10.00") * len(expected))}
    summary = admin_client.get(SUMMARY, {"from": first, "to": last}).json()
    assert api_pairs(summary) == api_pairs(data)


@pytest.mark.parametrize("url", [SUMMARY, LIST])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"period": "90d"}, "period"),
        ({"period": "week"}, "period"),
        ({"from": "2025-03-01"}, "from"),  # no `to`
        ({"to": "2025-03-01"}, "from"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "from"),  # backwards
        ({"from": "10/03/2025", "to": "2025-03-11"}, "from"),  # not ISO
    ],
)
def test_a_bad_period_is_a_400_in_json(admin_client, crms, url, query, field):
    response = admin_client.get(url, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert field in body["fields"]


def test_the_cross_crm_leads_are_paginated(admin_client, crms, now):
    for n in range(60):
        delivered_make(
            origin=crms["a"], target=crms["b"], price="5.00", at=now - timedelta(minutes=n + 1)
        )

    page1 = admin_client.get(LIST, {"period": "7d"}).json()["leads"]
    assert page1["count"] == 60
    assert len(page1["results"]) == 50
    assert page1["previous"] is None
    assert "page=2" in page1["next"]
    assert "period=7d" in page1["next"]  # the period follows the pages

    page2 = admin_client.get(page1["next"]).json()["leads"]
    assert len(page2["results"]) == 10
    assert page2["next"] is None
    ids = [r["lead_id"] for r in page1["results"] + page2["results"]]
    assert len(set(ids)) == 60

    assert admin_client.get(LIST, {"period": "7d", "page": 9}).status_code == 404


# --- Permissions ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [SUMMARY, LIST])
def test_only_billing_viewers_see_the_balances(
    admin_client, editor_client, viewer_client, crms, url
):
    assert admin_client.get(url).status_code == 200
    assert editor_client.get(url).status_code == 403
    assert viewer_client.get(url).status_code == 403
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"


# --- Query counts ------------------------------------------------------------------


def add_cross_crm_leads(crms, now, count: int) -> None:
    pairs_cycle = [("a", "b"), ("b", "a"), ("a", "c"), ("c", "b")]
    for n in range(count):
        origin, target = pairs_cycle[n % len(pairs_cycle)]
        delivered_make(
            origin=crms[origin],
            target=crms[target],
            price="12.50",
            at=now - timedelta(hours=n % 600, minutes=1),
        )


@pytest.mark.parametrize("url", [SUMMARY, LIST])
def test_the_number_of_queries_does_not_grow_with_the_leads(
    admin_user, crms, now, url, django_assert_max_num_queries
):
    # Authentication and the permission check are a fixed cost, paid once
    # here: the user object keeps its permission cache between requests.
    client = APIClient()
    client.force_authenticate(admin_user)
    assert client.get(url).status_code == 200

    counts, existing = [], 0
    for total in (10, 300):
        add_cross_crm_leads(crms, now, total - existing)
        existing = total
        with django_assert_max_num_queries(5), CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"period": "30d"})
        assert response.status_code == 200
        leads = sum(pair["leads"] for pair in response.json()["pairs"])
        assert leads == total
        counts.append(len(queries))
    assert counts[0] == counts[1]
