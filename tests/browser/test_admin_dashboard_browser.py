"""The dashboard and the departments page in a real browser (SPEC §8).

A visitor sends a lead through the demo form (the brief's scripts, delivered
to the sandbox buyer); staff then log in through the admin's login form and
read it on the dashboard, refreshed in place by its script, and on the
departments page, whose CSV they download."""

import pytest

from enersolar.tests.factories import UserFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from tracking.models import Form

from .test_brief_browser import assert_clean_console, eventually, fill_form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def a_lead_through_the_demo_form(page, site_url):
    page.goto(f"{site_url}/demo/form/PV-001/?utm_source=facebook")
    fill_form(page, code_postal="75011", phone="0612345678")
    page.click("#rdz-submit")
    page.wait_for_url(f"{site_url}/merci/")

    def delivered():
        assert Lead.objects.get().status == Lead.Status.SUCCESS

    eventually(delivered)


def log_in(page, site_url):
    UserFactory(username="boss", is_superuser=True, password="pass-word-123")
    page.goto(f"{site_url}/admin/")
    page.wait_for_url(f"{site_url}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pass-word-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{site_url}/admin/")


def test_dashboard_and_departments_pages(page, console, screenshot, demo_site):
    a_lead_through_the_demo_form(page, demo_site.url)
    # Partner leads (no form) elsewhere, held (no order): more bars on the
    # departments chart, and no change to the forms' conversion.
    pac = Form.objects.get(code="PAC-001")
    for departement in ("13", "13", "69"):
        LeadFactory(
            form=None,
            account=pac.account,
            product_type=pac.product_type,
            departement=departement,
            status=Lead.Status.PENDING_NO_ORDER,
            source=Lead.Source.PARTNER,
        )

    log_in(page, demo_site.url)

    for widget in ("#widget-queue", "#widget-today", "#widget-conversion", "#widget-week"):
        assert page.locator(widget).is_visible(), widget
    today = page.locator("#widget-today")
    assert "Leads du jour : 4" in today.locator("h2").inner_text()
    assert today.locator("tr.status-success td.num").last.inner_text() == "1"
    conversion = page.locator("#widget-conversion tbody tr").first.locator("td")
    assert conversion.all_inner_texts() == ["1", "1", "100,0 %", "0"]  # no direct lead
    assert page.locator("#chart-status .segment").count() >= 2
    assert page.locator("#chart-crm .legend li").count() == 2  # ZR7 Digital, not routed

    # The script swaps in fresh widgets from the admin URL (every 60 s, or now).
    LeadFactory(form=pac, departement="75", source=Lead.Source.PARTNER)
    page.locator("#dashboard").dispatch_event("dashboard:refresh")
    page.wait_for_function("document.getElementById('dashboard').dataset.refreshedAt")
    assert "Leads du jour : 5" in today.locator("h2").inner_text()
    screenshot("dashboard")

    page.click("#widget-week a[href='/admin/departments/']")
    page.wait_for_url(f"{demo_site.url}/admin/departments/")
    chart = page.locator("#departments-chart")
    assert chart.is_visible()
    labels = chart.locator(".bar-label").all_inner_texts()
    assert labels == ["13 – Bouches-du-Rhône", "75 – Paris", "69 – Rhône"]
    assert page.locator("#departments-table tfoot td.num").last.inner_text() == "5"
    # The menu links here too.
    assert page.locator(".app-menu-reports a[href='/admin/departments/']").first.is_visible()
    screenshot("departments")

    page.select_option("#id_source", "public")
    page.click("#departments-filters button[type=submit]")
    page.wait_for_url("**/admin/departments/?*source=public*")
    assert chart.locator(".bar-label").all_inner_texts() == ["75 – Paris"]
    with page.expect_download() as download:
        page.click("#departments-export")
    content = open(download.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
    assert content.splitlines()[0] == "département,nom du département,produit,source,leads"
    assert "75,Paris,PV,public,1" in content.splitlines()
    assert_clean_console(console)
