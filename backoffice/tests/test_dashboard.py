"""The admin index is the dashboard (SPEC §8): numbers, Paris days, roles, queries."""

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.selectors import lead_days
from backoffice.services import lead_day_counts_refresh
from billing.models import BudgetAlert
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import CRMHealth, Delivery, VerificationReport
from routing.selectors import cross_crm_condition
from routing.tests.factories import OrderFactory
from tracking.models import TrackingEvent

from .conftest import NOW, paris

pytestmark = pytest.mark.django_db
S = Lead.Status


@pytest.fixture
def day(shop, frozen):
    """Today (Paris): ZR7 3 delivered + 1 queued, MDL 2 delivered, 1 invalid phone
    (not routed), one at 00:30 Paris (still yesterday in UTC). Around it:
    yesterday 23:30 Paris, and 8 days ago (outside the 7 days)."""
    for hour in (8, 9, 9):
        shop.lead(at=paris(2026, 3, 10, hour, 0), crm=shop.zr7)
    shop.lead(at=paris(2026, 3, 10, 9, 30), status=S.QUEUED, crm=shop.zr7)
    shop.lead(at=paris(2026, 3, 10, 9, 40), crm=shop.mdl, product="ITE")
    shop.lead(at=paris(2026, 3, 10, 0, 30), crm=shop.mdl, product="ITE")
    shop.lead(at=paris(2026, 3, 10, 7, 0), status=S.INVALID_PHONE, phone="")
    shop.lead(at=paris(2026, 3, 9, 23, 30), crm=shop.zr7)
    shop.lead(at=paris(2026, 3, 2, 12, 0), crm=shop.zr7)
    for at in (paris(2026, 3, 10, 8, 0), paris(2026, 3, 10, 8, 5), paris(2026, 3, 7, 12, 0)):
        shop.form_start(at=at)
    return shop


def as_superuser(client):
    client.force_login(UserFactory(username="boss", is_superuser=True))
    return client


def page_text(response) -> str:
    """The rendered page as text: tags out, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(text).split())


def test_lead_days_count_paris_days_by_status_and_target_crm(day):
    week = lead_days(now=NOW)

    today = week.of_day(week.today)
    assert today == {
        ("success", "ZR7"): 3,
        ("queued", "ZR7"): 1,
        ("success", "MDL"): 2,
        ("invalid_phone", ""): 1,
    }
    assert week.total(week.today) == 7
    assert week.days[0] == week.today - timedelta(days=6)
    # 23:30 Paris on the 9th is the 9th, although 22:30 UTC; 8 days ago is out.
    assert week.total(week.days[-2]) == 1
    assert week.total() == 8
    assert week.crms == ["MDL", "ZR7", ""]


def test_dashboard_shows_todays_leads_per_status_and_crm(client, day):
    response = as_superuser(client).get(reverse("admin:index"))

    assert response.status_code == 200
    leads = response.context["dashboard"]["leads"]
    assert leads["crms"] == ["MDL", "ZR7", "non routé"]
    rows = {row["status"].value: (row["counts"], row["total"]) for row in leads["status_rows"]}
    assert rows == {
        "invalid_phone": ([0, 0, 1], 1),
        "queued": ([0, 1, 0], 1),
        "success": ([2, 3, 0], 5),
    }
    assert leads["crm_totals"] == [2, 4, 1]
    text = page_text(response)
    assert "Leads du jour : 7" in text
    assert "7 derniers jours : 8 leads" in text
    # The app list of the stock index is still there, under the dashboard.
    assert "File de livraison" in text


@pytest.mark.parametrize("stored", [False, True], ids=["live", "stored"])
def test_dashboard_counts_cross_crm_leads_by_the_one_definition(client, day, stored):
    """Routed to a CRM other than the lead's origin CRM (routing.selectors.
    cross_crm_condition), whatever the status: today MDL's two leads of the
    ZR7 account, an MDL account's lead routed to ZR7, not the one sent home."""
    day.lead(at=paris(2026, 3, 10, 9, 50), status=S.QUEUED, crm=day.zr7, origin=day.mdl)
    day.lead(at=paris(2026, 3, 10, 9, 51), crm=day.mdl, origin=day.mdl)
    day.lead(at=paris(2026, 3, 5, 12, 0), status=S.FAILED, crm=day.mdl)
    if stored:
        lead_day_counts_refresh(now=NOW)  # counted until 09:59:30: every lead stored

    response = as_superuser(client).get(reverse("admin:index"))

    leads = response.context["dashboard"]["leads"]
    today = Lead.objects.filter(created_at__gte=paris(2026, 3, 10), created_at__lt=NOW)
    week = Lead.objects.filter(created_at__gte=paris(2026, 3, 4), created_at__lt=NOW)
    assert leads["today_cross_crm"] == today.filter(cross_crm_condition("delivery__")).count() == 3
    assert leads["week_cross_crm"] == week.filter(cross_crm_condition("delivery__")).count() == 4
    text = page_text(response)
    assert "Leads du jour : 9 dont inter-CRM : 3" in text
    assert "7 derniers jours : 11 leads dont inter-CRM : 4" in text


