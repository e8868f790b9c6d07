"""The menu and the department filter in a real browser (issue 15 §4): staff
find the sections in the order of their day, reach the billing page from the
sidebar, and filter the lead lists by department by typing "69"."""

import pytest

from leads.models import Lead
from leads.tests.factories import LeadFactory
from tests.test_admin_menu import DAILY

from .test_admin_dashboard_browser import log_in
from .test_brief_browser import assert_clean_console

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECTIONS = [*DAILY, "Système"]  # the order, then the technical sections
LEFT_BY_SEARCH = """select => Array.from(select.options)
    .filter(option => !option.hidden).map(option => option.text)"""


def rows(page) -> list[str]:
    return page.locator("#result_list tbody tr").all_inner_texts()


def test_menu_order_billing_link_and_department_filter(page, console, screenshot, live_server):
    LeadFactory(departement="69", nom="Rhodanien")
    LeadFactory(departement="13", nom="Marseillais")
    LeadFactory(departement="69", nom="Refusé", status=Lead.Status.ORPHAN, form=None)
    LeadFactory(departement="13", nom="Aussi refusé", status=Lead.Status.ORPHAN, form=None)
    log_in(page, live_server.url)

    assert page.locator("#content-main caption a.section").all_text_contents() == SECTIONS
    page.goto(f"{live_server.url}/admin/leads/lead/")
    assert page.locator("#nav-sidebar caption a.section").all_text_contents() == SECTIONS
    assert len(rows(page)) == 4  # the rejected ones too

    # Typing narrows the list to the matching departments; choosing one filters.
    search = page.locator("#changelist-filter .rdz-searchable-filter-search")
    choices = page.locator("#changelist-filter .rdz-searchable-filter-choices")
    search.fill("69")
    assert choices.evaluate(LEFT_BY_SEARCH) == ["69 Rhône"]
    search.fill("rhone")  # accents and case aside, any word of the name
    assert choices.evaluate(LEFT_BY_SEARCH) == ["13 Bouches-du-Rhône", "69 Rhône"]
    search.fill("69")
    screenshot("department-search")
    choices.select_option(label="69 Rhône")
    page.wait_for_url("**/admin/leads/lead/?departement=69")
    names = page.locator("#result_list tbody td.field-nom").all_inner_texts()
    assert sorted(names) == ["Refusé", "Rhodanien"]
    assert choices.evaluate("select => select.selectedOptions[0].text") == "69 Rhône"

    # The rejected leads' list has the same filter; Enter takes the first match.
    page.goto(f"{live_server.url}/admin/leads/rejectedlead/")
    assert len(rows(page)) == 2
    search.fill("69")
    search.press("Enter")
    page.wait_for_url("**/admin/leads/rejectedlead/?departement=69")
    assert len(rows(page)) == 1 and "Refusé" in rows(page)[0]

    # The billing page from the sidebar (before: only a button of the statements list).
    page.locator("#nav-sidebar a", has_text="Facturation inter-CRM").click()
    page.wait_for_url("**/admin/billing/statement/overview/")
    assert page.locator("h1").inner_text() == "Facturation inter-CRM"
    screenshot("billing-page")
    assert_clean_console(console)
