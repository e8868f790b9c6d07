"""Departments dashboard (SPEC §8): leads per department × product × source."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from enersolar.tests.factories import UserFactory
from leads.models import Lead

from .conftest import paris

pytestmark = pytest.mark.django_db
S, SOURCE = Lead.Status, Lead.Source
URL = "/admin/departments/"
CSV_URL = "/admin/departments/export.csv"


@pytest.fixture
def month(shop, frozen):
    """In the last 30 days: Paris 3 PV (ZR7); Bouches-du-Rhône 2 PV (MDL, origin
    MDL) and 1 PAC from a partner (ZR7); Rhône 1 imported ITE (MDL); one lead
    without department; one invalid phone in Paris. Older: one PV in Paris."""
    for _ in range(3):
        shop.lead(at=paris(2026, 3, 9, 12, 0), crm=shop.zr7, departement="75")
    for _ in range(2):
        shop.lead(at=paris(2026, 3, 1, 12, 0), crm=shop.mdl, origin=shop.mdl, departement="13")
    shop.lead(
        at=paris(2026, 2, 20, 12, 0),
        status=S.QUEUED,
        crm=shop.zr7,
        product="PAC",
        departement="13",
        source=SOURCE.PARTNER,
    )
    shop.lead(
        at=paris(2026, 2, 9, 0, 30),  # the first day of the default period
        crm=shop.mdl,
        product="ITE",
        departement="69",
        source=SOURCE.IMPORT,
    )
    shop.lead(at=paris(2026, 3, 10, 8, 0), crm=shop.zr7, departement="")
    shop.lead(at=paris(2026, 3, 10, 8, 0), status=S.INVALID_PHONE, phone="", departement="75")
    shop.lead(at=paris(2026, 2, 8, 23, 30), crm=shop.zr7, departement="75")  # the day before
    return shop


@pytest.fixture
def boss(client):
    client.force_login(UserFactory(username="boss", is_superuser=True))
    return client


def table(response) -> dict[str, dict[str, int]]:
    context = response.context
    return {
        row["label"]: {
            product: n for product, n in zip(context["products"], row["counts"], strict=True) if n
        }
        for row in context["rows"]
    }


def test_default_period_is_the_last_30_paris_days_of_valid_leads(boss, month):
    response = boss.get(URL)

    assert response.status_code == 200
    assert table(response) == {
        "13 – Bouches-du-Rhône": {"PAC": 1, "PV": 2},
        "69 – Rhône": {"ITE": 1},
        "75 – Paris": {"PV": 3},
        "inconnu": {"PV": 1},
    }
    assert response.context["counts"].total == 8
    assert response.context["product_totals"] == [1, 1, 6]  # ITE, PAC, PV
    bars = response.context["bars"]
    assert [(bar.label, bar.value) for bar in bars] == [
        ("13 – Bouches-du-Rhône", 3),
        ("75 – Paris", 3),
        ("69 – Rhône", 1),
        ("inconnu", 1),
    ]
    assert bars[0].percent == 100 and bars[2].percent == pytest.approx(100 / 3)
    page = response.content.decode()
    assert 'value="2026-02-09"' in page and 'value="2026-03-10"' in page


def test_period_filter_takes_both_days_whole(boss, month):
    response = boss.get(URL, {"date_from": "2026-02-08", "date_to": "2026-02-09"})

    assert table(response) == {"75 – Paris": {"PV": 1}, "69 – Rhône": {"ITE": 1}}


def test_crm_filter_as_target_or_origin(boss, month):
    as_target = boss.get(URL, {"crm": month.mdl.pk})
    as_origin = boss.get(URL, {"crm": month.mdl.pk, "crm_role": "origin"})
    zr7_origin = boss.get(URL, {"crm": month.zr7.pk, "crm_role": "origin"})

    assert table(as_target) == {"13 – Bouches-du-Rhône": {"PV": 2}, "69 – Rhône": {"ITE": 1}}
    assert table(as_origin) == {"13 – Bouches-du-Rhône": {"PV": 2}}
    assert table(zr7_origin) == {
        "13 – Bouches-du-Rhône": {"PAC": 1},
        "69 – Rhône": {"ITE": 1},
        "75 – Paris": {"PV": 3},
        "inconnu": {"PV": 1},
    }


def test_source_and_scope_filters(boss, month):
    partner = boss.get(URL, {"source": "partner"})
    everything = boss.get(URL, {"scope": "all"})
    delivered = boss.get(URL, {"scope": "delivered"})

    assert table(partner) == {"13 – Bouches-du-Rhône": {"PAC": 1}}
    assert table(everything)["75 – Paris"] == {"PV": 4}
    assert "13 – Bouches-du-Rhône" in table(delivered)
    assert table(delivered)["13 – Bouches-du-Rhône"] == {"PV": 2}


def test_an_inverted_period_is_an_error_not_a_table(boss, month):
    inverted = {"date_from": "2026-03-10", "date_to": "2026-03-01"}
    response = boss.get(URL, inverted)

    assert response.status_code == 200
    assert "rows" not in response.context
    assert "La date de fin précède la date de début." in response.content.decode()
    assert boss.get(CSV_URL, inverted).status_code == 400


def test_csv_export_streams_the_same_filtered_rows(boss, month):
    response = boss.get(CSV_URL, {"crm": month.zr7.pk})

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="leads-departements-20260209-20260310.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows == [
        ["département", "nom du département", "produit", "source", "leads"],
        ["", "", "PV", "public", "1"],
        ["13", "Bouches-du-Rhône", "PAC", "partner", "1"],
        ["75", "Paris", "PV", "public", "3"],
    ]


def test_page_links_the_export_with_the_same_filters(boss, month):
    page = boss.get(URL, {"source": "import"}).content.decode()

    assert f'href="{CSV_URL}?source=import"' in page


def test_staff_with_view_lead_only_is_allowed(client, month):
    clerk = UserFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="view_lead"))
    client.force_login(clerk)

    page = client.get(URL)
    index = client.get(reverse("admin:index")).content.decode()

    assert page.status_code == 200
    assert client.get(CSV_URL).status_code == 200
    # Linked from the admin menu (the app list) and from the dashboard, whose
    # other widgets need other permissions.
    assert index.count(f'href="{URL}"') >= 2
    assert 'id="widget-today"' in index
    for widget in ("queue", "verification", "budgets"):
        assert f'id="widget-{widget}"' not in index


def test_viewer_role_is_allowed(client, month):
    client.force_login(UserFactory(username="viewer", role="Viewer"))

    assert client.get(URL).status_code == 200


def test_staff_without_view_lead_is_refused(client, month):
    client.force_login(UserFactory(username="nobody"))

    assert client.get(URL).status_code == 403
    assert client.get(CSV_URL).status_code == 403
    assert f'href="{URL}"' not in client.get(reverse("admin:index")).content.decode()


def test_anonymous_goes_to_the_login(client):
    response = client.get(URL)

    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("leads", [1, 30])
def test_queries_do_not_grow_with_the_data(
    boss, shop, frozen, django_assert_max_num_queries, leads
):
    departments = ["01", "13", "33", "59", "75", "2A"]
    for n in range(leads):
        shop.lead(
            at=paris(2026, 3, 1, 12, 0),
            crm=[shop.zr7, shop.mdl][n % 2],
            product=["PV", "PAC", "ITE"][n % 3],
            departement=departments[n % len(departments)],
        )

    # Session, user, the CRM of the filter; the counts, department names,
    # products; the CRM choices of the form.
    with django_assert_max_num_queries(7):
        response = boss.get(URL, {"crm": shop.zr7.pk})
    # The export: session, user, the CRM of the filter, the counts, the names.
    with django_assert_max_num_queries(5):
        export = boss.get(CSV_URL)
        b"".join(export.streaming_content)
    assert response.context["counts"].total == (leads + 1) // 2