def test_week_charts_stack_each_day_by_status_group_and_crm(client, day):
    leads = as_superuser(client).get(reverse("admin:index")).context["dashboard"]["leads"]

    status_chart, crm_chart = leads["status_chart"], leads["crm_chart"]
    assert [c.total for c in status_chart] == [0, 0, 0, 0, 0, 1, 7]
    today = status_chart[-1]
    assert today.percent == 100
    assert {s.series.key: s.value for s in today.segments} == {
        "delivered": 5,
        "in_progress": 1,
        "rejected": 1,
    }
    assert {s.series.key: s.value for s in crm_chart[-1].segments} == {
        "MDL": 2,
        "ZR7": 4,
        "": 1,
    }
    assert crm_chart[-2].percent == pytest.approx(100 / 7)


def test_conversion_counts_finished_starts_as_the_form_cards_do(client, day):
    """Finished = starts whose session left an accepted lead (≤ started);
    leads without a start of their form are direct, apart (tracking.selectors)."""
    start = TrackingEvent.objects.order_by("-created_at").first()  # today 08:05
    day.lead(at=paris(2026, 3, 10, 9, 45), session=start.session, crm=day.zr7)  # finished
    day.lead(at=paris(2026, 3, 10, 9, 46), session=start.session, status=S.DOUBLE_SUBMIT)
    day.lead(at=paris(2026, 3, 10, 9, 50), crm=day.zr7, source=Lead.Source.PARTNER)  # direct
    orphan = day.lead(at=paris(2026, 3, 10, 9, 52), status=S.ORPHAN)
    Lead.objects.filter(pk=orphan.pk).update(form=None)

    leads = as_superuser(client).get(reverse("admin:index")).context["dashboard"]["leads"]

    today, week = leads["conversion"]
    # Today: 2 starts, 1 finished; direct: the day's 6 accepted leads and the partner's.
    assert (today["started"], today["finished"], today["rate"]) == (2, 1, Decimal("50.0"))
    assert today["direct"] == 7
    assert (week["started"], week["finished"], week["rate"]) == (3, 1, Decimal("33.3"))
    assert week["direct"] == 8  # and yesterday's at 23:30


def test_conversion_without_form_start_has_no_rate(client, shop, frozen):
    shop.lead(at=paris(2026, 3, 10, 9, 0), crm=shop.zr7)

    leads = as_superuser(client).get(reverse("admin:index")).context["dashboard"]["leads"]

    assert leads["conversion"][0]["rate"] is None


def test_queue_widget_counts_states_oldest_item_and_circuits(client, day):
    oldest = Delivery.objects.get(lead__status=S.QUEUED)
    Delivery.objects.filter(pk=oldest.pk).update(routed_at=NOW - timedelta(hours=3))
    CRMHealth.objects.create(
        crm=day.mdl,
        state=CRMHealth.State.OPEN,
        consecutive_failures=4,
        outage_started_at=NOW - timedelta(minutes=20),
    )

    response = as_superuser(client).get(reverse("admin:index"))

    queue = response.context["dashboard"]["queue"]
    assert {row["state"]: row["n"] for row in queue["counts"]} == {
        "pending": 1,
        "processing": 0,
        "success": 7,
        "failed": 0,
        "exhausted": 0,
    }
    assert queue["total"] == 8
    assert queue["oldest_age"] == timedelta(hours=3)
    assert {
        crm.slug: getattr(crm, "health", None) and crm.health.state for crm in queue["circuits"]
    } == {
        "mdl": "open",
        "zr7": None,
    }
    text = page_text(response)
    assert "Élément le plus ancien en attente : 3 heures" in text
    assert "MDL : ouvert (indisponible) — 4 échecs, depuis le 10/03 09:40" in text


def test_last_verification_and_open_budget_alerts(client, shop, frozen):
    VerificationReport.objects.create(
        started_at=NOW - timedelta(days=2),
        window_start=NOW - timedelta(days=3),
        window_end=NOW - timedelta(days=2),
        total_leads=1,
    )
    last = VerificationReport.objects.create(
        started_at=NOW - timedelta(hours=7),
        window_start=NOW - timedelta(days=1, hours=7),
        window_end=NOW - timedelta(hours=7),
        total_leads=12345,
        still_failing=3,
        anomalies={"success_without_attempt": 2},
    )
    healthy, warning, depleted = (
        OrderFactory(
            crm=shop.zr7,
            unit_price=Decimal("5"),
            prepaid_total=Decimal("100"),
            prepaid_balance=Decimal(balance),
        )
        for balance in ("80", "15", "0")
    )
    BudgetAlert.objects.create(order=healthy, level=BudgetAlert.Level.HEALTHY)
    BudgetAlert.objects.create(order=warning, level=BudgetAlert.Level.WARNING)
    BudgetAlert.objects.create(order=depleted, level=BudgetAlert.Level.DEPLETED)

    response = as_superuser(client).get(reverse("admin:index"))

    dashboard = response.context["dashboard"]
    assert dashboard["verification"] == last
    assert [a.order for a in dashboard["budget_alerts"]] == [depleted, warning]
    text = page_text(response)
    assert "Leads vérifiés 12345" in text and "leads livrés sans envoi réussi 2" in text
    # Shown in Paris time: 03:00 Paris this morning.
    assert "10/03/2026 03:00" in text


def test_viewer_sees_queue_and_leads_but_no_billing(client, day):
    client.force_login(UserFactory(username="viewer", role="Viewer"))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert {"queue", "leads", "verification"} <= dashboard.keys()
    assert "budget_alerts" not in dashboard
    assert 'id="widget-budgets"' not in response.content.decode()
    assert "Leads du jour : 7" in page_text(response)


def test_staff_without_permissions_gets_no_widget(client, day):
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["dashboard"] == {}
    assert 'id="dashboard"' not in response.content.decode()


def test_widgets_fragment_is_what_the_page_refreshes(client, day):
    as_superuser(client)
    page = client.get(reverse("admin:index")).content.decode()
    fragment = client.get(reverse("admin:dashboard_widgets"))

    assert fragment.status_code == 200
    assert f'data-refresh-url="{reverse("admin:dashboard_widgets")}"' in page
    body = fragment.content.decode()
    assert 'id="widget-today"' in body and "<html" not in body
    assert "/static/backoffice/dashboard.js" in page


def test_fragment_needs_a_staff_login(client):
    response = client.get(reverse("admin:dashboard_widgets"))

    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("leads_per_day", [1, 25])
def test_dashboard_queries_do_not_grow_with_the_data(
    client, shop, frozen, django_assert_max_num_queries, leads_per_day
):
    for offset in range(7):
        for n in range(leads_per_day):
            status = [S.SUCCESS, S.QUEUED, S.FAILED, S.ORPHAN][n % 4]
            crm = None if status == S.ORPHAN else [shop.zr7, shop.mdl][n % 2]
            shop.lead(at=NOW - timedelta(days=offset, minutes=n), status=status, crm=crm)
            shop.form_start(at=NOW - timedelta(days=offset, minutes=n))
    for crm in (shop.zr7, shop.mdl):
        CRMHealth.objects.create(crm=crm)
        BudgetAlert.objects.create(
            order=OrderFactory(crm=crm, prepaid_total=Decimal("10")),
            level=BudgetAlert.Level.CRITICAL,
        )
    as_superuser(client)
    lead_day_counts_refresh()  # as beat does every minute

    # Session, user, the sidebar's admin log, and one query per number group:
    # queue (its stored totals included), circuits, leads, form starts,
    # verification, budget alerts, jobs, workers; plus the stored lead day
    # counts and form start day counts (issue 15: the leads and form starts
    # are then counted live only since); the conversion's finished starts and
    # direct leads, one query each.
    with django_assert_max_num_queries(15):
        response = client.get(reverse("admin:index"))
    assert response.context["dashboard"]["leads"]["week_total"] == 7 * leads_per_day
    with django_assert_max_num_queries(14):
        client.get(reverse("admin:dashboard_widgets"))


def test_admin_site_is_ours_with_every_app_registered_on_it():
    from django.contrib import admin

    from backoffice.sites import EnerSolarAdminSite

    assert isinstance(admin.site, EnerSolarAdminSite)
    assert Lead in admin.site._registry and Delivery in admin.site._registry


def test_an_expired_lead_counts_with_the_undelivered():
    from backoffice.dashboard import GROUP_OF_STATUS
    from leads.models import Lead

    assert GROUP_OF_STATUS[Lead.Status.EXPIRED] == "not_delivered"
